"""One run: its sources (kept between refreshes, so reads stay incremental), metadata and status."""
from __future__ import annotations

import os
import sys
import threading
import time

from . import paths
from .columns import mapped_bytes, release_pages
from .discovery import rediscover
from .formats.base import SourceError, safe_text, stat_or_none
from .points import PointTap
from .runfacts import FAILURE, STATUSES, RunFacts, status_counts  # noqa: F401 - re-exported


class Run(RunFacts):
    """A run directory. ``refresh()`` parses only what was appended since the last call."""

    changes = 0  # bumped with every run's version (a lost race still moves it)
    asked_at = 0.0          # monotonic time of the last ask for its series (the memory budget's)
    released_after = None   # the ask after which its mapped pages were last released

    def __init__(self, found, root, stale_after=300.0, clock=time.time, columns=None):
        self.id = found.id
        self.columns = columns    # the column cache (colcache.ColumnCache), or None
        self.path = found.path
        self.root = root
        self.stale_after = stale_after
        self.clock = clock
        self.lock = threading.RLock()
        self.sources = []
        self.meta = {}
        self.error = None
        self.loaded = False
        self.parsed = False       # series parsed (a page or the API asked); else the listing's glance
        self._source_errors = []  # what reading the metric files said at the last refresh
        self._meta_errors = []    # ... and reading the metadata
        self.version = 0          # bumped whenever anything visible changed
        self.stamp = None         # file stamps at the last refresh
        self._failure_cache = {}
        self.changed_paths = ()   # files whose stamp moved at the last refresh
        self.unreported = set()   # ... and at every refresh since the store last reported the run
        self.cursors = {}         # series name -> (Series object, points already published)
        self._updated = None      # (version, updated_at): the runs list sorts by it on every request
        self.points = None        # PointTap when alert rules read this run's appended points
        self.update(found)

    def update(self, found):
        """Take a new discovery result, keeping the sources (and their offsets) already open."""
        part = found.merged()
        with self.lock:
            old = {s.path: s for s in self.sources}
            self.sources = [old.get(m.path, m) for m in part.metrics]
            self.format = part.format
            self.formats = [p.format for p in found.parts]
            self.hooks = [p.hooks for p in found.parts]  # each format's run-wide rules, most specific first
            self.meta_fns = part.meta
            self.media_src = part.media
            self.base_logs = part.logs
            self.logs = list(part.logs)
            self.signature = found_signature(found)
            if self.points is not None:  # a metrics file new to a tapped run: all its rows are news
                self.points.attach(self.sources, fresh=True)
            self.mark_discovered()

    def tap(self, fresh):
        """Hand the points appended from now on to ``take_points`` (alert rules); ``fresh``:
        the run appeared while watching, so what its files hold already is news too."""
        with self.lock:
            if self.points is None:
                self.points = PointTap(new_run=fresh)
                self.points.attach(self.sources, fresh)

    def take_points(self):
        """{metric: [(step or None, value), ...]}: the points read since the last call (NaN and
        infinities included), without parsing the run (see ``data/points.py``)."""
        with self.lock:
            return self.points.take(self.sources) if self.points is not None else {}

    def mark_discovered(self):
        """The scan just listed this folder: the next refresh need not list it again."""
        self._just_discovered = True

    # -- reading ---------------------------------------------------------------------------

    def refresh(self, force=False):
        """Re-read what changed on disk; returns True when something visible changed.

        A few ``stat`` calls decide first: when no file of the run (nor its folder) changed
        since the last refresh, nothing is opened. ``changed_paths`` then lists the files
        whose size or mtime moved.
        """
        with self.lock:
            quick = self._stamp()
            if self.loaded and not force and quick == self.stamp:
                self._just_discovered = False
                self.changed_paths = ()
                return False
            # stamp before reading: a write racing this refresh then shows as a change next time
            stamp = quick
            if self._just_discovered:
                self._just_discovered = False  # the scan that made us listed the folder already
            elif _folder_entry(quick, self.path) != _folder_entry(self.stamp, self.path):
                # only a folder whose mtime moved can hold a new log or metrics file
                found = rediscover(self.root, self.path)
                if found is not None and found_signature(found) != self.signature:
                    self.update(found)
                    stamp = self._stamp()  # the new files join the stamp
            errors, changed = self._read_sources()
            self._source_errors = errors
            errors = list(errors)
            meta = {}
            for fn in reversed(self.meta_fns):  # most specific reader applied last, so it wins
                try:
                    for k, v in fn(self.path).items():
                        if isinstance(v, dict) and isinstance(meta.get(k), dict):
                            meta[k] = {**meta[k], **v}
                        elif v not in (None, "", [], {}):
                            meta[k] = v
                except SourceError as e:
                    errors.append(str(e))
                except OSError as e:
                    errors.append(f"{e.filename and safe_text(os.path.basename(e.filename))}: {e.strerror}")
                except Exception as e:  # noqa: BLE001 - as above, for metadata
                    errors.append(f"metadata unreadable ({type(e).__name__}: {e})")
            self._meta_errors = errors[len(self._source_errors):]
            self.logs = list(self.base_logs)
            for hooks in self.hooks:
                self.logs += [p for p in hooks.logs(self.path, self.root) if p not in self.logs]
            error = "; ".join(errors) or None
            old = dict(((p, (t, z)) for p, t, z in (self.stamp or ())))
            self.changed_paths = tuple(p for p, t, z in stamp if old.get(p) != (t, z))
            self.unreported.update(self.changed_paths)
            if changed or meta != self.meta or error != self.error or stamp != self.stamp or not self.loaded:
                self.meta, self.error, self.stamp = meta, error, stamp
                self.version += 1
                Run.changes += 1  # any run changed: lists built from every run are stale
                changed = True
            self.loaded = True
            return changed

    def _glancing(self, src):
        """True when the listing reads ``src`` through its glance (names and last values from
        the file's tail) rather than its parsed series."""
        glance = getattr(src, "glance", None)
        return not self.parsed and glance is not None and glance.usable

    def _read_sources(self):
        """Catch up with every metric file: its glance while the series are not parsed, else
        the series themselves. Returns (errors, changed)."""
        errors, changed = [], False
        for src in self.sources:
            if self._escapes(src.path):  # swapped for a symlink since discovery listed it
                errors.append(f"{safe_text(os.path.basename(src.path))}: a symlink leading out of the root, not read")
                continue
            try:
                glancing = self._glancing(src)
                # a tapped glance reads on while the series are parsed too: the rules' points
                if glancing or (self.points is not None and getattr(src, "glance", None) is not None
                                and src.glance.tap is not None and src.glance.usable):
                    changed |= bool(src.glance.refresh()) and glancing
                    if glancing and src.glance.usable:
                        continue
                if self.columns is not None:  # a first read maps what a parse wrote before
                    changed |= self.columns.restore(src)
                changed |= bool(src.refresh())
                if self.columns is not None:
                    self.columns.save(src)
            except SourceError as e:
                errors.append(str(e))
            except OSError as e:
                errors.append(f"{safe_text(os.path.basename(src.path))}: {e.strerror or e}")
            except Exception as e:  # noqa: BLE001 - a reader bug must cost this file, not every page
                errors.append(f"{safe_text(os.path.basename(src.path))}: unreadable ({type(e).__name__}: {e})")
            if not self._glancing(src) and getattr(src, "problem", None):
                errors.append(src.problem)
        return errors, changed

    def load(self):
        """Parse the series (a page or the API asks for them); True when this call parsed.

        Until then the run is listed from its glance, and ``take_delta`` has nothing to say
        (no chart has its points); the first delta after this one starts from point 0.
        """
        with self.lock:
            if self.parsed:
                return False
            self.parsed = True
            errors, _changed = self._read_sources()
            self._source_errors = errors
            error = "; ".join(errors + self._meta_errors) or None
            if error != self.error:  # a full read can find what a tail cannot (ragged rows)
                self.error = error
                self.version += 1
                Run.changes += 1
            return True

    def unload(self):
        """Drop the parsed series (the memory budget needs the room); the listing goes back
        to the glance, which catches up from the offset it kept."""
        with self.lock:
            if not self.parsed:
                return
            self.parsed = False
            for src in self.sources:
                if getattr(src, "glance", None) is None:
                    continue  # no cheaper view of this file: its series are the listing's
                try:
                    src.glance.refresh()
                except (OSError, SourceError):
                    pass  # the next refresh reports it
                if src.glance.usable and hasattr(src, "drop"):
                    src.drop()

    def series_bytes(self, kind="all"):
        """Bytes held by the parsed series, four float64 arrays a point: ``anon`` as allocated in
        this process (an array grown by appends holds some room ahead), ``mapped`` the points
        that are views of the column cache's pages (shared by every worker, but resident in
        each one's RSS), ``all`` both: what the memory budget weighs."""
        if not self.parsed:
            return 0
        sizes = {"anon": (sys.getsizeof,), "mapped": (mapped_bytes,), "all": (sys.getsizeof, mapped_bytes)}[kind]
        return sum(size(a) for src in self.sources for s in src.table.series.values()
                   for a in (s.step, s.epoch, s.time, s.y) for size in sizes)

    def release_pages(self):
        """Give the resident pages of the series mapped from the column cache back to the page
        cache (see :func:`columns.release_pages`); the run stays parsed. Returns the maps released."""
        if not self.parsed:
            return 0
        return release_pages([a for src in self.sources for s in list(src.table.series.values())
                              for a in (s.step, s.epoch, s.time, s.y)])

    def take_report(self):
        """(version, paths changed since the last call): what the store has yet to announce.

        Any refresh (a page asking for metrics as well as the watcher) may be the one that reads
        new data; announcing by version rather than by "my refresh found something" means a
        change read by a request is still published.
        """
        with self.lock:
            paths, self.unreported = self.unreported, set()
            return self.version, paths

    def _escapes(self, path):
        """True when ``path`` is (or passes through) a symlink leading outside the root. Only
        for the message: every open is confined beneath the root anyway (``paths``)."""
        return paths.escapes(path, self.root)

    def _files(self):
        names = [self.path] + [s.path for s in self.sources] + list(self.logs)
        watched = dict.fromkeys(n for hooks in self.hooks for n in hooks.watched)  # in order, once each
        names += [os.path.join(self.path, n) for n in watched]
        return names

    def _stamp(self):
        out = []
        for p in self._files():
            st = stat_or_none(p)
            if st:
                out.append((p, st.st_mtime, st.st_size))
        return tuple(out)

    def series(self):
        """All metric series by name; a name two sources share is prefixed by the second's file.
        Parses them first when only the glance was read (see ``load``)."""
        with self.lock:
            if not self.parsed:
                self.load()
            out = {}
            for src in self.sources:
                for name, s in src.table.series.items():
                    key = name if name not in out else f"{os.path.basename(src.path)}:{name}"
                    out[key] = s
            return out

    def last_values(self):
        """{metric name: last finite value or None}, named as ``series()`` names them, without
        parsing: from the glance of each file whose series are not parsed."""
        with self.lock:
            out = {}
            for src in self.sources:
                if self._glancing(src):
                    items = ((name, src.glance.last.get(name)) for name in src.glance.names)
                else:
                    items = ((name, s.last()) for name, s in src.table.series.items())
                for name, v in items:
                    key = name if name not in out else f"{os.path.basename(src.path)}:{name}"
                    out[key] = v
            return out

    def take_delta(self, limit=5000):
        """Points appended to each series since the last call, for live charts.

        Returns ``{"series": {name: {"from", "step", "epoch", "time", "y"}}, "reset": bool}``;
        ``from`` is the index of the first point, so a client that already has it can skip
        it. A series rebuilt from scratch (a rewritten file) or more than ``limit`` new points
        give ``reset``: the client re-fetches instead.
        """
        with self.lock:
            if not self.parsed:  # nobody charts it; a chart of an evicted run starts over
                reset, self.cursors = bool(self.cursors), {}
                return {"series": {}, "reset": reset}
            out, reset, total = {}, False, 0
            series = self.series()
            for name, s in series.items():
                prev = self.cursors.get(name)
                start = prev[1] if prev and prev[0] is s else 0
                if prev and prev[0] is not s:
                    reset = True
                n = len(s)
                if n > start:
                    total += n - start
                    out[name] = {"from": start, "step": s.step[start:].tolist(),
                                 "epoch": s.epoch[start:].tolist(), "time": s.time[start:].tolist(),
                                 "y": s.y[start:].tolist()}
                self.cursors[name] = (s, n)
            if any(name not in series for name in self.cursors):
                reset = True
                self.cursors = {k: v for k, v in self.cursors.items() if k in series}
            if reset or total > limit:
                return {"series": {}, "reset": True}
            return {"series": out, "reset": False}


def _folder_entry(stamp, path):
    """The (path, mtime, size) entry of the run folder itself in a stamp, or None."""
    return next((e for e in stamp or () if e[0] == path), None)


def found_signature(found):
    part = found.merged()
    return (part.format, tuple(m.path for m in part.metrics), tuple(part.logs), bool(part.media))
