"""The points appended to a run's metrics since the last look: what alert rules are fed.

Rules are evaluated on the live path, on what it reads anyway; they never make a run parse.
A CSV metrics file listed through its glance (``CsvGlance``: the tail read of the runs table)
hands over the rows it reads forward (its ``tap``); a file read only as series (JSONL, HF,
TensorBoard, MLflow: always parsed) is followed with a cursor per series. Either way each
point is handed over once.

Points already on disk when a run is first seen are not news (judging them would parse every
run of the tree); a run or a file that appears while watching is news from its first row
(a new CSV file up to ``CsvGlance.TAP_FORWARD`` bytes is read forward for it).
"""
from __future__ import annotations

import math
import os

TAP_MAX = 20_000  # points kept per metric between two looks (a file copied in at once: its last ones)


def trim(tap):
    """Keep each metric's newest ``TAP_MAX`` points (called after each chunk a glance reads)."""
    for pts in tap.values():
        if len(pts) > TAP_MAX:
            del pts[:-TAP_MAX]


class PointTap:
    """One run's tap: ``take(sources)`` gives ``{metric: [(step or None, value), ...]}``."""

    def __init__(self, new_run=False):
        self.new_run = new_run  # the run appeared while watching (not in the first scan)
        self.known = set()    # source paths tapped
        self.fresh = set()    # ... of which those whose every point is news (new while watching)
        self.cursors = {}     # (source path, series name) -> (Series, points taken, last step)

    def attach(self, sources, fresh):
        """Tap these sources (those not tapped yet); ``fresh``: their first rows are news too."""
        for src in sources:
            if src.path in self.known:
                continue
            self.known.add(src.path)
            if fresh:
                self.fresh.add(src.path)
            glance = getattr(src, "glance", None)
            if glance is not None and glance.tap is None:
                glance.tap, glance.tap_new = {}, fresh

    def take(self, sources):
        out = {}
        for src in sources:
            glance = getattr(src, "glance", None)
            if glance is not None and glance.usable and glance.tap is not None:
                items, glance.tap = list(glance.tap.items()), {}
            else:
                items = self._from_series(src)
            for name, pts in items:
                if not pts:
                    continue
                key = name if name not in out else f"{os.path.basename(src.path)}:{name}"
                out[key] = pts
        return out

    def _from_series(self, src):
        """Points past each series' cursor; a rebuilt series (its file rewritten) gives only
        the points past the last step handed over."""
        table = getattr(src, "table", None)
        if table is None:
            return []
        out = []
        for name, s in list(table.series.items()):
            key, n = (src.path, name), len(s)
            cur = self.cursors.get(key)
            if cur is None:
                # a metric first met now: news if its file is, or if the file was looked at before
                start, last = (0 if src.path in self.fresh or (src.path, None) in self.cursors else n), -math.inf
            elif cur[0] is not s:
                last, start = cur[2], n
                while start > 0 and not (s.step[start - 1] <= last):
                    start -= 1
            else:
                start, last = cur[1], cur[2]
            if n > start:
                out.append((name, [(None if v != v else v, y) for v, y in zip(s.step[start:n], s.y[start:n])]))
                last = s.step[n - 1] if s.step[n - 1] == s.step[n - 1] else last
            self.cursors[key] = (s, n, last)
        self.cursors[(src.path, None)] = (None, 0, 0)  # the file was looked at once
        return out
