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
from .base import (CHUNK, EPOCH_KEYS, NAN, STEP_KEYS, TIME_KEYS, AppendedLines, MetricTable, Part,
                   open_regular, safe_text, stat_or_none)
from ..numbers import all_finite
from ..points import trim
from ..cooperative import turn

MISSING = frozenset(("", "NA", "N/A", "null", "None"))

# a row is at most one chunk long (longer lines are skipped), so no cell can exceed that
if csv.field_size_limit() < CHUNK:
    csv.field_size_limit(CHUNK)


def sniff_separator(header: str) -> str:
    for sep in (",", "\t", ";", "|"):
        if sep in header:
            return sep
    return ","


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
        names = _split(line, self.sep) or [""]
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
        return (row for line in text.split("\n") if (row := _split(line, self.sep)) is not None)

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
                v = _number(row[i])
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
        v = _number(cell)
        if v is not None:
            at.append(j)
            ys.append(v)
    return at, ys


def _number(cell):
    """A metric cell's value; None when it holds none (empty, ``NA``, text)."""
    if cell in MISSING:
        return None
    try:
        return float(cell)
    except ValueError:
        return None


def _split(line, sep):
    """One line's cells (a quote left open ends with the line); None for a blank line."""
    if not line:
        return None
    try:
        return next(csv.reader([line], delimiter=sep), None)
    except csv.Error:
        return None


def _cell(row, i, n):
    return NAN if i is None or i >= n else _float_or_nan(row[i])


def detect(dirpath, files, subdirs):
    """Generic ``metrics.csv`` (any CSV named metrics*.csv)."""
    names = sorted(f for f in files if f.startswith("metrics") and f.endswith(".csv"))
    if not names:
        return None
    return Part("csv", 10, metrics=[CsvSource(os.path.join(dirpath, n)) for n in names])


