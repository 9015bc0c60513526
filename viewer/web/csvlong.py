"""Metric series as long-format CSV (one line per point), the one writer behind
``/api/runs/<id>/metrics.csv`` and ``/api/export.csv``; and the RFC 6266 attachment header."""
from __future__ import annotations

from urllib.parse import quote

from ..data.cooperative import Turns

SLICE = 8192   # points formatted per piece: memory stays flat and a turn fits between pieces


def axis_cells(col):
    """Axis values as CSV cells: whole numbers without ``.0``, absent (NaN) as empty."""
    return ["" if v != v else str(int(v)) if v.is_integer() and -2**53 < v < 2**53 else repr(v)
            for v in col]


def value_cells(col):
    """Metric values as CSV cells: ``nan``/``inf`` written as logged."""
    return [str(int(v)) if v.is_integer() and -2**53 < v < 2**53 else repr(v) for v in col]


def cell(text):
    """A text cell, quoted when it holds a comma, a quote or a line break."""
    return text if not any(c in text for c in ',"\n\r') else '"' + text.replace('"', '""') + '"'


def long_lines(columns, lead="", turns=None):
    """``metric,step,epoch,time,value`` lines for ``columns`` (``RunStore.metrics_columns``),
    each line starting with ``lead`` (``"<run>,"`` for several runs), a slice at a time with a
    turn between slices (a million points must not hold the worker)."""
    turns = turns or Turns()
    for name, step, epoch, t, y in columns:
        head = lead + cell(name)
        for i in range(0, len(y), SLICE):
            turns()
            j = i + SLICE
            rows = zip(axis_cells(step[i:j]), axis_cells(epoch[i:j]), axis_cells(t[i:j]), value_cells(y[i:j]))
            yield "".join(f"{head},{a},{b},{c},{d}\n" for a, b, c, d in rows)


def attachment(filename):
    """A ``Content-Disposition`` for any name (RFC 6266): an ASCII ``filename=`` fallback with
    quotes, backslashes and control characters replaced, and the exact name as UTF-8 in
    ``filename*=`` (a header holds Latin-1 only: a raw non-ASCII name was a 500)."""
    fallback = "".join(c if " " <= c < "\x7f" and c not in '"\\%' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
