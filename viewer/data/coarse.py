"""The first answer for a big run nobody has parsed yet: a sample of its metric files.

Parsing a 1,000,000-row ``metrics.csv`` takes about a second; a chart wants something to draw
at once. So the first chart request of a big run (one whose metric files add up to
``VIEWER_COARSE_MB`` or more) reads ``BLOCKS`` evenly spaced blocks of each CSV file with seeks,
the first and the last included, and parses their whole lines with the file's header: the
same reader, on a fraction of the rows. Every point of the sample is a row of the file, drawn
where the full parse draws it. Meanwhile the store parses the run in the background; the
chart then asks again and swaps in full resolution (docs/api.md, ``coarse``).

Only CSV metrics with a step column are sampled (a row number is not known inside a block);
any other big run is parsed in the background all the same, and answered when parsed.
"""
from __future__ import annotations

import math
import os
import threading
import time

from .cooperative import in_background, turn
from .downsample import PURGED_AXES, non_decreasing, restart_kept, select, series_answer
from .formats import fastcsv
from .formats.base import MetricTable, open_regular, stat_or_none
from .formats.csvmetrics import CsvSource, sniff_separator

BLOCKS = 64                 # blocks read per file: enough to show the curve's shape and its end
MIN_BLOCK = 2 << 10         # bytes: a block holds whole lines around its cut ends
MAX_BLOCK = 64 << 10
SAMPLE_ROWS = 8000          # rows sampled per file: 4 per point of a default chart (a band per bucket)
HEAD = 64 << 10             # bytes read for the header line (a longer header: no sample)
NO_STEP = -2.0 ** 60        # a sampled row without a step is numbered from here, then left out


def metric_bytes(run):
    """Bytes of the run's metric files as stat says now (0 for a vanished one)."""
    total = 0
    for src in run.sources:
        st = stat_or_none(src.path)
        total += st.st_size if st else 0
    return total


def sampleable(run):
    """True when every metric file of ``run`` is a CSV the sampler can read."""
    return bool(run.sources) and all(type(src) is CsvSource for src in run.sources)


def sample_series(run):
    """{series name: Series} of a sample of every metric file, named as ``Run.series`` names
    them (a name two files share is prefixed by the second's file name); None when a file
    cannot be sampled (no header yet, no step column)."""
    out = {}
    for src in run.sources:
        table = sample_file(src.path, src.step_keys)
        if table is None:
            return None
        for name, s in table.series.items():
            out[name if name not in out else f"{os.path.basename(src.path)}:{name}"] = s
    return out


