"""Bulk conversion of CSV cells to floats (issue 13 item 5), for the columnar CSV path.

Chosen by measurement (bench/bench_parsers.py): on a 1,000,000-row Lightning file the
pure-Python path took 4.75 s, numpy 4.18 s, pyarrow.csv 1.49 s, polars 1.15 s (a loaded
2-core machine). polars splits and converts a chunk's lines in Rust; numpy carries the columns.

Exactly Python's ``float()`` semantics are kept: polars' value is taken only for cells that
are a plain decimal number (or ``nan``/``inf``/``-inf`` in lower case), on which both parsers
round correctly; every other non-empty cell (``" 3"``, ``"1_000"``, ``"Infinity"``, ``"NA"``)
goes through ``float()`` itself. Without polars the caller keeps its pure-Python path.
"""
from __future__ import annotations

from importlib.util import find_spec

# imported on the first big chunk, or ahead of it by ``preload`` (in an OS thread) once a big
# metrics file is seen: a server listing small runs from their tails never loads polars
available = find_spec("polars") is not None and find_spec("numpy") is not None
_preload = None  # None: not asked; "loading"; "done"

MIN_ROWS = 64  # below this the pure-Python path is as fast (a live append is a row or two)

PLAIN = r"^[+-]?(?:[0-9]+\.?[0-9]*(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?|inf|nan)$"


def preload():
    """Import polars in a real OS thread, once: about 0.1-0.4 s of import that must not hold a
    gevent worker's hub (nor the first chart of a big run). Safe under gevent: imports take
    the interpreter's own locks, never the patched ones."""
    global _preload
    if _preload is not None or not available:
        return
    _preload = "loading"

    def run():
        global _preload, available
        try:
            import polars  # noqa: F401
        except Exception:  # noqa: BLE001 - a broken install: the pure-Python path stays
            available = False
        _preload = "done"

    from ..cooperative import os_thread

    try:
        os_thread(run, "tailboard-preload")
    except RuntimeError:  # no thread to be had: the first big chunk imports it, as before
        _preload = None


def ready():
    """True when a chunk may be converted in bulk now: polars is not being imported by
    ``preload`` (the chunk would wait for it, holding the hub); before any preload the first
    bulk chunk imports it, as it always did."""
    return available and _preload != "loading"


def columns(lines, sep, width):
    """{cell index: (float64 values with NaN where no number, bool mask of cells holding a
    number)} of ``lines`` (each exactly ``width`` cells split by ``sep``, no quotes)."""
    import numpy as np
    import polars as pl

    data = "\n".join(lines).encode("utf-8", "surrogatepass") + b"\n"
    df = pl.read_csv(data, has_header=False, infer_schema=False, quote_char=None, separator=sep,
                     new_columns=[f"c{i}" for i in range(width)],
                     truncate_ragged_lines=False, raise_if_empty=False)
    out = {}
    for i in range(width):
        cells = df.get_column(f"c{i}")
        plain = cells.str.contains(PLAIN).fill_null(False)
        values = cells.cast(pl.Float64, strict=False)
        good = plain & values.is_not_null()
        ys = values.to_numpy().astype(np.float64, copy=True)
        present = good.to_numpy().copy()
        odd = np.flatnonzero(cells.is_not_null().to_numpy() & ~present)
        if len(odd):
            raw = cells.gather(odd).to_list()
            for j, cell in zip(odd.tolist(), raw):
                try:
                    ys[j] = float(cell)
                    present[j] = True
                except ValueError:
                    ys[j] = np.nan
        ys[~present] = np.nan
        out[i] = (ys, present)
    return out
