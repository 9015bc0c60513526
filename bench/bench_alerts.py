"""How fast an alert arrives: a row written -> the ``alert`` event in an open page, and -> the
webhook's POST received (issue 16: p95 <= 100 ms and <= 1 s).

    python bench/bench_alerts.py                  # 40 alerts, 1 s apart: ~1 min
    python bench/bench_alerts.py --alerts 100 --runs 1000

The real ``gunicorn -c gunicorn.conf.py`` (one gevent worker, inotify) over one Lightning-style
run (plus ``--runs`` small ones), ``VIEWER_ALERT_WEBHOOK`` pointing at a loopback HTTP server
of this script, one SSE client on the overview's stream (what the bell listens to). Each round
appends a NaN row (the built-in ``nan`` rule fires), waits for both arrivals, then a finite row
(the condition is left, so the next NaN fires again). Times are from the write's return.
Prints p50/p95/max of both, then one JSON line. The CPU per appended row with and without
rules is ``bench_row_cost.py --rules 100 --runs 1000`` against ``--alerts off``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_read_path import Server, code_version, machine  # noqa: E402
from bench_row_cost import write_small_runs  # noqa: E402

REPO = os.path.dirname(HERE)


class Arrivals:
    """Times (perf_counter) at which each alert id arrived, by step."""

    def __init__(self):
        self.at = {}
        self.cond = threading.Condition()

    def note(self, step):
        with self.cond:
            self.at.setdefault(step, time.perf_counter())
            self.cond.notify_all()

    def wait(self, step, timeout):
        with self.cond:
            self.cond.wait_for(lambda: step in self.at, timeout)
            return self.at.get(step)


def hook_server(arrivals):
    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            arrivals.note(body["alert"]["step"])
            self.send_response(200)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def read_events(base, arrivals, stop):
    resp = requests.get(base + "/events", stream=True, timeout=(10, 600))
    name = None
    try:
        for line in resp.iter_lines(decode_unicode=True):
            if stop.is_set():
                break
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and name == "alert":
                arrivals.note(json.loads(line[6:])["step"])
    except Exception:  # noqa: BLE001 - closed at the end
        pass


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--alerts", type=int, default=40)
    ap.add_argument("--every", type=float, default=1.0, help="seconds between alerts")
    ap.add_argument("--runs", type=int, default=0, help="small runs beside the one that alerts")
    args = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="tailboard-alerts-")
    root = os.path.join(tmp, "runs")
    run = os.path.join(root, "watched")
    os.makedirs(run)
    csv = os.path.join(run, "metrics.csv")
    with open(csv, "w") as f:
        f.write("step,train/loss\n" + "".join(f"{i},{1 / (1 + i):.5f}\n" for i in range(100)))
    write_small_runs(root, args.runs)
    page, hook = Arrivals(), Arrivals()
    hsrv = hook_server(hook)
    srv = Server("gunicorn", root, os.path.join(tmp, "server.log"), VIEWER_CACHE_DIR=os.path.join(tmp, "cache"),
                 VIEWER_ALERT_WEBHOOK=f"http://127.0.0.1:{hsrv.server_port}/hook")
    stop = threading.Event()
    to_page, to_hook, missed = [], [], 0
    try:
        srv.wait_scan()
        threading.Thread(target=read_events, args=(srv.base, page, stop), daemon=True).start()
        time.sleep(1.5)  # the stream is open
        step = 1000
        for _ in range(args.alerts):
            step += 2
            with open(csv, "a") as f:
                f.write(f"{step},nan\n")
            t0 = time.perf_counter()
            p, h = page.wait(step, 10), hook.wait(step, 10)
            if p is None or h is None:
                missed += 1
            else:
                to_page.append((p - t0) * 1e3)
                to_hook.append((h - t0) * 1e3)
            with open(csv, "a") as f:
                f.write(f"{step + 1},0.5\n")
            time.sleep(args.every)
    finally:
        stop.set()
        srv.stop()
        hsrv.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    fig = {"alerts": args.alerts, "runs": args.runs + 1, "missed": missed,
           "page_ms": {"p50": pct(to_page, 50), "p95": pct(to_page, 95), "max": max(to_page, default=None)},
           "webhook_ms": {"p50": pct(to_hook, 50), "p95": pct(to_hook, 95), "max": max(to_hook, default=None)}}
    print(f"{args.alerts} NaN rows written, {missed} missed, {args.runs + 1} runs")
    for key, label in (("page_ms", "write -> alert event in an open page"), ("webhook_ms", "write -> webhook POST received")):
        f = fig[key]
        print(f"  {label:40s} p50 {f['p50']:.1f} ms  p95 {f['p95']:.1f} ms  max {f['max']:.1f} ms")
    print(json.dumps({"machine": machine(), "code": code_version(REPO), "figures": fig}, sort_keys=True))
    return 0 if not missed else 1


if __name__ == "__main__":
    sys.exit(main())
