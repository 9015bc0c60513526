"""Which CSV parser for metrics (issue 13 item 5): today's CsvSource against numpy, pyarrow.csv
and polars on the same Lightning-layout file (sparse: train rows every step, validation rows
every 1,000 steps; CRLF).

    python bench/bench_parsers.py                 # 1,000,000 rows
    python bench/bench_parsers.py --rows 100000

Each candidate produces what the charts need: per metric, the (step, y) points that hold a
value. The parsers that are not installed are skipped (pyarrow and polars are not dependencies;
``pip install pyarrow polars`` to measure them). Prints seconds (best of --repeat) and peak
RSS growth per parser, and checks each gives the points CsvSource gives.
"""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from bench_read_path import machine  # noqa: E402
from bench_scale import TREES, tree  # noqa: E402

from viewer.data.formats.csvmetrics import CsvSource  # noqa: E402

METRICS = ("lr", "train/loss", "val/acc", "val/loss")


def today(path):
    src = CsvSource(path)
    src.refresh()
    return {n: (list(s.step), list(s.y)) for n, s in src.table.series.items()}


def with_numpy(path):
    import numpy as np

    with open(path, "rb") as f:
        f.readline()
        data = f.read()
    # empty cells become NaN: genfromtxt is slow, so split by hand and convert in one call
    text = data.decode().replace("\r", "")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    cells = np.array(",".join(lines).replace(",,", ",nan,").replace(",,", ",nan,").split(","), dtype=object)
    cells[cells == ""] = "nan"
    arr = cells.astype(np.float64).reshape(len(lines), 6)
    step = arr[:, 2]
    out = {}
    for i, n in ((1, "lr"), (3, "train/loss"), (4, "val/acc"), (5, "val/loss")):
        col = arr[:, i]
        keep = ~np.isnan(col)
        out[n] = (step[keep].tolist(), col[keep].tolist())
    return out


def with_pyarrow(path):
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    t = pcsv.read_csv(path)
    step = t.column("step").to_numpy()
    out = {}
    for n in METRICS:
        col = t.column(n)
        keep = pc.is_valid(col).to_numpy(zero_copy_only=False)
        out[n] = (step[keep].astype(float).tolist(), col.to_numpy(zero_copy_only=False)[keep].astype(float).tolist())
    return out


def with_polars(path):
    import polars as pl

    df = pl.read_csv(path, infer_schema_length=0).with_columns(pl.all().cast(pl.Float64, strict=False))
    out = {}
    for n in METRICS:
        sub = df.filter(pl.col(n).is_not_null())
        out[n] = (sub["step"].to_list(), sub[n].to_list())
    return out


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def same(a, b):
    if set(a) != set(b):
        return False
    for n in a:
        (xa, ya), (xb, yb) = a[n], b[n]
        if xa != xb or len(ya) != len(yb):
            return False
        if any(not (p == q or (math.isnan(p) and math.isnan(q))) for p, q in zip(ya, yb)):
            return False
    return True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    print("# machine:", json.dumps(machine()), "load:", os.getloadavg(), flush=True)
    path = os.path.join(tree("big", 1, args.rows), "run00000", "metrics.csv")
    print(f"# {path}: {os.path.getsize(path) / 2**20:.0f} MiB", flush=True)
    ref = None
    rows = []
    for name, fn in (("today (CsvSource, pure Python)", today), ("numpy", with_numpy),
                     ("pyarrow.csv", with_pyarrow), ("polars", with_polars)):
        try:
            before = rss_mb()
            best = math.inf
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                got = fn(path)
                best = min(best, time.perf_counter() - t0)
        except ImportError as e:
            rows.append((name, None, None, f"not installed ({e.name})"))
            continue
        if ref is None:
            ref = got
        rows.append((name, best, rss_mb() - before, "same points" if same(ref, got) else "DIFFERENT points"))
        del got
    print("| parser | seconds (best) | peak RSS growth MB | points |")
    print("| --- | --- | --- | --- |")
    for name, s, mb, note in rows:
        print(f"| {name} | {'-' if s is None else f'{s:.2f}'} | {'-' if mb is None else f'{mb:.0f}'} | {note} |")


if __name__ == "__main__":
    main()
