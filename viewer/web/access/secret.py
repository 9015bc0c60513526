"""Secrets compared in constant time, on bytes, and the auth cookie's value (never the token)."""
from __future__ import annotations

import hashlib
import hmac

COOKIE = "tailboard_auth"


def as_bytes(value):
    """``value`` as bytes for ``hmac``: compare_digest refuses non-ASCII str; headers arrive as
    latin-1 str, forms as utf-8."""
    if isinstance(value, bytes):
        return value
    return (value or "").encode("utf-8", "surrogateescape")


def same_secret(given, expected):
    """Constant-time equality of two secrets, whatever characters ``given`` holds."""
    return hmac.compare_digest(as_bytes(given), as_bytes(expected))


def cookie_value(token):
    """The auth cookie for ``token``: an HMAC under a fixed label, the same in every worker and
    after every restart; a new token logs every browser out."""
    return hmac.new(as_bytes(token), b"tailboard-cookie-v2", hashlib.sha256).hexdigest()
