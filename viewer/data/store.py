"""RunStore: the one read API over every run under the root (TensorBoard's DataProvider idea).

It owns the runs found by discovery, refreshes them on demand (each refresh parses only the
bytes appended since the last), and answers in plain dicts and bytes; it knows nothing of HTTP.
"""
from __future__ import annotations

import os
import stat
import threading
import time
from dataclasses import dataclass, field
from typing import NamedTuple

from . import paths as beneath  # not ``paths``: apply() takes a list of that name
from .budget import SeriesBudget
from .colcache import ColumnCache
from .coarse import FirstAnswers
from .cooperative import each, turn
from .discovery import walk
from .downsample import (PURGED_AXES, has_nan, int_if_whole, non_decreasing, restart_kept, select, select_kept,
                         select_sorted, series_answer)
from .errors import BadRequest, NotFound
from .formats import fastcsv
from .formats.media import MEDIA_DIRS
from .run import Run, found_signature
from .tailing import iter_window, open_tail, read_tail
from .xjoin import restart_xs, series_by

AXES = ("step", "epoch", "time")
XSCALES = ("linear", "log")
MAX_POINTS = 100_000  # one answer must not hold the server for seconds


class Selection(NamedTuple):
    """The points of one series a metrics answer shows."""

    indices: object         # indices into the series, in x order
    purged: int | None      # points a restart replaced (step or epoch axis), None when none


@dataclass(slots=True)
class AxisOrder:
    """What is known of one series' x values on one axis, kept between requests so that each
    look only reads the points appended since the last."""

    series: object              # the Series these facts are about (a rebuilt one starts over)
    checked: int = 0            # points looked at so far
    ascending: bool = True      # x never goes back: a zoom is two bisections
    has_nan: bool = False       # some x is NaN (a sorted cut would be wrong)
    kept: object = None         # on a purged axis: indices of the points a restart left...
    kept_of: int = -1           # ...computed when the series had this many points


@dataclass
class Changes:
    """What one pass over the disk found: run ids changed, added, removed; file paths touched."""

    changed: list = field(default_factory=list)
    added: list = field(default_factory=list)
    removed: list = field(default_factory=list)
    files: set = field(default_factory=set)

    def __bool__(self):
        return bool(self.changed or self.added or self.removed or self.files)


