"""What the alert rules remember: firings, which (rule, run) pairs are in their condition, and
the divergence trackers. Kept in memory and, when the cache directory is usable, in one small
JSON file there (``<cache>/alerts/<root key>/state.json``), written atomically at most every
``SAVE_EVERY`` seconds. A restart therefore neither fires again what already fired nor loses
what fired while nobody looked. Nothing is written under the runs folder.
"""
from __future__ import annotations

import collections
import json
import logging
import os
import tempfile
import threading
import time

from ...data.numbers import nonfinite_to_null

log = logging.getLogger(__name__)

KEEP = 1000          # firings kept (the newest)
SAVE_EVERY = 1.0     # seconds: at most one write a second, however many rows arrive
VERSION = 1


class AlertState:
    """Firings (newest last), conditions ``{rule id: {run id: [members]}}``, trackers
    ``{run id: {metric: [n, ema, best]}}`` and streaks ``{rule id: {run id: {metric: n}}}``
    (consecutive points meeting a threshold, so "for N consecutive points" counts on across a
    restart). Thread-safe: the watcher's loop writes, requests read."""

    def __init__(self, folder=None, clock=time.time):
        self.path = os.path.join(folder, "state.json") if folder else None
        self.clock = clock
        self.lock = threading.RLock()
        self.firings = collections.deque(maxlen=KEEP)
        self.per_run = collections.Counter()  # run id -> firings kept (the badges)
        self.conditions = {}
        self.trackers = {}
        self.streaks = {}
        self.next_id = 1
        self.restored = False  # a previous life's state was read: transitions since then fire
        self.note = None       # why the file could not be read or written
        self.dirty = False
        self.saved_at = 0.0
        self._load()

    # -- firings ---------------------------------------------------------------------------

    def add(self, firing):
        """Record a firing (a dict); gives it its id, monotonic across restarts (even without a
        state file: ids start from the clock in milliseconds, so a browser's last seen stays valid)."""
        with self.lock:
            fid = max(self.next_id, int(self.clock() * 1000))
            self.next_id = fid + 1
            firing = {"id": fid, **firing}
            if len(self.firings) == self.firings.maxlen:
                self._uncount(self.firings[0]["run"])
            self.firings.append(firing)
            self.per_run[firing["run"]] += 1
            self.dirty = True
            return firing

    def recent(self, limit=KEEP, run=None, after=None):
        """Firings newest first, optionally of one run or after an id."""
        with self.lock:
            items = list(self.firings)
        out = []
        for f in reversed(items):
            if after is not None and f["id"] <= after:
                break
            if run is None or f["run"] == run:
                out.append(f)
                if len(out) >= limit:
                    break
        return out

    def count(self, run_id):
        return self.per_run.get(run_id, 0)

    def _uncount(self, run_id):
        self.per_run[run_id] -= 1
        if self.per_run[run_id] <= 0:
            del self.per_run[run_id]

    # -- conditions ------------------------------------------------------------------------

    def members(self, rule_id, run_id):
        """The metrics (or ``"status"``) of a (rule, run) now in their condition: a set to mutate,
        then hand back with ``set_members``."""
        return set(self.conditions.get(rule_id, {}).get(run_id, ()))

    def set_members(self, rule_id, run_id, members):
        with self.lock:
            runs = self.conditions.setdefault(rule_id, {})
            old = runs.get(run_id)
            if members:
                new = sorted(members)
                if old != new:
                    runs[run_id], self.dirty = new, True
            elif old is not None:
                del runs[run_id]
                self.dirty = True

    def forget_run(self, run_id):
        with self.lock:
            for runs in list(self.conditions.values()) + list(self.streaks.values()):
                runs.pop(run_id, None)
            self.trackers.pop(run_id, None)
            self.dirty = True

    def keep_rules(self, rule_ids):
        """Drop the conditions of rules no longer configured (a rule removed then added again
        starts afresh)."""
        with self.lock:
            for table in (self.conditions, self.streaks):
                for rid in list(table):
                    if rid not in rule_ids:
                        del table[rid]
                        self.dirty = True

    def streak(self, rule_id, run_id, metric):
        """Consecutive points of a run's metric that met a threshold rule, so far."""
        return self.streaks.get(rule_id, {}).get(run_id, {}).get(metric, 0)

    def set_streak(self, rule_id, run_id, metric, n):
        with self.lock:
            if n == self.streak(rule_id, run_id, metric):
                return
            if n:
                self.streaks.setdefault(rule_id, {}).setdefault(run_id, {})[metric] = n
            else:
                runs = self.streaks.get(rule_id, {})
                runs.get(run_id, {}).pop(metric, None)
                if not runs.get(run_id, True):
                    del runs[run_id]
            self.dirty = True

    def tracker(self, run_id, metric):
        """The divergence tracker ``[n, ema, best]`` of a run's metric (a list to mutate)."""
        runs = self.trackers.get(run_id)
        if runs is None:
            runs = self.trackers[run_id] = {}
        t = runs.get(metric)
        if t is None:
            t = runs[metric] = [0, 0.0, float("inf")]
        self.dirty = True
        return t

    # -- the file --------------------------------------------------------------------------

    def _load(self):
        if not self.path or not os.path.exists(self.path):
            return
        try:
            with open(self.path, encoding="utf-8") as f:
                doc = json.load(f)
            if doc.get("version") != VERSION:
                raise ValueError(f"version {doc.get('version')!r}")
            self.firings.extend(doc.get("firings", [])[-KEEP:])
            self.per_run.update(f["run"] for f in self.firings)
            self.conditions = {k: dict(v) for k, v in doc.get("conditions", {}).items()}
            self.trackers = {r: {m: [t[0], t[1], float("inf") if t[2] is None else t[2]] for m, t in ms.items()}
                             for r, ms in doc.get("trackers", {}).items()}
            self.streaks = {rule: {r: {m: int(n) for m, n in ms.items()} for r, ms in runs.items()}
                            for rule, runs in doc.get("streaks", {}).items()}
            self.next_id = int(doc.get("next_id", 1))
            self.restored = True
        except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
            self.note = f"alert state {self.path} unreadable ({e}); starting afresh"
            log.warning("tailboard: %s", self.note)

    def save(self, force=False):
        """Write the state file if something changed (at most every SAVE_EVERY s unless ``force``)."""
        if not self.path or not self.dirty:
            return False
        now = time.monotonic()
        if not force and now - self.saved_at < SAVE_EVERY:
            return False
        with self.lock:
            doc = {"version": VERSION, "next_id": self.next_id, "firings": list(self.firings),
                   "conditions": self.conditions, "streaks": self.streaks,
                   "trackers": {r: {m: list(t) for m, t in ms.items()} for r, ms in self.trackers.items()}}
            text = json.dumps(nonfinite_to_null(doc), separators=(",", ":"))
            self.dirty, self.saved_at = False, now
        folder = os.path.dirname(self.path)
        try:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".state-", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, self.path)
            self.note = None
        except OSError as e:
            self.note = f"alert state not saved: {e.strerror or e}"
            log.warning("tailboard: %s", self.note)
            return False
        return True
