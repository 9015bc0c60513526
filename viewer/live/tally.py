"""Run-wide figures of the live path, kept from the runs each batch touches.

Every batch of changes publishes the status counts (the overview's chips) and checks the runs
table's key metric columns. Computed over every run, they cost O(tree) per appended row: with
1,000 runs beside the one being written, 9 of the worker's 12 ms a row. :class:`RunTally`
keeps each run's status and metric names, and updates only the runs a batch touched or
removed: O(changed runs) a batch. A run whose status moves with time alone (stale) reaches it
through the watcher's status sweep, which publishes it as changed. A count that disagrees with
the store's (a run that went without a ``removed``) rebuilds the tally.
"""
from __future__ import annotations

from collections import Counter

from ..data.run import STATUSES
from ..data.store import rank_metrics


class RunTally:
    def __init__(self, store):
        self.store = store
        self.status: dict[str, str] = {}           # run id -> its status when last seen
        self.names: dict[str, frozenset] = {}      # run id -> its summary's metric names
        self.by_status: Counter = Counter()
        self.by_name: Counter = Counter()

    def update(self, touched, removed):
        """Take the runs ``touched`` (changed or added, known to the store) and ``removed``."""
        if not self.status:
            self.rebuild()
            return
        for rid in removed:
            self._drop(rid)
        for rid in touched:
            self._take(rid, self.store.get(rid, refresh=False))
        if len(self.status) != self.store.count():
            self.rebuild()

    def rebuild(self):
        self.status.clear()
        self.names.clear()
        self.by_status.clear()
        self.by_name.clear()
        for run in self.store.runs():
            self._take(run.id, run)

    def counts(self):
        """(status counts in STATUSES order, as ``status_counts`` gives them; runs in all)."""
        out = dict.fromkeys(STATUSES, 0)
        out.update((st, n) for st, n in self.by_status.items() if n > 0)
        return out, len(self.status)

    def columns(self, k=4):
        """The runs table's key metric columns (``RunStore.key_metrics`` over every run)."""
        return rank_metrics(self.by_name, k)

    def _take(self, rid, run):
        self._drop(rid)
        st, names = run.status(), frozenset(run.summary())
        self.status[rid] = st
        self.names[rid] = names
        self.by_status[st] += 1
        self.by_name.update(names)

    def _drop(self, rid):
        st = self.status.pop(rid, None)
        if st is not None:
            self.by_status[st] -= 1
            self.by_name.subtract(self.names.pop(rid, ()))
