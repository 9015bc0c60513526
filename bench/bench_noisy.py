"""Noisy neighbour: while one client makes an expensive request, how fast is everyone else served?

    python bench/bench_noisy.py            # about 3 minutes on 2 cores, ~500 MB of disk in a tmp dir
    python bench/bench_noisy.py --keep     # keep the tree (path on stderr)

One ``gunicorn -k gevent`` worker (``gunicorn.conf.py``, 1 worker) serves a tree built for the
expensive requests the security review timed (issue 17): a compare table of 10 runs x 30,000
metrics, ``metrics?points=100000`` on a 500,000-row run, a media panel of 300,000 items, a run
page and a raw tail of a 47 MB ANSI log, a 200 MB plain log asked for whole, a backtracking regex.
Each request runs alone in a thread while a second client asks ``/healthz`` every 50 ms and a
third holds an SSE stream (heartbeat 0.5 s). Printed per request: its time and size, the
neighbour's /healthz p50/p99/max and the longest gap between two SSE messages. Target from the
issue: /healthz p99 under 200 ms while any one request runs. Figures only, no pass/fail.
"""
from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from urllib.parse import urlparse

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import make_runs  # noqa: E402

HEALTH_EVERY = 0.05
TARGET_P99 = 0.200


def ms(v):
    return "      -" if v is None else f"{v * 1000:7.1f} ms"


def pct(values, p):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]


# -- the tree --------------------------------------------------------------------------------


def spt(root, rel, **side):
    d = os.path.join(root, rel)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "sidecar.json"), "w") as f:
        json.dump({"run_id": os.path.basename(d), "status": "completed", "created_at": time.time() - 3600,
                   "tags": [], "hparams": {"lr": 0.1}, **side}, f)
    return d


def build_wide(root):
    names = [f"p{i:05d}" for i in range(30_000)]  # short: a CSV line over 512 KiB is skipped as hostile
    for r in range(10):
        d = spt(root, f"wide/r{r}")
        with open(os.path.join(d, "metrics.csv"), "w") as f:
            f.write("step," + ",".join(names) + "\n")
            f.write("0," + ",".join(f"{(r + 1) * (i % 97) / 97:.4f}" for i in range(30_000)) + "\n")


def build(root):
    build_wide(root)  # 10 runs x 30,000 metrics (one row each): the compare table
    # a 500,000-row run
    d = spt(root, "long/run")
    make_runs.write_big_csv(os.path.join(d, "metrics.csv"), 500_000)
    # 300,000 media items
    d = spt(root, "media/run")
    with open(os.path.join(d, "media.jsonl"), "w") as f:
        for i in range(300_000):
            f.write(json.dumps({"step": i, "tag": f"samples/{i % 7}", "type": "image",
                                "path": f"media/s/{i:08d}.png", "caption": f"step {i}"}) + "\n")
    # a 47 MB ANSI log and a 200 MB plain log
    d = spt(root, "logs/run")
    line = "\x1b[32mINFO\x1b[0m epoch \x1b[1m{:7d}\x1b[0m loss \x1b[33m{:.5f}\x1b[0m " + "x" * 40 + "\n"
    with open(os.path.join(d, "train.out"), "w") as f:
        n = 0
        while f.tell() < 47e6:
            f.write("".join(line.format(n + i, 1 / (n + i + 1)) for i in range(10_000)))
            n += 10_000
    plain = ("step {:9d} " + "y" * 60 + "\n")
    with open(os.path.join(d, "train.err"), "w") as f:
        n = 0
        while f.tell() < 200e6:
            f.write("".join(plain.format(n + i) for i in range(50_000)))
            n += 50_000
    # the regex target: long single-line fields in a few hundred ordinary runs
    for r in range(200):
        spt(root, f"many/r{r:03d}", tags=["t" * 40], hparams={"model.name": "m" * 40 + str(r)})


REQUESTS = [
    ("compare 10 runs x 30,000 metrics", "/compare?" + "&".join(f"run=wide/r{i}" for i in range(10)) + "&tab=table"),
    ("metrics points=100000, 500k rows", "/api/runs/long/run/metrics?points=100000"),
    ("media panel, 300,000 items", "/-/partials/media?run=media/run"),
    ("run page, logs tab (47 MB ANSI log)", "/runs/logs/run?tab=logs"),
    ("log partial bytes=10^12 (47 MB ANSI)", "/-/partials/log?run=logs/run&stream=train.out&bytes=1000000000000"),
    ("API tail bytes=2^30 (200 MB plain)", "/api/runs/logs/run/logs/train.err?bytes=1073741824"),
    ("regex ^(.|.)*! over 200 runs", "/api/runs?regex=1&q=%5E(.%7C.)*!"),
]


