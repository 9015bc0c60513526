"""Report capabilities: reports run sandboxed (an opaque origin, no cookie) and are served under
``/files/~<capability>/``, a capability bound to the report's folder and valid 12 hours. The
live-reload socket of a report takes the same capability."""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import time

from ...data.errors import ViewerError
from ...views.current import viewer
from .secret import as_bytes, same_secret

CAPABILITY_TTL = 12 * 3600  # seconds a report link (``/files/~<capability>/``) stays valid, at least
CAPABILITY_STEP = 600       # its expiry is rounded up to this: one page's link (and ETag) for 10 minutes


def signing_key():
    """What capabilities are signed with: the token, else the instance secret (``Viewer.secret``)."""
    v = viewer()
    return as_bytes(v.config.get("VIEWER_TOKEN") or v.secret)


def _folder_of(relpath):
    parts = [p for p in relpath.split("/") if p not in ("", ".")]
    return "/".join(parts)


def _mac(key, folder, expires):
    msg = b"tailboard-report-v1\0" + str(expires).encode() + b"\0" + folder.encode("utf-8", "surrogateescape")
    return hmac.new(key, msg, hashlib.sha256).hexdigest()[:32]


def make_capability(key, folder, now=None):
    """``<expiry, hex>.<mac>.<folder, base64url>``: opens the files under ``folder`` (relative to
    the root; ``""`` is the whole root) for 12 hours (up to 10 minutes more). The MAC is HMAC-SHA256(key, folder, expiry)."""
    folder = _folder_of(folder)
    # rounded up: the same link for 10 minutes, so a report's HTML (which carries one for its
    # live reload) keeps its bytes and ETag between requests, and conditional requests work
    expires = -(-int((now or time.time()) + CAPABILITY_TTL) // CAPABILITY_STEP) * CAPABILITY_STEP
    encoded = base64.urlsafe_b64encode(folder.encode("utf-8", "surrogateescape")).decode().rstrip("=")
    return f"{expires:x}.{_mac(as_bytes(key), folder, expires)}.{encoded}"


def mint_capability(folder, now=None):
    """A capability for ``folder``, signed with this viewer's key (``signing_key``)."""
    return make_capability(signing_key(), folder, now)


_CAP = re.compile(r"([0-9a-f]{1,12})\.([0-9a-f]{32})\.([A-Za-z0-9_-]*)")


def read_capability(cap, now=None):
    """``(folder, expired)`` for a capability this viewer signed, else None."""
    m = _CAP.fullmatch(cap or "")
    if not m:
        return None
    expires = int(m.group(1), 16)
    try:
        raw = m.group(3)
        folder = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("utf-8", "surrogateescape")
    except (ValueError, TypeError):
        return None
    if folder != _folder_of(folder) or not same_secret(m.group(2), _mac(signing_key(), folder, expires)):
        return None
    return folder, expires <= (now or time.time())


def _under(rel, folder):
    return not folder or rel == folder or rel.startswith(folder + "/")


def capability_refusal(cap, relpath, now=None):
    """None when ``cap`` opens ``relpath``; else ``(message, status)``.

    The path must lie under the capability's folder both as written (no ``..``) and once
    symlinks are resolved (a link inside the folder to another run's files does not count).
    """
    found = read_capability(cap, now)
    if found is None:
        return "no such file", 404
    folder, expired = found
    if expired:
        return ("this report link has expired (report links last 12 hours): open the report "
                "again from the viewer"), 403
    return folder_refusal(folder, relpath)


def folder_refusal(folder, relpath):
    """None when ``relpath`` lies under ``folder`` as written (no ``..``) and once symlinks are
    resolved (a link inside the folder to another run's files does not count); else
    ``(message, status)``."""
    outside = (f"this report link opens only the files under {folder or '.'}/; "
               "open other files from the viewer")
    if ".." in relpath.split("/") or not _under(_folder_of(relpath), folder):
        return outside, 403
    store = viewer().store
    try:
        real_folder = store.resolve(folder)
        real = store.resolve(relpath)
    except ViewerError:
        return "no such file", 404
    if not (real == real_folder or real.startswith(real_folder.rstrip(os.sep) + os.sep)):
        return outside, 403
    return None