class CsvGlance:
    """What the runs table needs of a CSV metrics file, without parsing it: the metric names
    that hold a number and each one's last finite value (the run's summary).

    The first look reads the header, then the file *backwards* from its end, block by block,
    until every metric column has shown a finite value (a column that never does makes it read
    on to the header). It then keeps the offset reached, so an append costs what was appended,
    and a rewrite (shrunk, or a new header: Lightning widening its columns) starts over.
    The answers are those of a full parse by :class:`CsvSource` (``last()`` of each series);
    only the order of ``names`` may differ (header order here, first-seen order there).
    ``usable`` is False when the header itself is a line too long to keep: the run then
    parses the file as before.
    """

    FIRST_BLOCK = 16 << 10  # the first block read backwards: most tails hold every metric
    BLOCK = 1 << 20         # ... then blocks grow four-fold up to this
    TAP_FORWARD = 1 << 20   # a new file this small is read forward when tapped: its rows are all news

    def __init__(self, path, step_keys=STEP_KEYS):
        self.path = path
        self.step_keys = step_keys
        self.lines = AppendedLines(path)
        # the alert rules' tap (see ``data/points.py``): None, or {name: [(step, value), ...]}
        # of every number read forward since the last drain, NaN and infinities included
        self.tap = None
        self.tap_new = False  # the file appeared while watching: its first read is forward, tapped
        self._clear()

    def _clear(self):
        self.header = None
        self.sep = ","
        self.cols = []        # (cell index, series name) of the metric columns, in header order
        self.step_i = None    # cell index of the step column (the tap's x), or None
        self.names = {}       # series name -> None: the names holding a number, in header order
        self.last = {}        # series name -> last finite value
        self.usable = True

    def refresh(self) -> bool:
        """Catch up with the file; True when the names or last values changed."""
        st = stat_or_none(self.path)
        before = (dict(self.names), dict(self.last))
        if st is None:
            self.lines.restart()
            self._clear()
            return before != ({}, {})
        if self.header is None or self.lines.rewound(st.st_size):
            self.lines.restart()
            self._clear()
            if self.tap is not None and self.tap_new and st.st_size <= self.TAP_FORWARD:
                self._read_forward(st.st_size)
            else:
                self._read_backwards(st.st_size)
            self.tap_new = self.tap_new and self.header is None  # a rewrite later is old news
        else:
            for text in self.lines.read_chunks(st.st_size):
                rows = text.replace("\r", "\n").split("\n")
                self._take(rows)
                if self.tap is not None:
                    trim(self.tap)
        return (self.names, self.last) != before

    def _set_header(self, line):
        """The columns as :meth:`CsvSource._set_header` names them."""
        self.sep = sniff_separator(line)
        header = [n.strip() for n in (_split(line, self.sep) or [""])]
        lower = [n.lower() for n in header]
        axes = set()
        for keys in (self.step_keys, EPOCH_KEYS, TIME_KEYS):
            axes.add(next((lower.index(k) for k in keys if k in lower), None))
        self.header = header
        self.step_i = next((lower.index(k) for k in self.step_keys if k in lower), None)
        self.cols = [(i, safe_text(n)) for i, n in enumerate(header) if i not in axes and n]

    def _take(self, lines):
        """Rows read forward (appended): each number names its series, each finite one is its
        last value."""
        sep, cols, names, last, tap, si = self.sep, self.cols, self.names, self.last, self.tap, self.step_i
        for line in lines:
            row = line.split(sep) if '"' not in line else _split(line, sep)
            if not row:
                continue
            n = len(row)
            if tap is not None:
                step = _number(row[si]) if si is not None and si < n else None
            for i, name in cols:
                if i >= n:
                    break
                v = _number(row[i])
                if v is None:
                    continue
                names.setdefault(name, None)
                if v - v == 0:  # finite
                    last[name] = v
                if tap is not None:
                    points = tap.get(name)
                    if points is None:
                        points = tap[name] = []
                    points.append((step, v))

    def _read_forward(self, size):
        """A new small file read from its header on, every row through ``_take`` (so tapped)."""
        for text in self.lines.read_chunks(size):
            text = text.replace("\r", "\n")
            if self.header is None:
                line, _, text = text.partition("\n")
                self._set_header(line.lstrip("\ufeff"))
            self._take(text.split("\n"))
            trim(self.tap)
        found, self.names = self.names, {}
        for _, name in self.cols:  # in header order, as the backwards read gives them
            if name in found:
                self.names[name] = None

    def _take_backwards(self, lines, todo):
        """Rows read from the end: the first finite value met per name is its last."""
        sep, cols, names, last = self.sep, self.cols, self.names, self.last
        rcols = cols[::-1]
        for line in reversed(lines):
            row = line.split(sep) if '"' not in line else _split(line, sep)
            if not row:
                continue
            n = len(row)
            for i, name in rcols:
                if i >= n or name not in todo:
                    continue
                v = _number(row[i])
                if v is None:
                    continue
                names.setdefault(name, None)
                if v - v == 0:
                    last[name] = v
                    todo.discard(name)
            if not todo:
                return

    def _read_backwards(self, size):
        with open_regular(self.path) as f:
            head = f.read(min(size, 8192))
            nl = head.find(b"\n")
            if nl < 0 and len(head) < size:  # a wide header: up to the longest line kept
                head += f.read(min(size, CHUNK) - len(head))
                nl = head.find(b"\n")
            if nl < 0:
                # no complete first line: a full parse has read nothing yet either
                self.usable = len(head) < CHUNK
                self.header = None
                return
            first = head[: nl + 1].decode("utf-8", errors="replace").replace("\r", "\n")
            header, _, rest = first.partition("\n")
            self._set_header(header.lstrip("\ufeff"))
            # the end of the last complete line: what a full parse would have read
            f.seek(0)
            end = _last_line_end(f, size)
            todo = set(name for _, name in self.cols)
            pos, carry, block = end, b"", min(self.FIRST_BLOCK, self.BLOCK)
            while todo and pos > nl + 1:
                start = max(nl + 1, pos - block)
                f.seek(start)
                data = f.read(pos - start) + carry
                pos = start
                if start > nl + 1:
                    cut = data.find(b"\n")
                    if cut < 0:
                        carry = data
                        continue
                    carry, data = data[: cut + 1], data[cut + 1:]
                else:
                    carry = b""
                data = data[: data.rfind(b"\n") + 1]  # whole lines (the block's last ends at ``pos``)
                if len(data) >= CHUNK:  # a line this long may be in it: skipped, as a full parse does
                    data = b"\n".join(seg for seg in data.split(b"\n") if len(seg) < CHUNK)
                text = data.decode("utf-8", errors="replace").replace("\r", "\n").split("\n")
                if text and text[-1] == "":
                    text.pop()
                self._take_backwards(text, todo)
                block = min(block * 4, self.BLOCK)
                turn()
            if todo and rest:  # the header line went on after a lone \r: those are rows too
                self._take_backwards(rest.split("\n"), todo)
            found, self.names = self.names, {}
            for _, name in self.cols:  # in header order
                if name in found:
                    self.names[name] = None
            # what AppendedLines._sign keeps: the whole header line (up to MAX_SIGNATURE)
            lines = self.lines
            keep = nl + 1 if nl + 1 <= lines.MAX_SIGNATURE else 0
            if len(head) < lines.SIGNATURE and len(head) < size:
                f.seek(0)
                head = f.read(lines.SIGNATURE)
            lines.signature, lines.signed = head[: max(lines.SIGNATURE, keep)], True
            lines.place(end, f)


def _last_line_end(f, size):
    """The offset just past the last newline at or before ``size``."""
    pos = size
    while pos > 0:
        start = max(0, pos - 8192)
        f.seek(start)
        data = f.read(pos - start)
        i = data.rfind(b"\n")
        if i >= 0:
            return start + i + 1
        pos = start
    return 0
