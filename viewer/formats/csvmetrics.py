"""CSV metrics: the incremental reader shared by Lightning, spt and Keras, and generic ``metrics.csv``.

Rows may be sparse (Lightning writes train and val values on different rows), cells may be
empty, ``NA`` (Keras), ``nan`` or ``inf``. The x axis is the first column named like a step,
else the row number; ``epoch`` and ``time`` columns become the other axes.
"""
from __future__ import annotations

import csv
import io
import os
import time as _time

from .base import (EPOCH_KEYS, NAN, STEP_KEYS, TIME_KEYS, AppendedLines, MetricTable, Part,
                   stat_or_none)

MISSING = frozenset(("", "NA", "N/A", "null", "None"))


def sniff_separator(header: str) -> str:
    for sep in (",", "\t", ";", "|"):
        if sep in header:
            return sep
    return ","


class CsvSource:
    """Incremental reader of one CSV metrics file into a :class:`MetricTable`."""

    kind = "csv"

    def __init__(self, path, step_keys=STEP_KEYS):
        self.path = path
        self.table = MetricTable()
        self.step_keys = step_keys
        self.lines = AppendedLines(path)
        self._clear()

    def _clear(self):
        self.header = None
        self.sep = ","
        self.rows = 0
        self.cols = []        # (index, name, Series|None) for metric columns
        self.step_i = self.epoch_i = self.time_i = None
        self.bad_rows = 0

    def refresh(self) -> bool:
        """Read what was appended; return True when anything changed."""
        st = stat_or_none(self.path)
        if st is None:
            if self.table.series or self.header:
                self.table.reset()
                self.lines.restart()
                self._clear()
                return True
            return False
        changed = False
        if self.lines.rewound(st.st_size):
            self.table.reset()
            self.lines.restart()
            self._clear()
            changed = True
        for text in self.lines.read_chunks(st.st_size):
            self._parse(text)
            changed = True
            _time.sleep(0)  # let other greenlets/threads run between chunks
        return changed

    def _set_header(self, line):
        self.sep = sniff_separator(line)
        names = next(csv.reader([line], delimiter=self.sep))
        self.header = [n.strip() for n in names]
        lower = [n.lower() for n in self.header]
        for keys, attr in ((self.step_keys, "step_i"), (EPOCH_KEYS, "epoch_i"), (TIME_KEYS, "time_i")):
            for k in keys:
                if k in lower:
                    setattr(self, attr, lower.index(k))
                    break
        axes = {self.step_i, self.epoch_i, self.time_i}
        self.cols = [[i, n, None] for i, n in enumerate(self.header) if i not in axes and n]

    def _parse(self, text):
        if self.header is None:
            line, _, text = text.partition("\n")
            self._set_header(line.rstrip("\r").lstrip("\ufeff"))
        table, cols = self.table, self.cols
        step_i, epoch_i, time_i = self.step_i, self.epoch_i, self.time_i
        width = len(self.header)
        for row in csv.reader(io.StringIO(text), delimiter=self.sep):
            if not row:
                continue
            n = len(row)
            if n > width:
                self.bad_rows += 1  # ragged: keep the cells that have a column
            self.rows += 1
            step = _cell(row, step_i, n)
            if step != step:
                step = float(self.rows - 1)
            epoch = _cell(row, epoch_i, n)
            t = _cell(row, time_i, n)
            for col in cols:
                i = col[0]
                if i >= n:
                    break
                cell = row[i]
                if cell in MISSING:
                    continue
                try:
                    v = float(cell)
                except ValueError:
                    continue
                s = col[2]
                if s is None:
                    s = col[2] = table.get(col[1])
                s.step.append(step)
                s.epoch.append(epoch)
                s.time.append(t)
                s.y.append(v)


def _cell(row, i, n):
    if i is None or i >= n:
        return NAN
    try:
        return float(row[i])
    except ValueError:
        return NAN


def detect(dirpath, files, subdirs):
    """Generic ``metrics.csv`` (any CSV named metrics*.csv)."""
    names = sorted(f for f in files if f.startswith("metrics") and f.endswith(".csv"))
    if not names:
        return None
    return Part("csv", 10, metrics=[CsvSource(os.path.join(dirpath, n)) for n in names])