def sample_file(path, step_keys):
    """A MetricTable of whole lines from ``BLOCKS`` evenly spaced blocks of a CSV metrics file."""
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(min(size, HEAD))
        nl = head.find(b"\n")
        if nl < 0:
            return None
        header = head[:nl].decode("utf-8", errors="replace").rstrip("\r").lstrip("\ufeff")
        if not _has_step(header, step_keys):
            return None
        body = nl + 1
        # rows wanted -> bytes wanted, from the line length of the file's first rows
        first = head[body:]
        line = len(first) / max(first.count(b"\n"), 1) if first else 64
        block = int(min(max(SAMPLE_ROWS * line / BLOCKS, MIN_BLOCK), MAX_BLOCK))
        span = size - body
        if span <= block * BLOCKS:  # small enough: every row, as one block
            starts, block = [body], span
        else:
            starts = [body + (span - block) * k // (BLOCKS - 1) for k in range(BLOCKS)]
        chunks = []
        for start in starts:
            f.seek(start)
            data = f.read(block)
            if start > body:  # cut inside a line: from the next one
                data = data[data.find(b"\n") + 1:] if b"\n" in data else b""
            chunks.append(data[: data.rfind(b"\n") + 1])
    reader = CsvSource(path, step_keys)
    reader.bulk = False  # plain Python: polars may still be importing (fastcsv.preload)
    reader._parse(header + "\n")
    for data in chunks:
        reader.rows = int(NO_STEP)  # ``_parse`` numbers rows without a step from here
        reader._parse(data.decode("utf-8", errors="replace"))
        turn()  # a block is a few milliseconds of parsing: other connections get a turn
    return _without_stepless(reader.table)


def _has_step(header, step_keys):
    lower = [n.strip().lower() for n in header.split(sniff_separator(header))]
    return any(k in lower for k in step_keys)


def _without_stepless(table):
    """The table without the points of rows that had no step (numbered from NO_STEP)."""
    out = MetricTable()
    for name, s in table.series.items():
        keep = [i for i, x in enumerate(s.step) if not x < NO_STEP / 2]
        if len(keep) == len(s):
            out.series[name] = s
            continue
        t = out.get(name)
        for i in keep:
            t.append(s.step[i], s.epoch[i], s.time[i], s.y[i])
        if not len(t):
            del out.series[name]
    return out


class FirstAnswers:
    """The store's big runs not parsed yet: which are big, which are being parsed in the
    background, and the sampled answer meanwhile (kept until the parse ends)."""

    def __init__(self, store, coarse_mb):
        self.store = store
        self.limit = float(coarse_mb) * 2**20 if coarse_mb and float(coarse_mb) > 0 else math.inf
        self.lock = threading.Lock()
        self.running: set[str] = set()   # run ids parsed in the background right now
        self.samples: dict[str, tuple] = {}  # run id -> (metric bytes, sampled series)

    def big(self, run):
        """True when what a parse of ``run`` still has to read adds up to the limit
        (VIEWER_COARSE_MB) or more: its metric files, less what the column cache holds of them
        (a run restored from the cache answers in full at once, no sample needed)."""
        if self.limit == math.inf:
            return False
        columns = self.store.columns
        if columns is None:
            return metric_bytes(run) >= self.limit
        return sum(columns.unread_bytes(src) for src in run.sources) >= self.limit

    def parsing(self, run_id):
        return run_id in self.running

    def parse_later(self, run):
        """Parse ``run`` in the background (a greenlet that takes turns under gevent), once;
        its live cursors start where the parse ends, as a followed run's do."""
        with self.lock:
            if run.id in self.running:
                return
            self.running.add(run.id)
        fastcsv.preload()
        in_background(lambda: self._parse(run), "tailboard-parse")

    def _parse(self, run):
        try:
            deadline = time.monotonic() + 30  # after that, chunks take the pure-Python path
            while not fastcsv.ready() and fastcsv.available and time.monotonic() < deadline:
                time.sleep(0.005)  # polars is being imported in its own thread: turns, not a stall
            run.refresh()
            self.store.parse_and_prime(run)
        except Exception:  # noqa: BLE001 - vanished or unreadable: the next request says so
            pass
        finally:
            with self.lock:
                self.running.discard(run.id)
                self.samples.pop(run.id, None)

    def answer(self, run_id, names, points, x, xscale):
        """A metrics answer from a sample of the run's files, marked ``coarse``, while it is
        parsed in the background; None when it is parsed (or small, or no CSV run): the store
        answers in full. Reads no lock of the run: the background parse holds it."""
        run = self.store._runs.get(run_id)
        if run is None or not run.loaded or not sampleable(run):
            return None
        if run_id not in self.running and (run.parsed or not self.big(run)):
            return None
        self.parse_later(run)
        size = metric_bytes(run)
        kept = self.samples.get(run_id)
        if kept is None or kept[0] != size:
            try:
                kept = (size, sample_series(run))
            except OSError:
                return None
            if kept[1] is None:
                return None
            with self.lock:
                if run_id in self.running:
                    self.samples[run_id] = kept
        out = {}
        for name in names or kept[1]:
            s = kept[1].get(name)
            if s is not None:
                xs = s.axis(x)
                out[name] = series_answer(xs, s.y, _shown(xs, x), points, xscale)
        return {"run": run.id, "x": x, "series": out, "coarse": True}


def _shown(xs, axis):
    """The points of a sampled series a chart shows: on a step or epoch axis that goes back
    (a restart), those the restart left, as the full answer shows them."""
    if axis in PURGED_AXES and not non_decreasing(xs):
        return restart_kept(xs)
    return select(xs, xs)
