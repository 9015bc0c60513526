"""HTTP layer: one blueprint per module; routes parse the request and ask the store."""