class RunStore:
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

    # -- metrics ---------------------------------------------------------------------------

    def metrics(self, run_id, names=None, points=2000, x="step", start=None, end=None, xscale="linear",
                coarse_ok=False, xmetric=None):
        """Downsampled series of one run (see the HTTP contract for the shape).

        On the step and epoch axes a restarted run is shown as its last segment (TensorBoard's
        purge): ``purged`` then counts the points dropped and ``restarts`` lists the x values
        where it resumed. Only unsorted series pay for it. ``xscale="log"``: buckets even in log
        x, points with x <= 0 left out. ``coarse_ok``: a big run not parsed yet may be answered
        at once from a sample (``"coarse": true``) while it is parsed in the background; a zoom
        (start or end) and an ``xmetric`` answer are always full resolution. ``xmetric``: x is
        that series' value at the same step (viewer/data/xjoin.py).
        """
        if x not in AXES:
            raise BadRequest(f"x must be one of {', '.join(AXES)}, not {x!r}")
        if xscale not in XSCALES:
            raise BadRequest(f"xscale must be one of {', '.join(XSCALES)}, not {xscale!r}")
        if not 1 <= points <= MAX_POINTS:
            raise BadRequest(f"points must be between 1 and {MAX_POINTS} (metrics.csv has every point)")
        if start is not None and end is not None and start > end:
            raise BadRequest(f"start ({start:g}) must not be after end ({end:g})")
        if coarse_ok and start is None and end is None and not xmetric:
            sampled = self.first.answer(run_id, names, points, x, xscale)
            if sampled is not None:
                return sampled
        run = self.parsed(run_id)
        if xmetric:
            with run.lock:
                out = series_by(run.series(), names, points, xmetric, start, end)
            for s in out.values():
                s["x"] = [int_if_whole(v) for v in each(s["x"], 4096)]
            return {"run": run.id, "x": "step", "xmetric": xmetric, "series": out}
        out = {}
        with run.lock:
            series = run.series()
            for name in names or series:
                s = series.get(name)
                if s is None:
                    continue
                chosen = self._select(run.id, name, s, x, start, end)
                out[name] = series_answer(s.axis(x), s.y, chosen.indices, points, xscale, chosen.purged)
                if chosen.purged is not None:
                    out[name]["restarts"] = restart_xs(s.axis(x))
        return {"run": run.id, "x": x, "series": out}

    def _select(self, rid, name, s, axis, start, end):
        """The Selection of points to show. A sorted axis is cut with two bisections (a zoom
        into 1,000,000 points costs microseconds); a step or epoch axis that goes back is
        purged of what the restart replaced."""
        xs = s.axis(axis)
        order = self._order(rid, name, s, axis)
        if not order.ascending:
            if axis not in PURGED_AXES:
                return Selection(select(xs, s.y, start, end), None)
            if order.kept is None or order.kept_of != len(s):
                order.kept, order.kept_of = restart_kept(xs), len(s)
            kept = order.kept
            return Selection(select_kept(xs, kept, start, end), (len(xs) - len(kept)) or None)
        if order.has_nan or (start is None and end is None):
            return Selection(select(xs, s.y, start, end), None)
        return Selection(select_sorted(xs, start, end), None)

    def _order(self, rid, name, s, axis):
        """The cached facts about a series' x on ``axis``: does it go back, does it hold a NaN.
        Only the points appended since the last call are looked at."""
        key = (rid, name, axis)
        order = self._orders.get(key)
        n = len(s)
        if order is None or order.series is not s or order.checked > n:
            order = self._orders[key] = AxisOrder(s)
        if order.checked < n:
            xs = s.axis(axis)
            begin = max(order.checked - 1, 0)
            if order.ascending:
                order.ascending = non_decreasing(xs, begin)
            order.has_nan = order.has_nan or has_nan(xs, begin)
            order.checked = n
        return order

    def metrics_columns(self, run_id):
        """Every point at full resolution: [(metric, step, epoch, time, value arrays)].

        The arrays are copied under the run's lock (a memcpy), so a slow download never
        holds up the next refresh.
        """
        run = self.parsed(run_id)
        with run.lock:
            return [(name, s.step[:], s.epoch[:], s.time[:], s.y[:]) for name, s in run.series().items()]

    # -- logs and media --------------------------------------------------------------------

    def streams(self, run_id):
        return self.get(run_id).streams()

    def stream(self, run_id, stream_id):
        for st in self.streams(run_id):
            if st["id"] == stream_id:
                return st
        raise NotFound(f"unknown log stream {stream_id!r} of run {run_id}")

    def log_tail(self, run_id, stream_id, nbytes):
        """(data, start offset, file size) of a stream's last ``nbytes`` from a line boundary."""
        st = self.stream(run_id, stream_id)
        try:
            return read_tail(st["path"], nbytes, self.root)
        except FileNotFoundError:
            raise NotFound(f"log stream {stream_id!r} vanished") from None
        except OSError as e:
            raise NotFound(f"log stream {stream_id!r} unreadable: {e.strerror}") from None

    def log_window(self, run_id, stream_id, nbytes):
        """``(start, size, chunks)``: a stream's last ``nbytes`` (at most ``MAX_LOG_WINDOW``) from a
        line boundary, as an iterator of byte chunks that yields to other greenlets between them
        (the file stays open until the iterator ends or is closed)."""
        st = self.stream(run_id, stream_id)
        try:
            f, start, size = open_tail(st["path"], nbytes, self.root)
        except FileNotFoundError:
            raise NotFound(f"log stream {stream_id!r} vanished") from None
        except OSError as e:
            raise NotFound(f"log stream {stream_id!r} unreadable: {e.strerror}") from None
        return start, size, iter_window(f, start, size)

    def media(self, run_id):
        """Media items with ``path`` relative to the root."""
        run = self.get(run_id, refresh=False)
        rel = os.path.relpath(run.path, self.root)
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        # an item inside a file (``blob``: an image in an event file) also names its run: its URL is the run's API
        return [{**m, "path": prefix + m["path"], **({"run": run.id} if "blob" in m else {})}
                for m in each(run.media(), 4096)]

    def media_blob(self, run_id, index):
        """``(bytes, mimetype)`` of media item ``index`` when it lies inside a file (an image in a
        TensorBoard event file), not as a file of its own; NotFound otherwise."""
        run = self.get(run_id, refresh=False)
        with run.lock:
            items = run.media()
            src = run.media_src
            if not 0 <= index < len(items) or "blob" not in items[index] or not hasattr(src, "blob"):
                raise NotFound("no such media item")
            try:
                found = src.blob(items[index])
            except (OSError, ValueError, IndexError):
                found = None
        if found is None:
            raise NotFound("media item no longer readable")
        return found

    def media_folders(self, run_id, limit=64):
        """A run's folder, its media folders and their tag subfolders: what polling must stat
        while the run's page is open, to see new images of a run without a media index."""
        if not self.has(run_id):
            return []
        top = self.get(run_id, refresh=False).path
        out = [top]
        for sub in MEDIA_DIRS:
            d = os.path.join(top, sub)
            try:  # listed beneath the root: a media folder swapped for a link out is not
                entries = beneath.scandir(self.root, d)
            except OSError:
                continue
            out.append(d)
            out += [os.path.join(d, name) for name, st in entries if stat.S_ISDIR(st.st_mode)]
        return out[:limit]

    def reports(self, run_id):
        run = self.get(run_id, refresh=False)
        rel = os.path.relpath(run.path, self.root)
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        return [prefix + r for r in run.reports()]

    # -- files -----------------------------------------------------------------------------

    def resolve(self, relpath):
        """Absolute real path of a regular file or a folder under the root; NotFound otherwise.

        Whatever the path says (``..``, backslashes, NUL, symlinks leading out), the answer is
        inside the root or NotFound. FIFOs, sockets and devices are refused too.
        """
        if "\x00" in relpath or "\\" in relpath:
            raise NotFound("no such file")
        parts = [p for p in relpath.split("/") if p not in ("", ".")]
        if any(p == ".." for p in parts):
            raise NotFound("no such file")
        try:  # resolved beneath the root's fd, component by component (see paths.py)
            path, st = beneath.resolve(self.root, os.path.join(*parts) if parts else "")
        except (OSError, ValueError):
            raise NotFound("no such file") from None
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            raise NotFound("no such file")
        return path


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
