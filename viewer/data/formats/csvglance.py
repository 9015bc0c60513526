"""CsvGlance: the runs table's cheap view of a CSV metrics file (names and last values, read
from the file's tail), kept beside each :class:`csvmetrics.CsvSource`."""
from __future__ import annotations

from .base import CHUNK, EPOCH_KEYS, STEP_KEYS, TIME_KEYS, AppendedLines, open_regular, safe_text, stat_or_none
from .csvcells import number, sniff_separator, split_cells
from ..cooperative import turn
from ..points import trim


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
        header = [n.strip() for n in (split_cells(line, self.sep) or [""])]
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
            row = line.split(sep) if '"' not in line else split_cells(line, sep)
            if not row:
                continue
            n = len(row)
            if tap is not None:
                step = number(row[si]) if si is not None and si < n else None
            for i, name in cols:
                if i >= n:
                    break
                v = number(row[i])
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
            row = line.split(sep) if '"' not in line else split_cells(line, sep)
            if not row:
                continue
            n = len(row)
            for i, name in rcols:
                if i >= n or name not in todo:
                    continue
                v = number(row[i])
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
