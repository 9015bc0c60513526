"""First chart of a big run after a server start (issue 13 item 2), side by side with spt web.

    python bench/bench_first_chart.py                        # the 1,000,000-row spt run, 3 starts each
    python bench/bench_first_chart.py --rows 200000 --repeat 1 --peers tailboard

Serves a tree holding one spt run of ``--rows`` rows (bench_scale.py's generator, cached under
/tmp/tailboard-peers/trees) with each peer as it is served (Tailboard: ``gunicorn -c
gunicorn.conf.py``, one gevent worker, no cache folder so every start is cold), waits until
the run is listed, then measures from the request:

- ``first_chart_s``: the first answer a chart can draw. Tailboard: what the page asks,
  ``/api/runs/<id>/metrics?coarse=1`` (a sample of the file while it is parsed in the
  background); spt web: ``/api/metrics?run_id=``.
- ``full_s``: Tailboard's full-resolution answer, asked right after (the chart's refinement);
  it waits for the background parse.
- ``before_s``: Tailboard with ``VIEWER_COARSE_MB=0``: the first answer is the full parse (the
  behaviour before this change).
- ``healthz_max_ms``: the slowest of the ``/healthz`` requests sent every 20 ms from the first
  request to the full answer (another user's wait while the big run is parsed).

Prints the median of ``--repeat`` starts per figure, the ratio spt/Tailboard, and a JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from urllib.parse import quote

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_read_path import machine  # noqa: E402
from bench_scale import get, listed, tree  # noqa: E402
from compare import Served, TailboardPeer, stop_all, wait_until  # noqa: E402
from peer_spt import SptPeer, http_get  # noqa: E402


class Pinger(threading.Thread):
    """``/healthz`` every 20 ms until stopped; ``worst`` is the slowest answer in seconds."""

    def __init__(self, base):
        super().__init__(daemon=True)
        self.base, self.worst, self.done = base, 0.0, threading.Event()

    def run(self):
        while not self.done.is_set():
            t0 = time.perf_counter()
            http_get(self.base, "/healthz")
            self.worst = max(self.worst, time.perf_counter() - t0)
            self.done.wait(0.02)


def timed(peer, path):
    t0 = time.perf_counter()
    body = get(peer, path)
    return time.perf_counter() - t0, body


def tailboard_once(root, coarse_mb):
    os.environ["VIEWER_COARSE_MB"] = str(coarse_mb)
    peer = TailboardPeer()
    out = {}
    with Served(peer, root):
        _s, ids = wait_until(lambda: listed(peer, 1), timeout=600, every=0.02)
        time.sleep(1.0)  # the server idle after its first scan, as a user arriving finds it
        url = f"/api/runs/{quote(ids[0])}/metrics"
        pinger = Pinger(peer.base)
        pinger.start()
        first, body = timed(peer, url + "?coarse=1")
        out["first_chart_s"] = first
        out["coarse"] = bool(json.loads(body).get("coarse"))
        out["first_points"] = json.loads(body)["series"]["train/loss"]["count"]
        full, body = timed(peer, url)
        out["full_s"] = first + full
        out["full_points"] = json.loads(body)["series"]["train/loss"]["count"]
        pinger.done.set()
        pinger.join()
        out["healthz_max_ms"] = pinger.worst * 1000
    return out


def spt_once(root):
    peer = SptPeer()
    peer.setup()
    with Served(peer, root):
        _s, ids = wait_until(lambda: listed(peer, 1), timeout=600, every=0.02)
        time.sleep(1.0)
        first, _body = timed(peer, "/api/metrics?run_id=" + quote(ids[0], safe=""))
    return {"first_chart_s": first}


def median(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--peers", default="tailboard,spt")
    args = ap.parse_args(argv)
    os.environ["VIEWER_CACHE_DIR"] = "off"  # cold starts: no column cache shared between them
    print("# machine:", json.dumps(machine()), flush=True)
    print(f"# load average: {os.getloadavg()}", flush=True)
    root = tree("big", 1, args.rows)
    size = os.path.getsize(os.path.join(root, "run00000", "metrics.csv"))
    results = {}
    try:
        peers = args.peers.split(",")
        if "tailboard" in peers:
            now = [tailboard_once(root, 4) for _ in range(args.repeat)]
            before = [tailboard_once(root, 0) for _ in range(args.repeat)]
            results["tailboard"] = {"runs": now, "before": before}
            print("# tailboard:", json.dumps(now), flush=True)
            print("# tailboard, VIEWER_COARSE_MB=0:", json.dumps(before), flush=True)
        if "spt" in peers:
            results["spt"] = {"runs": [spt_once(root) for _ in range(args.repeat)]}
            print("# spt:", json.dumps(results["spt"]["runs"]), flush=True)
    finally:
        stop_all()
        os.environ.pop("VIEWER_COARSE_MB", None)
    tb, spt = results.get("tailboard"), results.get("spt")
    print(f"| {args.rows:,} rows ({size / 2**20:.0f} MiB), median of {args.repeat} cold starts | seconds |")
    print("| --- | --- |")
    if tb:
        print(f"| Tailboard, first chart (coarse sample) | {median(tb['runs'], 'first_chart_s'):.3f} |")
        print(f"| Tailboard, full resolution after it | {median(tb['runs'], 'full_s'):.3f} |")
        print(f"| Tailboard before (VIEWER_COARSE_MB=0: full parse first) | {median(tb['before'], 'first_chart_s'):.3f} |")
        print(f"| Tailboard, slowest /healthz meanwhile | {median(tb['runs'], 'healthz_max_ms') / 1000:.3f} |")
    if spt:
        print(f"| spt web, first chart | {median(spt['runs'], 'first_chart_s'):.3f} |")
    if tb and spt:
        ratio = median(spt["runs"], "first_chart_s") / median(tb["runs"], "first_chart_s")
        print(f"# spt/Tailboard first chart: {ratio:.1f}x")
    print(json.dumps({"rows": args.rows, "bytes": size, "results": results}))


if __name__ == "__main__":
    main()
