"""Parallel coordinates benchmark: 20 runs x 10 axes on the compare page's Parallel tab, in
Debian's chromium (Playwright) against the real server; the brush handler's time per move.

    python bench/bench_pcoords.py                 # about 30 s on 2 cores
    python bench/bench_pcoords.py --moves 50      # fewer moves

A brush is dragged along the first axis in ``--moves`` pointer moves (then along a second axis,
so two brushes are tested together). Each move runs the plot's brush handler
(``PcPlot.brushMove``: set the brush, test every run against every brush, restyle the lines,
move the brush's band, update the count), timed in the page with ``performance.now()`` and read
back as ``lastBrushMs``; the paint that follows is the browser's. Prints figures only (no
pass/fail): a table, then one line of JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from urllib.parse import urlencode

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_read_path import Server  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
TARGET = 100.0   # ms per brush move


def write_runs(root, n):
    """``n`` spt-like runs (sidecar + metrics.csv): 7 hparams (lr over 4 decades, text, bool),
    3 metrics of 500 steps. Returns their ids."""
    ids, rng = [], random.Random(0)
    for i in range(n):
        rid = f"sweep/run{i:02d}"
        d = os.path.join(root, rid)
        os.makedirs(d, exist_ok=True)
        hp = {"lr": 10 ** rng.uniform(-5, -1), "wd": rng.choice([0, 1e-4, 1e-2]), "opt": rng.choice(["adam", "sgd", "lion"]),
              "amp": rng.random() < 0.5, "depth": rng.choice([2, 4, 8, 16]), "width": rng.choice([128, 256, 512]),
              "dropout": round(rng.uniform(0, 0.5), 2)}
        with open(os.path.join(d, "sidecar.json"), "w") as f:
            json.dump({"schema_version": 1, "run_id": rid, "status": "completed", "created_at": 1.7e9,
                       "updated_at": 1.7e9 + 60, "hparams": hp}, f)
        with open(os.path.join(d, "metrics.csv"), "w") as f:
            f.write("step,train/loss,val/loss,val/acc\n")
            for s in range(500):
                f.write(f"{s},{2 * 0.99 ** s + rng.random() * 0.1},{2.2 * 0.99 ** s + rng.random() * 0.1},{1 - 0.99 ** s}\n")
        ids.append(rid)
    return ids


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def brush(page, key, moves, times):
    grab = page.locator(f".pc-axis[data-key='{key}'] .pc-grab").bounding_box()
    x, top, h = grab["x"] + grab["width"] / 2, grab["y"] + 12, grab["height"] - 24
    page.mouse.move(x, top)
    page.mouse.down()
    for k in range(1, moves + 1):
        page.mouse.move(x, top + h * (0.05 + 0.6 * k / moves))
        ms = page.evaluate("Array.from(window.tailboard.pcoords.values())[0].plot.lastBrushMs")
        if ms is not None:
            times.append(ms)
    page.mouse.up()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--moves", type=int, default=100)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "runs")
        ids = write_runs(root, args.runs)
        server = Server("flask", root, os.path.join(tmp, "server.log"))
        try:
            server.wait_scan()
            url = server.url("/compare?" + urlencode([("run", r) for r in ids] + [("tab", "pcoords")]))
            with sync_playwright() as p:
                b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = b.new_context(viewport={"width": 1400, "height": 900}).new_page()
                page.goto(url)
                page.wait_for_selector(".pc-axis")
                n_axes = page.locator(".pc-axis").count()
                keys = page.locator(".pc-axis").evaluate_all("gs => gs.map(g => g.dataset.key)")
                times = []
                brush(page, keys[0], args.moves, times)
                brush(page, keys[-1], args.moves, times)
                shown = page.locator(".pc-plot").get_attribute("data-highlighted")
                b.close()
        finally:
            server.stop()
    print(f"parallel coordinates: {args.runs} runs x {n_axes} axes, {len(times)} brush moves "
          f"(two brushes), {shown} runs left highlighted")
    print("| brush handler | median | p95 | max | target |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| ms per move | {pct(times, 0.5):.2f} | {pct(times, 0.95):.2f} | {max(times):.2f} | < {TARGET:.0f} |")
    print(json.dumps({"runs": args.runs, "axes": n_axes, "moves": len(times), "median_ms": round(pct(times, 0.5), 3),
                      "p95_ms": round(pct(times, 0.95), 3), "max_ms": round(max(times), 3)}))


if __name__ == "__main__":
    main()
