"""Keeps the column cache from growing without end (``VIEWER_CACHE_MB``).

A pass walks every entry of ``<cache>/columns/`` (every runs folder's: they share the disk)
and removes:

- an entry whose file is gone or is another file now (device, inode), when its run folder
  is still there or nobody used the entry for ``FORGET_AFTER`` (a runs folder on an NFS
  mount that is down for an hour keeps its entries);
- data files the manifest does not name (an older generation) and stray temporary files;
- a folder without a readable manifest;
- then, while the total is over the cap, the entries used least recently (a restore or a
  write touches the manifest).

Nothing younger than ``GRACE`` is removed (a worker may be writing it), nor an entry whose
lock a writer holds. Only regular files and the entry folders are removed, and no symlink is
followed. A process that still maps a removed entry keeps its pages (the file lives until it
lets go) and writes a new entry at its next save. One process of the host prunes at a time
(``flock`` on ``.prune``), at most every ``EVERY`` seconds: the first pass a minute after
start, so that a start is never slowed. The last pass's figures are in ``.prune`` (JSON),
which ``/healthz`` shows.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import stat
import threading
import time

from .cooperative import turn
from .paths import open_regular

EVERY = 3600.0        # seconds between passes (host-wide)
FIRST_AFTER = 60.0    # seconds after start before the first
GRACE = 600.0         # nothing modified this recently is removed
FORGET_AFTER = 7 * 86400.0  # an entry of a file not found, its folder not found either

log = logging.getLogger(__name__)


class Pruner:
    """One process's part: a pass in a background thread when due, never two at once."""

    def __init__(self, cap_bytes):
        self.cap = cap_bytes
        self.started = time.monotonic()
        self.running = False

    def when_due(self, columns):
        if self.running or time.monotonic() - self.started < FIRST_AFTER:
            return
        self.running = True

        def run():
            try:
                maybe_prune(columns, self.cap)
            except Exception:  # noqa: BLE001 - a pruning bug must not reach the watcher
                log.exception("tailboard: pruning the column cache failed")
            finally:
                self.running = False

        threading.Thread(target=run, name="tailboard-cache-prune", daemon=True).start()


def _files(d):
    """{name: lstat} of the regular files in entry folder ``d`` (others are left alone)."""
    out = {}
    with os.scandir(d) as it:
        for e in it:
            st = e.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode):
                out[e.name] = st
    return out


def read_manifest(d):
    """Entry folder ``d``'s ``manifest.json`` as a dict (any version), or None."""
    try:
        with open_regular(os.path.join(d, "manifest.json"), within=d) as f:
            m = json.loads(f.read(16 << 20))
        return m if isinstance(m, dict) else None
    except (OSError, ValueError):
        return None


def _gone(m, now, used):
    """True when the file entry ``m`` describes is no longer that file."""
    path = m.get("path")
    if not isinstance(path, str):
        return True
    try:
        st = os.stat(path)
        return (st.st_dev, st.st_ino) != (m.get("dev"), m.get("ino"))
    except OSError:
        return os.path.isdir(os.path.dirname(path)) or now - used > FORGET_AFTER


def _remove(d, names):
    """Remove files ``names`` of ``d``; the folder too when it is left empty. Bytes freed."""
    freed = 0
    for name in sorted(names, key=lambda n: n == "lock"):  # the lock last: a writer meanwhile finds it held
        try:
            st = os.lstat(os.path.join(d, name))
            os.unlink(os.path.join(d, name))
            freed += st.st_blocks * 512
        except OSError:
            pass
    try:
        os.rmdir(d)
    except OSError:
        pass  # not empty (a writer came back): it stays
    return freed


def _locked(d):
    """An exclusive hold on entry ``d``'s writer lock (an fd), or None when a writer has it."""
    try:
        fd = os.open(os.path.join(d, "lock"), os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return -1  # no writer ever locked it
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except OSError:
        os.close(fd)
        return None


def prune(columns, cap_bytes, now=None):
    """One pass over ``columns`` (``<cache>/columns``); returns its figures."""
    now = time.time() if now is None else now
    removed = freed = 0
    kept = []  # (last used, bytes, folder, its files)
    for root_key in _subdirs(columns):
        for d in _subdirs(os.path.join(columns, root_key)):
            turn()
            try:
                files = _files(d)
            except OSError:
                continue
            newest = max((st.st_mtime for st in files.values()), default=0.0)
            if now - newest < GRACE:
                kept.append((now, sum(st.st_blocks * 512 for st in files.values()), d, files))
                continue
            fd = _locked(d)
            if fd is None:
                continue
            try:
                m = read_manifest(d) if "manifest.json" in files else None
                used = files["manifest.json"].st_mtime if m is not None else newest
                if m is None or _gone(m, now, used):
                    freed += _remove(d, list(files))
                    removed += 1
                    continue
                named = {"manifest.json", "lock"} | {str(e.get("file")) for e in m.get("series", ())
                                                     if isinstance(e, dict)}
                stray = [n for n in files if n not in named]
                if stray:
                    freed += _remove(d, stray)
                    files = {n: st for n, st in files.items() if n in named}
                kept.append((used, sum(st.st_blocks * 512 for st in files.values()), d, files))
            finally:
                if fd >= 0:
                    os.close(fd)
    total = sum(k[1] for k in kept)
    over = 0  # entries removed for the cap
    if cap_bytes > 0 and total > cap_bytes:
        for used, size, d, files in sorted(kept, key=lambda k: k[0]):
            if total <= cap_bytes or now - used < GRACE:
                break
            fd = _locked(d)
            if fd is None:
                continue
            try:
                freed += _remove(d, list(files))
            finally:
                if fd >= 0:
                    os.close(fd)
            total -= size
            removed += 1
            over += 1
    return {"at": round(now, 1), "removed": removed, "freed_mb": round(freed / 2**20, 1),
            "entries": len(kept) - over, "mb": round(total / 2**20, 1),
            "cap_mb": round(cap_bytes / 2**20, 1) if cap_bytes > 0 else None}


def _subdirs(d):
    try:
        with os.scandir(d) as it:
            return [e.path for e in it if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def maybe_prune(columns, cap_bytes, now=None):
    """Prune when due host-wide; the figures of the pass, or None when none ran."""
    now = time.time() if now is None else now
    mark = os.path.join(columns, ".prune")
    try:
        fd = os.open(mark, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return None  # another process prunes now
        st = os.fstat(fd)
        if st.st_size and now - st.st_mtime < EVERY:
            return None
        figures = prune(columns, cap_bytes, now)
        data = json.dumps(figures).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        return figures
    finally:
        os.close(fd)


def last_pass(columns):
    """The figures of the host's last pass (``.prune``), or None."""
    try:
        with open_regular(os.path.join(columns, ".prune"), within=columns) as f:
            m = json.loads(f.read(4096) or b"null")
        return m if isinstance(m, dict) else None
    except (OSError, ValueError):
        return None
