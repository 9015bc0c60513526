"""What every format reader shares: columnar series, run parts, and incremental file reading.

Readers never import Flask. A metric *source* remembers how far it read its file and, on
``refresh(table)``, appends only what was written since; a rewritten or shrunk file makes it
start over (``table.reset()``).
"""
from __future__ import annotations

import math
import os
import re
from array import array
from dataclasses import dataclass, field

#: Column / key names that are axes, never metrics.
STEP_KEYS = ("step", "global_step", "_step", "iter", "iteration")
EPOCH_KEYS = ("epoch",)
TIME_KEYS = ("time", "timestamp", "_timestamp", "wall_time", "walltime")

#: Bytes read per chunk when catching up on a file; a chunk ends on a line boundary.
CHUNK = 512 << 10  # ~17k CSV rows, ~10 ms of parsing column-wise: the hub is never held long
NAN = math.nan


SURROGATE = re.compile("[\ud800-\udfff]")


def safe_text(s):
    """``s`` as text that can be sent: undecodable file-name bytes become ``\\xff``, a lone
    surrogate from JSON (``"\\ud800"``) becomes U+FFFD (either would make encoding a page fail)."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        pass
    try:
        return s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return SURROGATE.sub("\ufffd", s)


def clean_json(obj, finite=False):
    """A parsed JSON document with every string made sendable (see :func:`safe_text`);
    ``finite``: NaN and infinities become the text ``nan``, ``inf`` (JSON cannot carry them)."""
    if isinstance(obj, str):
        return safe_text(obj)
    if isinstance(obj, dict):
        return {safe_text(k): clean_json(v, finite) for k, v in obj.items()}
    if isinstance(obj, list):
        return [clean_json(v, finite) for v in obj]
    if finite and isinstance(obj, float) and not math.isfinite(obj):
        return repr(obj)
    return obj


# containment and the confined, non-blocking open live in one place (readers import them here)
from ..cooperative import turn  # noqa: E402
from ..paths import is_inside, open_regular  # noqa: F401
from ..tailing import BEFORE, bytes_before  # noqa: E402


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
            name = safe_text(name)  # a JSON key may hold a lone surrogate; only new names pay
            s = self.series.get(name)
            if s is None:
                s = self.series[name] = Series()
        return s

    def reset(self):
        self.series = {}
        self.generation += 1


class SourceError(Exception):
    """A file exists but cannot be understood; the message is shown on the run's row."""


class RunHooks:
    """What a format knows about a whole run beyond its sources, asked by ``Run``.

    A format that has such rules subclasses this and hands an instance to its ``Part``
    (``hooks=``); the defaults add nothing, so a format without rules writes nothing. Every
    part's hooks are asked, most specific first. The metadata they see is the merged dict of
    the parts' ``meta`` (keys such as ``status``, ``updated_at``, ``heartbeat_at``, ``hparams``).
    """

    #: file names in the run folder that no source reads but whose change changes the run
    #: (a status file, a heartbeat, a media index): they join the run's refresh stamp
    watched = ()

    def logs(self, run_dir, root):
        """Log files of the run found outside its folder (under ``root`` only)."""
        return []

    def status(self, meta, now, stale_after):
        """The run's status when this format declares one, else None (logs and times decide)."""
        return None


NO_HOOKS = RunHooks()


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
    hooks: RunHooks = NO_HOOKS                      # the format's rules for the whole run


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
        try:
            return float(value)
        except OverflowError:  # a JSON integer of 400 digits
            return math.inf if value > 0 else -math.inf
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


class AppendedLines:
    """Reads a growing text file line by line, remembering the offset reached.

    Only complete lines are returned (a partial last line is being written). ``rewound``
    detects a rewrite: the file shrank, or its first bytes or the last bytes read before the
    offset differ from what was read (a file truncated and written past its old size between
    two looks keeps its header but not the rows the offset ends on).
    A line of ``CHUNK`` bytes or more is skipped whole and counted in ``long_lines``: where
    a line is cut must not depend on how the file grew between two reads.
    """

    SIGNATURE = 256          # at least this many leading bytes are compared...
    MAX_SIGNATURE = 64 << 10  # ...and always the whole first line (a CSV header), up to this

    def __init__(self, path):
        self.path = path
        self.restart()

    def rewound(self, size):
        """True when the file was truncated or replaced since the last read."""
        if size < self.offset:
            return True
        if not self.signature and not self.offset:
            return False
        try:
            with open_regular(self.path) as f:
                if f.read(len(self.signature)) != self.signature:
                    return True
                if self.tail is None:  # placed by a cache or a backwards read: learnt now
                    self._learn_tail(f)
                elif self.tail:
                    f.seek(self.offset - len(self.tail))
                    return f.read(len(self.tail)) != self.tail
        except OSError:
            return True
        return False

    def place(self, offset, f=None):
        """Go on from ``offset`` (a cache entry's, or a backwards read's end), noting the bytes
        before it from ``f`` (or the file) so that a later rewrite is seen."""
        self.offset = offset
        try:
            if f is not None:
                self._learn_tail(f)
            else:
                with open_regular(self.path) as f:
                    self._learn_tail(f)
        except OSError:
            self.tail = None

    def _learn_tail(self, f):
        start = max(0, self.offset - BEFORE)
        f.seek(start)
        self.tail = f.read(self.offset - start)

    def _took(self, data):
        """``data`` was just consumed, up to the offset."""
        if self.tail is not None:
            self.tail = bytes_before(self.tail, data)

    def restart(self):
        self.offset = 0
        self.tail = b""         # up to tailing.BEFORE bytes before the offset (None: not known yet)
        self.signature = b""
        self.signed = False     # the signature holds the whole first line (or MAX_SIGNATURE bytes)
        self.skipping = False   # inside a line too long to keep
        self.long_lines = 0

    def _sign(self, f):
        head = f.read(self.MAX_SIGNATURE)
        nl = head.find(b"\n")
        self.signature = head[: max(self.SIGNATURE, nl + 1)]
        # a first line still being written is signed again once complete (a header must be whole)
        self.signed = nl >= 0 or len(head) >= self.MAX_SIGNATURE

    def read_chunks(self, size):
        """Yield decoded text chunks of complete lines from the offset up to ``size``, giving
        other greenlets a turn between chunks (every incremental reader goes through here)."""
        with open_regular(self.path) as f:
            if not self.signed:
                self._sign(f)
            while self.offset < size:
                f.seek(self.offset)
                data = f.read(min(CHUNK, size - self.offset))
                if not data:
                    return
                if self.skipping:  # the rest of an over-long line, up to its newline
                    nl = data.find(b"\n")
                    took = data if nl < 0 else data[: nl + 1]
                    self.offset += len(took)
                    self._took(took)
                    self.skipping = nl < 0
                    continue
                end = data.rfind(b"\n")
                if end < 0:
                    if len(data) < CHUNK:
                        return  # partial line still being written
                    self.skipping, self.long_lines = True, self.long_lines + 1
                    self.offset += len(data)
                    self._took(data)
                    continue
                self.offset += end + 1
                self._took(data[: end + 1])
                yield data[: end + 1].decode("utf-8", errors="replace")
                turn()  # the caller parsed that chunk: other connections get a turn when one is due
