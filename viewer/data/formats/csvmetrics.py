"""CSV metrics: the incremental reader shared by Lightning, spt and Keras, and generic ``metrics.csv``.

Rows may be sparse (Lightning writes train and val values on different rows), cells may be
empty, ``NA`` (Keras), ``nan`` or ``inf``. The x axis is the first column named like a step,
else the row number; ``epoch`` and ``time`` columns become the other axes.
"""
from __future__ import annotations

import csv
import io
import os
from array import array
from itertools import repeat

from . import fastcsv
from .base import CHUNK, EPOCH_KEYS, NAN, STEP_KEYS, TIME_KEYS, AppendedLines, MetricTable, Part, safe_text, stat_or_none
from .csvcells import number, sniff_separator, split_cells
from .csvglance import CsvGlance
from ..numbers import all_finite


class CsvSource:
    """Incremental reader of one CSV metrics file into a :class:`MetricTable`."""

    kind = "csv"
    bulk = True  # convert big chunks with polars (fastcsv); a coarse sample never does

    def __init__(self, path, step_keys=STEP_KEYS):
        self.path = path
        self.table = MetricTable()
        self.step_keys = step_keys
        self.lines = AppendedLines(path)
        self.glance = CsvGlance(path, step_keys)  # the listing's cheap view (no series)
        self._clear()

    def drop(self):
        """Forget every parsed point (the memory budget evicts the run): the next
        ``refresh()`` reads the file from its start again."""
        self.table.reset()
        self.lines.restart()
        self._clear()

    def _clear(self):
        self.header = None
        self.sep = ","
        self.rows = 0
        self.cols = []        # (index, name, Series|None) for metric columns
        self.step_i = self.epoch_i = self.time_i = None
        self.bad_rows = 0     # rows with more cells than the header
        self.first_bad = None  # the data row number of the first one

    @property
    def problem(self):
        """What was read but not shown, for the run's error (None when all was read)."""
        out = []
        if self.bad_rows:
            rows = "1 row has" if self.bad_rows == 1 else f"{self.bad_rows} rows have"
            out.append(f"{rows} more cells than the header (first: data row {self.first_bad}; extra cells ignored)")
        if self.lines.long_lines:
            out.append(f"{self.lines.long_lines} line(s) over {CHUNK >> 10} KiB skipped")
        return f"{os.path.basename(self.path)}: " + "; ".join(out) if out else None

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
        return changed

    def _set_header(self, line):
        self.sep = sniff_separator(line)
        names = split_cells(line, self.sep) or [""]
        self.header = [n.strip() for n in names]
        lower = [n.lower() for n in self.header]
        for keys, attr in ((self.step_keys, "step_i"), (EPOCH_KEYS, "epoch_i"), (TIME_KEYS, "time_i")):
            for k in keys:
                if k in lower:
                    setattr(self, attr, lower.index(k))
                    break
        axes = {self.step_i, self.epoch_i, self.time_i}
        self.cols = [[i, n, None] for i, n in enumerate(self.header) if i not in axes and n]
        # two columns feeding one series interleave row by row: only the row loop keeps that
        self.columnar = len({safe_text(n) for _, n, _ in self.cols}) == len(self.cols)

    def _rows(self, text):
        """The rows of complete lines (``\r`` already made ``\n``), one per line whatever the
        chunking: a quote never spans lines."""
        if '"' not in text:  # nothing quoted: the C reader over the whole chunk is line by line
            return csv.reader(io.StringIO(text), delimiter=self.sep)
        return (row for line in text.split("\n") if (row := split_cells(line, self.sep)) is not None)

    def _parse(self, text):
        text = text.replace("\r", "\n")  # a lone \r ends a line, as the csv module would
        if self.header is None:
            line, _, text = text.partition("\n")
            self._set_header(line.lstrip("\ufeff"))
        if self.columnar and '"' not in text:
            lines = text.split("\n")
            if lines[-1] == "":  # the chunk's last line end
                lines.pop()
            if "" in lines:
                lines = [line for line in lines if line]
            if self._parse_columns(lines):
                return
        self._parse_rows(self._rows(text))

    def _parse_columns(self, lines):
        """The common chunk, column by column in C: nothing quoted, and every line holds exactly
        the header's cells. Points, their order and the series' first-seen order are those of
        the row loop. False (nothing read) for any other chunk."""
        width, sep = len(self.header), self.sep
        if not lines or set(map(str.count, lines, repeat(sep))) != {width - 1}:
            return not lines
        n, first = len(lines), self.rows
        if self.bulk and n >= fastcsv.MIN_ROWS and fastcsv.ready():
            self._parse_columns_fast(lines, width, first)
            self.rows += n
            return True
        cells = sep.join(lines).split(sep)
        self.rows += n
        step = _floats(cells, self.step_i, width, n)
        if not all_finite(step):
            for j, v in enumerate(step):
                if v != v:  # no step: the row number
                    step[j] = float(first + j)
        epoch = _floats(cells, self.epoch_i, width, n)
        t = _floats(cells, self.time_i, width, n)
        found = []
        for k, col in enumerate(self.cols):
            vals = cells[col[0]::width]
            try:
                ys, at = array("d", map(float, vals)), None  # dense: a value in every row
            except ValueError:
                at, ys = _present(vals)
                if not at:
                    continue
            found.append((0 if at is None else at[0], k, col, ys, at))
        for _, _, col, ys, at in sorted(found, key=lambda f: f[:2]):  # row-major first sight
            s = col[2]
            if s is None:
                s = col[2] = self.table.get(col[1])
            if at is None:
                s.step.extend(step)
                s.epoch.extend(epoch)
                s.time.extend(t)
            else:
                for axis, xs in ((s.step, step), (s.epoch, epoch), (s.time, t)):
                    axis.extend(array("d", map(xs.__getitem__, at)))
            s.y.extend(ys)
        return True

    def _parse_columns_fast(self, lines, width, first):
        """``_parse_columns`` with the cells converted in bulk (:mod:`fastcsv`): the same
        points, in the same order."""
        import numpy as np

        cols = fastcsv.columns(lines, self.sep, width)
        n = len(lines)

        def axis(i):
            if i is None:
                return np.full(n, NAN)
            return cols[i][0]

        step = axis(self.step_i)
        absent = np.isnan(step)
        if absent.any():  # no step: the row number
            step = np.where(absent, np.arange(first, first + n, dtype=np.float64), step)
        epoch, t = axis(self.epoch_i), axis(self.time_i)
        found = []
        for k, col in enumerate(self.cols):
            ys, present = cols[col[0]]
            if present.all():
                found.append((0, k, col, ys, None))
                continue
            at = np.flatnonzero(present)
            if not len(at):
                continue
            found.append((int(at[0]), k, col, ys[at], at))
        for _, _, col, ys, at in sorted(found, key=lambda f: f[:2]):  # row-major first sight
            s = col[2]
            if s is None:
                s = col[2] = self.table.get(col[1])
            for axis_, xs in ((s.step, step), (s.epoch, epoch), (s.time, t)):
                axis_.frombytes((xs if at is None else xs[at]).tobytes())
            s.y.frombytes(np.ascontiguousarray(ys, dtype=np.float64).tobytes())

    def _parse_rows(self, rows):
        table, cols = self.table, self.cols
        step_i, epoch_i, time_i = self.step_i, self.epoch_i, self.time_i
        width = len(self.header)
        for row in rows:
            if not row:
                continue
            n = len(row)
            self.rows += 1
            if n > width:
                self.bad_rows += 1  # ragged: keep the cells that have a column
                self.first_bad = self.first_bad or self.rows
            step = _cell(row, step_i, n)
            if step != step:
                step = float(self.rows - 1)
            epoch = _cell(row, epoch_i, n)
            t = _cell(row, time_i, n)
            for col in cols:
                i = col[0]
                if i >= n:
                    break
                v = number(row[i])
                if v is None:
                    continue
                s = col[2]
                if s is None:
                    s = col[2] = table.get(col[1])
                s.step.append(step)
                s.epoch.append(epoch)
                s.time.append(t)
                s.y.append(v)


def _floats(cells, i, width, n):
    """Column ``i`` of a columnar chunk as floats, NaN where a cell is not a number."""
    if i is None:
        return array("d", [NAN]) * n
    vals = cells[i::width]
    try:
        return array("d", map(float, vals))
    except ValueError:
        return array("d", map(_float_or_nan, vals))


def _float_or_nan(cell):
    try:
        return float(cell)
    except ValueError:
        return NAN


def _present(vals):
    """(row indices, values) of the cells that hold a number, for a sparse column."""
    at, ys = array("l"), array("d")
    for j, cell in enumerate(vals):
        v = number(cell)
        if v is not None:
            at.append(j)
            ys.append(v)
    return at, ys


def _cell(row, i, n):
    return NAN if i is None or i >= n else _float_or_nan(row[i])


def detect(dirpath, files, subdirs):
    """Generic ``metrics.csv`` (any CSV named metrics*.csv)."""
    names = sorted(f for f in files if f.startswith("metrics") and f.endswith(".csv"))
    if not names:
        return None
    return Part("csv", 10, metrics=[CsvSource(os.path.join(dirpath, n)) for n in names])
