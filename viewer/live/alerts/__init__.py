"""Alerts from what runs already write (issue 16): rules evaluated on the live path.

``rules`` reads the built-in and user rules (``VIEWER_ALERTS``), ``engine`` judges each batch
of changes, ``state`` remembers firings and conditions (memory + the cache directory),
``webhook`` POSTs firings (``VIEWER_ALERT_WEBHOOK``) from its own thread.
"""
from .engine import AlertEngine
from .webhook import Webhook

__all__ = ["AlertEngine", "Webhook"]