# -- the server ------------------------------------------------------------------------------


def start(root, port):
    import subprocess

    env = {**os.environ, "VIEWER_ROOT": root, "VIEWER_HEARTBEAT": "0.5", "WEB_CONCURRENCY": "1"}
    gunicorn = shutil.which("gunicorn") or os.path.join(os.path.dirname(sys.executable), "gunicorn")
    proc = subprocess.Popen([gunicorn, "-c", "gunicorn.conf.py", "-w", "1", "-t", "120", "-b", f"127.0.0.1:{port}",
                             "app:create_app()"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            if requests.get(url + "/healthz", timeout=2).json()["scan"]["phase"] == "done":
                return proc, url
        except (requests.RequestException, ValueError, KeyError):
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start")


class Neighbours:
    """A /healthz poller and an SSE listener, measuring while ``active`` is set."""

    def __init__(self, url):
        self.url, self.stop = url, threading.Event()
        self.health, self.gaps = [], []
        threading.Thread(target=self._health, daemon=True).start()
        threading.Thread(target=self._sse, daemon=True).start()

    def reset(self):
        self.health, self.gaps = [], []

    def _health(self):
        s = requests.Session()
        while not self.stop.is_set():
            t = time.monotonic()
            try:
                s.get(self.url + "/healthz", timeout=60)
                self.health.append(time.monotonic() - t)
            except requests.RequestException:
                self.health.append(60.0)
            time.sleep(max(0.0, HEALTH_EVERY - (time.monotonic() - t)))

    def _sse(self):
        u = urlparse(self.url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        conn.request("GET", "/events")
        resp = conn.getresponse()
        last = time.monotonic()
        while not self.stop.is_set():
            if not resp.read1(65536):
                break
            now = time.monotonic()
            self.gaps.append(now - last)
            last = now


def measure(url, neighbours, path):
    time.sleep(1.0)
    neighbours.reset()
    t, size, status = time.monotonic(), 0, None
    try:
        with requests.get(url + path, stream=True, timeout=120) as r:
            status = r.status_code
            for chunk in r.iter_content(1 << 20):
                size += len(chunk)
    except requests.RequestException as e:
        status = type(e).__name__
    took = time.monotonic() - t
    time.sleep(0.3)
    h, g = list(neighbours.health), list(neighbours.gaps)
    return {"status": status, "seconds": took, "bytes": size, "healthz_p50": pct(h, 50), "healthz_p99": pct(h, 99),
            "healthz_max": max(h) if h else None, "sse_max_gap": max(g) if g else None}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keep", action="store_true", help="keep the generated tree")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--only", default="", help="run only the requests whose label holds this text")
    ap.add_argument("--tree", help="reuse a tree kept by an earlier --keep run")
    args = ap.parse_args(argv)
    root = args.tree or tempfile.mkdtemp(prefix="tailboard-noisy-")
    try:
        if not args.tree:
            t = time.monotonic()
            build(root)
            print(f"tree built in {time.monotonic() - t:.1f} s under {root}", file=sys.stderr)
        proc, url = start(root, args.port)
        try:
            neighbours = Neighbours(url)
            results = {}
            for label, path in REQUESTS:
                if args.only not in label:
                    continue
                results[label] = measure(url, neighbours, path)
                r = results[label]
                print(f"{label:40s} {str(r['status']):>4} {r['seconds']:7.2f} s {r['bytes'] / 1e6:8.1f} MB   "
                      f"healthz p50 {ms(r['healthz_p50'])}  p99 {ms(r['healthz_p99'])}  max {ms(r['healthz_max'])}"
                      f"   SSE max gap {ms(r['sse_max_gap'])}", flush=True)
            neighbours.stop.set()
            worst = max((r["healthz_p99"] or 0) for r in results.values())
            print(f"worst /healthz p99 {ms(worst)} (target {ms(TARGET_P99)})")
            print(json.dumps({"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                          "python": platform.python_version()}, "results": results}))
        finally:
            proc.terminate()
            proc.wait(30)
    finally:
        if args.keep or args.tree:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
