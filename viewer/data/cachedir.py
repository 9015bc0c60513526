"""The one place Tailboard may write: a cache directory outside the runs folder.

``VIEWER_CACHE_DIR`` names it; unset, ``$XDG_CACHE_HOME/tailboard`` (``~/.cache/tailboard``).
It holds the column cache (``columns/``) and small state files (``alerts/``), each keyed
by the runs folder they describe, so two viewers of two roots never share an entry.

A directory that cannot be created or written, or one that lies beneath the runs folder
(the viewer never writes there), means running without a cache: ``CacheDir.path`` is None
and ``CacheDir.note`` says why, for ``/healthz`` and the log.
"""
from __future__ import annotations

import hashlib
import os
import tempfile

OFF_WORDS = {"off", "none", "no", "0", "false"}


def default_location(environ=os.environ):
    """``$XDG_CACHE_HOME/tailboard``, else ``~/.cache/tailboard`` (the XDG base directory rule)."""
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tailboard")


def _beneath(path, root):
    path, root = os.path.realpath(path), os.path.realpath(root)
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class CacheDir:
    """The cache directory a viewer of ``root`` uses, or None with the reason."""

    def __init__(self, setting, root):
        self.root = os.path.realpath(root)
        self.key = hashlib.sha256(self.root.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        self.path, self.note = None, None
        if setting is not None and str(setting).strip().lower() in OFF_WORDS:
            self.note = "cache off (VIEWER_CACHE_DIR=off)"
            return
        where = os.path.abspath(os.path.expanduser(str(setting))) if setting else default_location()
        if _beneath(where, self.root):
            self.note = f"cache off: {where} is inside the runs folder, which is never written"
            return
        try:
            os.makedirs(where, mode=0o700, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=where, prefix=".probe-"):
                pass  # writable (a read-only mount or a full disk fails here)
        except OSError as e:
            self.note = f"cache off: {where} is not writable ({e.strerror or e})"
            return
        self.path = where

    def __bool__(self):
        return self.path is not None

    def sub(self, name):
        """``<cache>/<name>/<root key>``, created; None when there is no cache or it fails."""
        if self.path is None:
            return None
        where = os.path.join(self.path, name, self.key)
        try:
            os.makedirs(where, mode=0o700, exist_ok=True)
        except OSError as e:
            self.note = f"cache {name}/ off: {e.strerror or e}"
            return None
        return where

    def state(self):
        """What ``/healthz`` shows."""
        return {"dir": self.path, "note": self.note}
