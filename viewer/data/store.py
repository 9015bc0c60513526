"""RunStore: the one read API over every run under the root (TensorBoard's DataProvider idea).

It owns the runs found by discovery, refreshes them on demand (each refresh parses only the
bytes appended since the last), and answers in plain dicts and bytes; it knows nothing of HTTP.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

from . import paths as beneath  # not ``paths``: apply() takes a list of that name
from .budget import SeriesBudget
from .colcache import ColumnCache
from .coarse import FirstAnswers
from .cooperative import turn
from .discovery import walk
from .errors import NotFound
from .formats import fastcsv
from .run import Run, found_signature
from .runfiles import RunFiles
from .seriesquery import AXES, MAX_POINTS, XSCALES, AxisOrder, Selection, SeriesQueries  # noqa: F401 - re-exported


@dataclass
class Changes:
    """What one pass over the disk found: run ids changed, added, removed; file paths touched."""

    changed: list = field(default_factory=list)
    added: list = field(default_factory=list)
    removed: list = field(default_factory=list)
    files: set = field(default_factory=set)

    def __bool__(self):
        return bool(self.changed or self.added or self.removed or self.files)


class RunStore(SeriesQueries, RunFiles):
    def __init__(self, root, stale_after=300.0, clock=time.time, memory_mb=512, kept=lambda: (), cache=None,
                 coarse_mb=4.0, cache_mb=4096):
        """``memory_mb``: the budget of parsed series (VIEWER_MEMORY_MB); ``kept``: a callable
        giving the folders of the runs open pages follow, never evicted; ``cache``: the
        ``CacheDir`` whose ``columns/`` holds parsed columns (None: no column cache); ``coarse_mb``:
        metric files this big get a coarse first answer and a background parse (VIEWER_COARSE_MB, 0: never);
        ``cache_mb``: the column cache's cap on disk (VIEWER_CACHE_MB, 0: none)."""
        # an evicted run's AxisOrders go with it: each holds its Series, whose points would stay
        self.budget = SeriesBudget(float(memory_mb) * 2**20, kept, evicted=self._forget_orders)
        self.columns = ColumnCache(cache, cache_mb) if cache else None
        if self.columns is not None:
            self.columns.warm()
        self.first = FirstAnswers(self, coarse_mb)  # big runs: a sample at once, parsed in the background
        self.root = os.path.realpath(root)
        beneath.confine(self.root)  # readers' opens under it stay beneath it (see paths.py)
        self.stale_after = stale_after
        self.clock = clock
        self.lock = threading.RLock()
        self._runs: dict[str, Run] = {}
        self._by_path: dict[str, Run] = {}
        self._statuses: dict[str, str] = {}
        self._reported: dict[str, int] = {}  # run id -> version last put into a Changes
        self._scan_state = {"phase": "pending", "total": 0, "done": 0}
        self.on_progress = None  # called with scan_state as the first scan advances
        self._orders: dict[tuple, AxisOrder] = {}  # (run id, metric, axis) -> what its x does
        self.scans = 0
        self.tapping = False  # alert rules read appended points (``tap_points``)
        self.folders = None  # polling.FolderTree when polling: the walks tell it what they list

    @property
    def scan_state(self):
        return self._scan_state

    @scan_state.setter
    def scan_state(self, state):
        self._scan_state = state
        if self.on_progress is not None:
            self.on_progress(dict(state))

    # -- discovery -------------------------------------------------------------------------

    def scan(self):
        """Walk the whole root: add new runs, update changed ones, drop vanished ones, load them.

        Progress is in ``scan_state`` during the first scan: ``discovering`` (done = folders
        walked), ``loading`` (done/total = runs parsed), then ``done``.
        """
        first = self.scans == 0
        if first:
            self.scan_state = {"phase": "discovering", "total": 0, "done": 0}

        def progress(n):
            if first:
                self.scan_state = {"phase": "discovering", "total": 0, "done": n}

        changes = self._discover(self.root, progress)
        with self.lock:
            runs = list(self._runs.values())
        for i, run in enumerate(runs):
            if first:
                self.scan_state = {"phase": "loading", "total": len(runs), "done": i}
            self._refresh_into(run, changes)
            turn()  # under gevent: the other connections get a turn when one is due
        if first and any(self.first.big(run) for run in runs):
            fastcsv.preload()  # its first chart will want polars: import it now, off the hub
        self.scan_state = {"phase": "done", "total": len(runs), "done": len(runs)}
        self.scans += 1
        return changes

    def _discover(self, top, progress=None):
        """Walk ``top``: register new runs, update changed ones, drop the vanished under it."""
        changes = Changes()
        seen = set()
        if self.folders is not None:
            self.folders.forget(top)  # the walk tells it again what is there now
        for found in walk(self.root, progress, start=top, folders=self.folders):
            seen.add(found.id)
            with self.lock:
                run = self._runs.get(found.id)
                if run is None:
                    run = Run(found, self.root, self.stale_after, self.clock, self.columns)
                    self._runs[found.id] = run
                    self._by_path[run.path] = run
                    if self.tapping:  # a run new while watching: its first rows are news too
                        run.tap(fresh=self.scans > 0)
                    changes.added.append(found.id)
                elif run.signature != found_signature(found):
                    run.update(found)
                else:
                    run.mark_discovered()
        prefix = top.rstrip(os.sep) + os.sep
        with self.lock:
            for rid, run in list(self._runs.items()):
                inside = top == self.root or run.path == top or run.path.startswith(prefix)
                if inside and rid not in seen:
                    self._drop(run, changes)
        return changes

    def _forget_orders(self, run):
        for key in [k for k in list(self._orders) if k[0] == run.id]:
            self._orders.pop(key, None)

    def _drop(self, run, changes):
        self.budget.forget(run.id)
        self._reported.pop(run.id, None)
        self._forget_orders(run)
        self._runs.pop(run.id, None)
        self._by_path.pop(run.path, None)
        changes.removed.append(run.id)

    def _refresh_into(self, run, changes, force=False):
        try:
            run.refresh(force)
        except OSError:
            pass  # vanished between listing and reading: the next pass drops it
        version, paths = run.take_report()
        if run.parsed and self._reported.get(run.id) != version:
            self.budget.trim()  # appends grew a parsed run
        if self._reported.get(run.id) != version:
            self._reported[run.id] = version
            if run.id not in changes.added and run.id not in changes.changed:
                changes.changed.append(run.id)
        changes.files.update(paths)

    def poll(self, full=False):
        """Stat every run's files, refresh what moved; ``full`` also walks. (The watcher's
        polling passes use ``polling.Poller``, whose cost follows what changed.)"""
        if full:
            return self.scan()
        changes = Changes()
        with self.lock:
            runs = list(self._runs.values())
        for run in runs:
            if not os.path.isdir(run.path):
                with self.lock:
                    self._drop(run, changes)
                continue
            self._refresh_into(run, changes)
            turn()  # under gevent: the other connections get a turn when one is due
        return changes

    def apply(self, paths):
        """Changes caused by these changed paths (from inotify): refresh only the runs they touch.

        A path inside a known run refreshes that run; a path under no run makes its nearest
        existing folder be walked, which finds new runs and drops vanished ones.
        """
        changes = Changes()
        changes.files.update(paths)
        to_walk, to_refresh = set(), {}
        for p in paths:
            run = self.run_for_path(p)
            if run is None:
                d = p
                while d != self.root and not os.path.isdir(d):
                    d = os.path.dirname(d)
                if beneath.contains(self.root, d):
                    to_walk.add(d)
            elif not os.path.isdir(run.path):
                to_walk.add(os.path.dirname(run.path))
            else:
                to_refresh[run.id] = run
        for d in sorted(to_walk):
            if any(beneath.strictly_inside(w, d) for w in to_walk):
                continue  # an ancestor is walked anyway
            sub = self._discover(d)
            changes.added += sub.added
            changes.removed += sub.removed
            for rid in sub.added:
                to_refresh[rid] = self._runs.get(rid)
        for run in to_refresh.values():
            if run is not None and run.id not in changes.removed:
                # force: inotify says it changed; a stamp taken after a racing write would hide it
                self._refresh_into(run, changes, force=True)
        return changes

    def tap_points(self):
        """From now on every run hands its appended points to ``Run.take_points`` (alert rules)."""
        with self.lock:
            self.tapping = True
            runs = list(self._runs.values())
        for run in runs:
            run.tap(fresh=False)

    def status_changes(self):
        """Ids of runs whose status moved since the last call (time alone makes a run stale)."""
        moved = []
        with self.lock:
            runs = list(self._runs.values())
        for run in runs:
            st = run.status()
            if self._statuses.get(run.id, st) != st:
                moved.append(run.id)
            self._statuses[run.id] = st
        return moved

    def run_for_path(self, path):
        """The run owning ``path``: the run whose folder is its nearest ancestor, or that lists it."""
        with self.lock:
            d = path
            while d.startswith(self.root):
                run = self._by_path.get(d)
                if run is not None:
                    return run
                if d == self.root:
                    break
                d = os.path.dirname(d)
            for run in self._runs.values():
                if path in run.logs:
                    return run
        return None

    # -- runs ------------------------------------------------------------------------------

    def runs(self):
        with self.lock:
            return sorted(self._runs.values(), key=lambda r: -(r.updated_at() or 0))

    def count(self):
        return len(self._runs)

    def has(self, run_id):
        return run_id in self._runs

    def get(self, run_id, refresh=True) -> Run:
        run = self._runs.get(run_id)
        if run is None:
            raise NotFound(f"unknown run: {run_id}")
        if refresh or not run.loaded:
            run.refresh()
        return run

    def parsed(self, run_id) -> Run:
        """The run, refreshed, with its series parsed (series on demand), under the budget."""
        run = self.get(run_id)
        run.load()
        self.budget.use(run)
        return run

    def follow(self, run_ids):
        """A page now follows these runs (its event stream names them): their series are parsed
        and their live cursors start here, so the next change sends only what it appended.
        A big run not parsed yet is parsed in the background (its page draws a sample first)."""
        for rid in run_ids:
            run = self._runs.get(rid)
            if run is None:
                continue
            if self.first.parsing(rid) or (not run.parsed and self.first.big(run)):
                self.first.parse_later(run)  # primes the cursors when done
                continue
            self.parse_and_prime(run)

    def parse_and_prime(self, run):
        """Parse ``run`` and start its live cursors at what it holds now."""
        with run.lock:
            run.load()
            if not run.cursors:
                run.cursors = {name: (s, len(s)) for name, s in run.series().items()}
        self.budget.use(run)

    def key_metrics(self, runs, k=4):
        """The k metric names most worth a column in the runs table."""
        counts = {}
        for r in runs:
            for name in r.summary():
                counts[name] = counts.get(name, 0) + 1
        return rank_metrics(counts, k)



def rank_metrics(counts, k=4):
    """The k names of ``counts`` ({metric: runs logging it}) most worth a runs-table column:
    the most logged first, losses and accuracies, then validation ones, ahead of the rest."""
    def rank(name):
        low = name.lower()
        bonus = 2 if ("loss" in low or "acc" in low) else 0
        bonus += 1 if low.startswith(("val", "eval", "test")) else 0
        return (-(counts[name] * 4 + bonus), name)

    skip = {"epoch", "step", "lr", "learning_rate"}
    return [n for n in sorted((n for n in counts if counts[n] > 0), key=rank) if n.lower() not in skip][:k]
