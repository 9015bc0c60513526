"""What every format reader shares: columnar series, run parts, and incremental file reading.

Readers never import Flask. A metric *source* remembers how far it read its file and, on
``refresh(table)``, appends only what was written since; a rewritten or shrunk file makes it
start over (``table.reset()``).
"""
from __future__ import annotations

import math
import os
from array import array
from dataclasses import dataclass, field

#: Column / key names that are axes, never metrics.
STEP_KEYS = ("step", "global_step", "_step", "iter", "iteration")
EPOCH_KEYS = ("epoch",)
TIME_KEYS = ("time", "timestamp", "_timestamp", "wall_time", "walltime")

#: Bytes read per chunk when catching up on a file; a chunk ends on a line boundary.
CHUNK = 512 << 10  # ~10k CSV rows, ~20 ms of parsing: the hub is never held long
NAN = math.nan


class Series:
    """One metric as four parallel float arrays (NaN = absent), 32 bytes a point."""

    __slots__ = ("step", "epoch", "time", "y")

    def __init__(self):
        self.step = array("d")
        self.epoch = array("d")
        self.time = array("d")
        self.y = array("d")

    def append(self, step, epoch, time, y):
        self.step.append(step)
        self.epoch.append(epoch)
        self.time.append(time)
        self.y.append(y)

    def __len__(self):
        return len(self.y)

    def axis(self, name):
        """The x values for axis ``step``, ``epoch`` or ``time``."""
        return {"step": self.step, "epoch": self.epoch, "time": self.time}[name]

    def last(self):
        """Last finite value, or None."""
        for v in reversed(self.y):
            if math.isfinite(v):
                return v
        return None


class MetricTable:
    """The series one source has read, by name, in first-seen order."""

    def __init__(self):
        self.series: dict[str, Series] = {}
        self.generation = 0  # bumped on reset so readers of deltas know to start over

    def get(self, name) -> Series:
        s = self.series.get(name)
        if s is None:
            s = self.series[name] = Series()
        return s

    def reset(self):
        self.series = {}
        self.generation += 1


class SourceError(Exception):
    """A file exists but cannot be understood; the message is shown on the run's row."""


@dataclass
class Part:
    """What one format reader knows about one run directory.

    Several readers may claim the same directory (an spt folder also holds a Lightning
    ``metrics.csv``); the part with the highest ``priority`` names the format and the
    others only add sources, logs and metadata.
    """

    format: str
    priority: int
    metrics: list = field(default_factory=list)     # metric sources (have .path and .refresh)
    logs: list = field(default_factory=list)        # absolute paths of log files
    meta: object = None                             # callable(run_dir) -> dict, may raise SourceError
    media: object = None                            # media source (has .refresh() -> list)
    skip_dirs: tuple = ()                           # subdirectories discovery must not enter
    claims: tuple = ()                              # file names that are not logs (e.g. a Keras .log)


def stat_or_none(path):
    try:
        return os.stat(path)
    except OSError:
        return None


def to_float(value):
    """A cell or JSON value as float; None when it is not a number (NA, empty, text)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


class AppendedLines:
    """Reads a growing text file line by line, remembering the offset reached.

    Only complete lines are returned (a partial last line is being written). ``changed``
    detects a rewrite: the file shrank or its first bytes differ from what was read before.
    """

    SIGNATURE = 256          # at least this many leading bytes are compared...
    MAX_SIGNATURE = 64 << 10  # ...and always the whole first line (a CSV header), up to this

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.signature = b""

    def rewound(self, size):
        """True when the file was truncated or replaced since the last read."""
        if size < self.offset:
            return True
        if self.signature:
            try:
                with open(self.path, "rb") as f:
                    head = f.read(len(self.signature))
            except OSError:
                return True
            return head != self.signature
        return False

    def restart(self):
        self.offset = 0
        self.signature = b""

    def read_chunks(self, size):
        """Yield decoded text chunks of complete lines from the offset up to ``size``."""
        with open(self.path, "rb") as f:
            if not self.signature:
                head = f.read(self.MAX_SIGNATURE)
                self.signature = head[: max(self.SIGNATURE, head.find(b"\n") + 1)]
            while self.offset < size:
                f.seek(self.offset)
                data = f.read(min(CHUNK, size - self.offset))
                if not data:
                    return
                end = data.rfind(b"\n")
                if end < 0:
                    if len(data) < CHUNK:
                        return  # partial line still being written
                    end = len(data) - 1  # a line longer than a chunk: take it in pieces
                self.offset += end + 1
                yield data[: end + 1].decode("utf-8", errors="replace")
