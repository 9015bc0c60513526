"""The memory budget of parsed series: least recently used runs are evicted first.

A run's series are parsed when a page or the API asks for them (``Run.load``); every run
is listed from its glance (names and last values read from each file's tail). Parsed series
add up: past the budget the run asked for least recently gives its series back
(``Run.unload``), except the runs an open page follows (``kept``: their folders, as the live
layer's Interest knows them) and the run being answered. An evicted run is parsed again
on its next ask; its listing stays live from the offsets the glance kept.

Points mapped from the column cache weigh as much as parsed ones: shared with the other
workers as they are, their pages are resident in this process's RSS. Evicting such a run
costs little to undo (its next ask maps the entry again); ``mapped_mb`` tells them apart.
``release_idle`` takes the pages of mapped runs nobody asked for lately (and no open page
follows) out of the process's resident set: the page cache keeps them, so the next ask
faults them back in from memory in a millisecond or two, and RSS follows what is looked at.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict


FULL_IDLE_S = 1.0  # with the budget three quarters full, mapped runs not asked for in this long are released


class SeriesBudget:
    def __init__(self, limit_bytes, kept=lambda: (), evicted=lambda run: None):
        self.limit = int(limit_bytes)
        self.kept = kept          # callable: folders of the runs open pages follow
        self.evicted = evicted    # called with each run unloaded: whoever keeps facts about its series lets go
        self.lock = threading.Lock()
        self.lru: OrderedDict = OrderedDict()  # run id -> Run, least recently asked first
        self.evictions = 0

    def use(self, run):
        """``run`` was just asked for its series: most recently used; then trim to the limit."""
        run.asked_at = time.monotonic()
        with self.lock:
            self.lru[run.id] = run
            self.lru.move_to_end(run.id)
        self.trim(keep=run)

    def forget(self, run_id):
        with self.lock:
            self.lru.pop(run_id, None)

    def release_idle(self, idle_s):
        """Release the mapped pages of the runs not asked for in ``idle_s`` seconds and not
        followed by an open page (each once per ask). Returns how many runs were released."""
        now = time.monotonic()
        with self.lock:
            runs = list(self.lru.values())
        idle = [r for r in runs if r.parsed and now - r.asked_at >= idle_s and r.released_after != r.asked_at]
        if not idle:
            return 0
        try:
            kept = set(self.kept())
        except Exception:  # noqa: BLE001 - a broken hook must not stop the release
            kept = set()
        n = 0
        for r in idle:
            if r.path in kept:
                continue
            r.released_after = r.asked_at
            n += bool(r.release_pages())
        return n

    def used(self, kind="all"):
        with self.lock:
            runs = list(self.lru.values())
        return sum(r.series_bytes(kind) for r in runs)

    def trim(self, keep=None):
        """Evict least recently used runs until the parsed series fit (the kept ones never)."""
        with self.lock:
            runs = list(self.lru.values())
            for r in runs:
                if not r.parsed:  # unloaded by someone else (a rewrite, a drop)
                    self.lru.pop(r.id, None)
        sizes = {r.id: r.series_bytes() for r in runs if r.parsed}
        total = sum(sizes.values())
        if total > self.limit * 0.75:  # pages asked faster than the watcher's pass: resident set kept in check too
            self.release_idle(FULL_IDLE_S)
        if total <= self.limit:
            return 0
        try:
            kept = set(self.kept())
        except Exception:  # noqa: BLE001 - a broken hook must not stop eviction
            kept = set()
        evicted = 0
        for r in runs:
            if total <= self.limit:
                break
            if r is keep or r.id not in sizes or r.path in kept:
                continue
            r.unload()
            self.evicted(r)
            total -= sizes[r.id]
            evicted += 1
            with self.lock:
                self.lru.pop(r.id, None)
        self.evictions += evicted
        return evicted

    def state(self):
        """What /healthz shows: the budget, its use, the runs parsed, evictions so far."""
        with self.lock:
            n = len(self.lru)
        return {"budget_mb": round(self.limit / 2**20, 1), "used_mb": round(self.used() / 2**20, 3),
                "mapped_mb": round(self.used("mapped") / 2**20, 3),  # of which column cache pages (shared)
                "parsed_runs": n, "evictions": self.evictions}
