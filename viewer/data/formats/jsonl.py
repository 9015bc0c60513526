"""Generic ``metrics.jsonl``: one JSON object a line; numbers are metrics, nested dicts flatten with ``/``.

``step`` (or the line number), optional ``epoch`` and ``time``/``timestamp`` are the axes. A
partial last line is being written, not an error; a line that is not a JSON object is counted
and skipped.
"""
from __future__ import annotations

import json
import math
import os

from .base import (CHUNK, EPOCH_KEYS, NAN, STEP_KEYS, TIME_KEYS, AppendedLines, MetricTable, Part,
                   stat_or_none, to_float)

AXES = frozenset(STEP_KEYS + EPOCH_KEYS + TIME_KEYS)


def flatten(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from flatten(v, f"{prefix}{k}/")
        else:
            yield f"{prefix}{k}", v


def _axis(d, keys):
    for k in keys:
        v = to_float(d.get(k))
        if v is not None:
            return v
    return NAN


class JsonlSource:
    kind = "jsonl"

    def __init__(self, path):
        self.path = path
        self.table = MetricTable()
        self.lines = AppendedLines(path)
        self.line_no = 0
        self.bad_lines = 0

    @property
    def problem(self):
        """Lines too long to read, for the run's error (lines that are not objects are just skipped)."""
        if self.lines.long_lines:
            return f"{os.path.basename(self.path)}: {self.lines.long_lines} line(s) over {CHUNK >> 10} KiB skipped"
        return None

    def refresh(self) -> bool:
        st = stat_or_none(self.path)
        changed = False
        if st is None or self.lines.rewound(st.st_size):
            if self.table.series or self.line_no:
                self.table.reset()
                changed = True
            self.lines.restart()
            self.line_no = self.bad_lines = 0
            if st is None:
                return changed
        for text in self.lines.read_chunks(st.st_size):
            self._parse(text)
            changed = True
        return changed

    def _parse(self, text):
        get = self.table.get
        for line in text.split("\n"):  # not splitlines(): JSON strings may hold a raw U+2028
            if not line.strip():
                continue
            self.line_no += 1
            try:
                d = json.loads(line.lstrip("\ufeff"))  # a BOM would cost the first line
                if not isinstance(d, dict):
                    raise ValueError("not an object")
                values = [(name, v) for name, v in flatten(d) if name not in AXES]
            except (ValueError, RecursionError):  # not JSON, not an object, or nested too deep
                self.bad_lines += 1
                continue
            step = _axis(d, STEP_KEYS)
            if math.isnan(step):
                step = float(self.line_no - 1)
            epoch, t = _axis(d, EPOCH_KEYS), _axis(d, TIME_KEYS)
            for name, value in values:
                v = to_float(value) if not isinstance(value, str) else None
                if v is not None:  # null means "not logged on this line", not a gap
                    get(name).append(step, epoch, t, v)


def detect(dirpath, files, subdirs):
    names = sorted(f for f in files if f.startswith("metrics") and f.endswith(".jsonl"))
    if not names:
        return None
    return Part("jsonl", 20, metrics=[JsonlSource(os.path.join(dirpath, n)) for n in names])
