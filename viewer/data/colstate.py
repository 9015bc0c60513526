"""What a cached reader must remember to read on from a byte offset (see :mod:`colcache`).

Each reader the column cache serves has a state here: ``started`` (has it read anything?),
``snapshot`` (its state as JSON, written in the entry's manifest), ``apply`` (that state and
the mapped series given back to a reader that has read nothing) and ``reset`` (back to the
start, when an entry turns out unusable half-way). ``version`` changes with the reader's
parsing rules: an entry of another version is never used.
"""
from __future__ import annotations

from .columns import rebase
from .formats.base import Series, safe_text
from .formats.csvmetrics import CsvSource
from .formats.jsonl import JsonlSource


def _lines(src):
    lines = src.lines
    return {"skipping": lines.skipping, "long_lines": lines.long_lines, "signed": lines.signed,
            "sig_len": len(lines.signature)}


def _give(src, st, offset, head, series):
    """The parts every reader shares: the series, in first-seen order, and the line reader."""
    table = src.table
    table.series = {}
    for name, rows in series:
        s = table.series[name] = Series()
        rebase(s, rows)
    lines = src.lines
    lines.signature, lines.signed = head, bool(st["signed"])
    lines.place(offset)
    lines.skipping, lines.long_lines = bool(st["skipping"]), int(st["long_lines"])


class CsvState:
    version = 1

    @staticmethod
    def started(src):
        return src.header is not None

    @staticmethod
    def snapshot(src):
        return {"header": src.header, "sep": src.sep, "rows": src.rows,
                "axes": [src.step_i, src.epoch_i, src.time_i], "cols": [[i, n] for i, n, _ in src.cols],
                "columnar": src.columnar, "bad_rows": src.bad_rows, "first_bad": src.first_bad, **_lines(src)}

    @staticmethod
    def apply(src, st, offset, head, series):
        src.header, src.sep, src.rows = [str(h) for h in st["header"]], str(st["sep"]), int(st["rows"])
        src.step_i, src.epoch_i, src.time_i = st["axes"]
        src.columnar, src.bad_rows, src.first_bad = bool(st["columnar"]), int(st["bad_rows"]), st["first_bad"]
        _give(src, st, offset, head, series)
        src.cols = [[int(i), n, src.table.series.get(safe_text(n))] for i, n in st["cols"]]

    @staticmethod
    def reset(src):
        src.drop()


class JsonlState:
    version = 1

    @staticmethod
    def started(src):
        return bool(src.lines.offset or src.line_no or src.table.series)

    @staticmethod
    def snapshot(src):
        return {"line_no": src.line_no, "bad_lines": src.bad_lines, **_lines(src)}

    @staticmethod
    def apply(src, st, offset, head, series):
        src.line_no, src.bad_lines = int(st["line_no"]), int(st["bad_lines"])
        _give(src, st, offset, head, series)

    @staticmethod
    def reset(src):
        src.table.reset()
        src.lines.restart()
        src.line_no = src.bad_lines = 0


STATES = {CsvSource: CsvState, JsonlSource: JsonlState}


def of(src):
    """The state rules of ``src``'s reader, or None when the cache does not serve it."""
    return STATES.get(type(src))
