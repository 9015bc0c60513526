"""Downsampling cost (issue 13 item 5): 1,000,000 points to 2,000 buckets, in process.

    python bench/bench_downsample.py [--n 1000000] [--points 2000] [--repeat 5]

Times ``viewer.data.downsample.downsample`` on a 1M-point series held as ``array('d')`` (what
the parsers give): the whole series (a ``range``), a zoom's index list of half of it, the
same with 1% NaN and a few infinities, and (when the module has it) log-x buckets. Prints the
best of ``--repeat`` runs per case, in milliseconds, and a JSON line.
"""
from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import random
import sys
import time
from array import array

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from viewer.data.downsample import downsample  # noqa: E402


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times) * 1000


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--points", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    rng = random.Random(0)
    n = args.n
    xs = array("d", range(n))
    ys = array("d", (2.5 / (1 + i * 1e-3) + rng.random() * 1e-2 for i in range(n)))
    dirty = array("d", ys)
    for i in rng.sample(range(n), n // 100):
        dirty[i] = math.nan
    for i in rng.sample(range(n), 10):
        dirty[i] = rng.choice([math.inf, -math.inf])
    half = list(range(n // 4, 3 * n // 4))
    cases = {
        "range": lambda: downsample(xs, ys, range(n), args.points),
        "index_list_half": lambda: downsample(xs, ys, half, args.points),
        "range_nan_inf": lambda: downsample(xs, dirty, range(n), args.points),
    }
    if "xscale" in inspect.signature(downsample).parameters:
        cases["range_log_x"] = lambda: downsample(xs, ys, range(n), args.points, xscale="log")
    out = {name: round(best(fn, args.repeat), 1) for name, fn in cases.items()}
    print(f"# load average: {os.getloadavg()}")
    for name, ms in out.items():
        print(f"{name}: {ms} ms")
    print(json.dumps({"n": n, "points": args.points, "ms": out}))


if __name__ == "__main__":
    main()
