"""Paths that open pages look at, so a polling watcher stats them too (live reload on NFS).

Split from ``watcher.py``: the watcher asks ``Interest.changed()`` once per polling pass; the
live-reload socket and folder listings register what they show with ``watching([...])``.
"""
from __future__ import annotations

import os
import threading


class Interest:
    """Paths that open pages are looking at: a report and its files, a listed folder.

    inotify sees every write under the root anyway; polling only stats the files runs are
    known to own. While a page shows a file or folder outside those, the polling pass stats
    it too (a folder: its entries, one level), so live reload and live listings work on NFS.
    Reference-counted: two pages on one report share one entry. Under inotify registering
    costs nothing: paths are only stamped while ``polling()`` says the watcher polls.
    """

    MAX_ENTRIES = 10000  # a folder listed past this many entries is stamped by its mtime only

    def __init__(self, polling=lambda: True):
        self.polling = polling
        self.lock = threading.Lock()
        self.refs = {}
        self.stamps = {}

    def add(self, path):
        with self.lock:
            self.refs[path] = self.refs.get(path, 0) + 1
            if path not in self.stamps and self.polling():  # stamped now: a write right after counts
                self.stamps[path] = _stamp(path, self.MAX_ENTRIES)

    def discard(self, path):
        with self.lock:
            n = self.refs.get(path, 0) - 1
            if n > 0:
                self.refs[path] = n
            else:
                self.refs.pop(path, None)
                self.stamps.pop(path, None)

    def watching(self, paths):
        """``with interest.watching([...]):`` for the life of a connection."""
        return _Watching(self, paths)

    def changed(self):
        """Paths that moved since the last call (for a folder: its changed entries)."""
        with self.lock:
            paths = list(self.refs)
        out = []
        for path in paths:
            new = _stamp(path, self.MAX_ENTRIES)
            with self.lock:
                if path not in self.refs:
                    continue
                known = path in self.stamps  # not when registered before polling began
                old, self.stamps[path] = self.stamps.get(path), new
            if not known or old == new:
                continue
            if isinstance(new, dict) and isinstance(old, dict):
                out += [os.path.join(path, n) for n in set(old) | set(new) if old.get(n) != new.get(n)]
            else:
                out.append(path)
        return out


class _Watching:
    def __init__(self, interest, paths):
        self.interest, self.paths = interest, [p for p in paths if p]

    def __enter__(self):
        for p in self.paths:
            self.interest.add(p)
        return self

    def __exit__(self, *exc):
        for p in self.paths:
            self.interest.discard(p)


def _stamp(path, max_entries):
    """A file's (mtime, size, inode); a folder's {name: (mtime, size)}; None when missing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not os.path.isdir(path):
        return (st.st_mtime_ns, st.st_size, st.st_ino)
    out = {}
    try:
        with os.scandir(path) as it:
            for i, e in enumerate(it):
                if i >= max_entries:
                    return (st.st_mtime_ns, -1, st.st_ino)
                try:
                    est = e.stat()
                    out[e.name] = (est.st_mtime_ns, est.st_size)
                except OSError:
                    out[e.name] = None
    except OSError:
        return None
    return out
