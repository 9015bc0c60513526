"""A polling pass that costs what changed, not the tree (NFS, Lustre: no inotify event there).

Two rules, as stable-pretraining's scanner has them:

- A folder's mtime moves when an entry is added to it, removed or renamed. A pass stats the
  folders the walks saw (one stat each; run folders, whose own stamp covers them, in turn) and
  re-lists only those whose mtime moved: a new run deep in the tree moves its parent, so does a
  deleted one; nothing else is listed.
- Only the files runs append to can change (metrics, logs, sidecars: a run's stamp). A pass
  stats the files of the *hot* runs (written within the stale window, ``VIEWER_STALE_AFTER``,
  or followed by an open page); the quiet ones (finished, stale) are stat-ed in turn, a slice
  per pass, each within ``QUIET_EVERY`` seconds.

So an idle tree of 2,000 finished runs costs a few hundred stats a pass instead of a walk
(bench/bench_polling.py). The full walk every ``VIEWER_RESCAN`` stays as the safety net.
"""
from __future__ import annotations

import os
import threading
import time

from .cooperative import turn
from .discovery import MAX_DEPTH, depth_of, entered, inspect_dir, list_dir
from .formats.base import stat_or_none

QUIET_EVERY = 10.0  # seconds within which every quiet run and folder is looked at (the old walk's period)
HOT_FOR = 3600.0    # seconds a folder stays hot after its mtime moved (today's date folder, say)
RECENT = 2.0        # seconds: a folder modified this recently is listed again (an add within its mtime tick)


class FolderTree:
    """The folders the walks listed: their mtime then (None: list again next pass) and the
    subfolders a walk entered. Told by ``discovery.walk`` (``folders=``)."""

    def __init__(self, clock=time.time):
        self.clock = clock
        self.lock = threading.Lock()
        self.mtimes = {}     # folder -> st_mtime_ns when listed, or None
        self.changed = {}    # folder -> wall time its mtime was last seen (hot for HOT_FOR after)
        self.children = {}   # folder -> set of subfolder names entered

    def saw(self, path, st, subdirs):
        with self.lock:
            self.mtimes[path] = _mtime(st, self.clock())
            self.changed[path] = st.st_mtime if st is not None else self.clock()
            self.children[path] = set(subdirs)

    def forget(self, top):
        """Drop ``top`` and every folder beneath it (a walk of ``top`` tells them again)."""
        prefix = top.rstrip(os.sep) + os.sep
        with self.lock:
            for p in [p for p in self.mtimes if p == top or p.startswith(prefix)]:
                self.mtimes.pop(p, None)
                self.changed.pop(p, None)
                self.children.pop(p, None)

    def __bool__(self):
        return bool(self.mtimes)


class Poller:
    """Polling passes over ``store`` every ``interval`` seconds (the watcher's loop calls
    ``poll()``); sets ``store.folders`` so that its walks tell the tree."""

    def __init__(self, store, interval=1.0, clock=time.time):
        self.store = store
        self.clock = clock
        self.slices = max(1, round(QUIET_EVERY / max(interval, 0.01)))
        self.passes = 0
        self.tree = store.folders = FolderTree(clock)

    def poll(self):
        """One pass: the moved folders re-listed, the hot runs' files and a slice of the others
        stat-ed; returns the store's Changes. With no tree yet, a full walk (it makes one)."""
        if not self.tree:
            return self.store.scan()
        self.passes += 1
        k = self.passes % self.slices
        changes = self._folders(k)
        self._runs(k, changes)
        return changes

    # -- folders ---------------------------------------------------------------------------

    def _folders(self, k):
        from .store import Changes

        changes = Changes()
        now = self.clock()
        with self.tree.lock:
            folders = list(self.tree.mtimes.items())
            changed = dict(self.tree.changed)
        with self.store.lock:
            runs = set(self.store._by_path)
        moved = []
        for i, (path, mtime) in enumerate(folders):
            # new runs appear in folders that are not runs: those are stat-ed every pass (one
            # stat each); a run's own folder is in its stamp, its nested folders rarely move
            hot = path not in runs or mtime is None or now - changed.get(path, 0) < HOT_FOR
            if not hot and i % self.slices != k:
                continue
            st = stat_or_none(path)
            if st is None or st.st_mtime_ns != mtime:
                moved.append((path, st))
            if i % 256 == 255:
                turn()
        for path, st in moved:
            self._relist(path, st, changes)
        return changes

    def _relist(self, path, st, changes):
        """A folder whose mtime moved: walk its new subfolders, drop what left, and walk it when
        it became a run; the rest of its subtree is not listed."""
        store, tree = self.store, self.tree
        with tree.lock:
            known = tree.children.get(path, set())
        if st is None:
            self._merge(store._discover(path), changes)  # gone: drops every run beneath it
            tree.forget(path)
            return
        try:
            files, subdirs = list_dir(store.root, path)
        except OSError:
            return  # unreadable now: the next pass or the rescan looks again
        found = inspect_dir(store.root, path, files, subdirs)
        if found is not None and not store.has(found.id):
            self._merge(store._discover(path), changes)  # a folder became a run: walk it whole
            return
        inside = set(entered(found, subdirs)) if depth_of(store.root, path) < MAX_DEPTH else set()
        for name in sorted(inside - known) + sorted(known - inside):
            self._merge(store._discover(os.path.join(path, name)), changes)
        with tree.lock:
            tree.mtimes[path] = _mtime(st, self.clock())
            tree.changed[path] = self.clock()
            tree.children[path] = inside

    def _merge(self, sub, changes):
        changes.added += sub.added
        changes.removed += sub.removed
        changes.changed += [r for r in sub.changed if r not in changes.changed]
        changes.files |= sub.files

    # -- runs ------------------------------------------------------------------------------

    def _runs(self, k, changes):
        store = self.store
        now = self.clock()
        try:
            followed = set(store.budget.kept())
        except Exception:  # noqa: BLE001 - a page registry in flux: no run is forced hot
            followed = set()
        with store.lock:
            runs = list(store._runs.values())
        for i, run in enumerate(runs):
            if run.id in changes.added or run.id in changes.removed:
                continue  # just walked
            updated = run.updated_at()
            hot = (updated is None or now - updated < store.stale_after or run.path in followed
                   or not run.loaded)
            if not hot and i % self.slices != k:
                continue
            if not os.path.isdir(run.path):
                with store.lock:
                    store._drop(run, changes)
                continue
            store._refresh_into(run, changes)
            turn()  # under gevent: the other connections get a turn when one is due


def _mtime(st, now):
    """What a folder's mtime is remembered as: None (list again) when missing or so recent
    that an entry added within the same tick would not move it."""
    if st is None or now - st.st_mtime < RECENT:
        return None
    return st.st_mtime_ns
