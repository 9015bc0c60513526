"""TensorBoard event files (issue 14): time to first chart of a 1,000,000-scalar event file, and
write -> event latency for appended records.

    python bench/bench_tfevents.py [--points 1000000] [--appends 100] [--tmp /tmp/tb-bench]

(a) One run folder holding one event file of ``--points`` scalars (4 tags x points/4 steps, as
    tensorboardX writes them: ``simple_value``). In process: the full parse
    (``EventSource.refresh``) beside tensorboard's ``EventAccumulator.Reload()`` (when installed;
    ``size_guidance`` 0 = keep every point). Through the server (``flask run``): start to scan
    done, then the first ``GET /api/runs/<id>/metrics`` (the chart's data: parses the file).
(b) ``gunicorn -k gevent`` (inotify) serving a run with a small event file; ``--appends`` records
    appended 30-50 ms apart, each one ``write()`` of a whole record; an SSE client on
    ``/events?run=<id>`` timestamps each ``metrics`` event: p50/p95/p99 of write -> event.
(c) With ``--tensorboard PATH``: TensorBoard over the file of (a), ``--load_fast true`` (its Rust
    data server) and ``false`` (the Python multiplexer), start to the first
    ``/data/plugin/scalars/scalars`` answer holding the last step.
Prints a table and a final JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [REPO, os.path.join(REPO, "tests")]

from viewer.data.formats import tfevents  # noqa: E402


def event(tag, value, step, wall):
    from tensorboardX.proto import event_pb2, summary_pb2

    return event_pb2.Event(wall_time=wall, step=step, summary=summary_pb2.Summary(
        value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])).SerializeToString()


def write_big(path, points):
    from tensorboardX.proto import event_pb2

    tags = ["train/loss", "train/acc", "val/loss", "lr"]
    t0 = 1_700_000_000.0
    with open(path, "wb") as f:
        f.write(tfevents.frame(event_pb2.Event(wall_time=t0, file_version="brain.Event:2").SerializeToString()))
        buf = []
        for i in range(points // len(tags)):
            for k, tag in enumerate(tags):
                buf.append(tfevents.frame(event(tag, 1.0 / (i + k + 1), i, t0 + i * 0.01)))
            if len(buf) > 20000:
                f.write(b"".join(buf))
                buf = []
        f.write(b"".join(buf))


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def start_flask(root, timeout=900):
    """``flask run`` over ``root``, returned once its first scan is done (which parses the file)."""
    import subprocess

    import requests
    from conftest import free_port

    port = free_port()
    env = {**os.environ, "VIEWER_ROOT": root}
    proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "run", "--port", str(port)],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if requests.get(url + "/healthz", timeout=5).json()["scan"]["phase"] == "done":
                return proc, url
        except (requests.ConnectionError, requests.Timeout, ValueError, KeyError):
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("flask did not finish its scan")


def bench_big(tmp, args, fig):
    import requests

    root = os.path.join(tmp, "big")
    run = os.path.join(root, "tb")
    os.makedirs(run, exist_ok=True)
    path = os.path.join(run, "events.out.tfevents.1700000000.bench.1.0")
    if not os.path.exists(path):
        t = time.perf_counter()
        write_big(path, args.points)
        print(f"wrote {args.points:,} scalars in {time.perf_counter() - t:.1f} s")
    fig["file_mb"] = round(os.path.getsize(path) / 1e6, 1)
    t = time.perf_counter()
    src = tfevents.EventSource(run, [os.path.basename(path)])
    src.refresh()
    fig["parse_inprocess_s"] = round(time.perf_counter() - t, 2)
    assert sum(len(s) for s in src.table.series.values()) == args.points
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError:
        pass
    else:
        t = time.perf_counter()
        ea = EventAccumulator(run, size_guidance={"scalars": 0})
        ea.Reload()
        fig["tensorboard_event_accumulator_s"] = round(time.perf_counter() - t, 2)
        assert sum(len(ea.Scalars(tag)) for tag in ea.Tags()["scalars"]) == args.points
    t = time.perf_counter()
    proc, url = start_flask(root)
    try:
        fig["server_start_to_scan_done_s"] = round(time.perf_counter() - t, 2)
        t1 = time.perf_counter()
        r = requests.get(url + "/api/runs/tb/metrics", timeout=600)
        fig["first_metrics_get_s"] = round(time.perf_counter() - t1, 2)
        fig["time_to_first_chart_s"] = round(time.perf_counter() - t, 2)
        assert len(r.json()["series"]) == 4
        t1 = time.perf_counter()
        requests.get(url + "/api/runs/tb/metrics", timeout=600)
        fig["next_metrics_get_s"] = round(time.perf_counter() - t1, 3)
    finally:
        proc.terminate()
        proc.wait(30)


def bench_tensorboard(tmp, args, fig):
    """TensorBoard over the same file: start to the first answer that holds the last step."""
    import socket
    import subprocess

    import requests

    last = args.points // 4 - 1
    for mode in ("true", "false"):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        t = time.perf_counter()
        proc = subprocess.Popen([args.tensorboard, "--logdir", os.path.join(tmp, "big"), "--host", "127.0.0.1",
                                 "--port", str(port), "--load_fast", mode, "--reload_interval", "1"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while time.perf_counter() - t < 600:
                try:
                    r = requests.get(f"http://127.0.0.1:{port}/data/plugin/scalars/scalars",
                                     params={"run": "tb", "tag": "lr"}, timeout=5)
                    if r.status_code == 200 and r.json() and r.json()[-1][1] == last:
                        fig[f"tensorboard_load_fast_{mode}_first_chart_s"] = round(time.perf_counter() - t, 2)
                        break
                except (requests.ConnectionError, requests.Timeout, ValueError):
                    pass
                time.sleep(0.1)
        finally:
            proc.terminate()
            proc.wait(30)


def bench_live(tmp, args, fig):
    from live_clients import SSE, start_server, stop_server

    root = os.path.join(tmp, "live")
    shutil.rmtree(root, ignore_errors=True)
    run = os.path.join(root, "tb")
    os.makedirs(run)
    path = os.path.join(run, "events.out.tfevents.1700000000.bench.2.0")
    with open(path, "wb") as f:
        f.write(tfevents.frame(event("loss", 1.0, 0, time.time())))
    proc, url = start_server(args.server, root)
    lat = []
    try:
        sse = SSE(url, "/events?run=tb")
        time.sleep(1.0)
        for i in range(1, args.appends + 1):
            rec = tfevents.frame(event("loss", 1.0 / (i + 1), i, time.time()))
            with open(path, "ab") as f:
                t = time.perf_counter()
                f.write(rec)
            sse.next("metrics", timeout=10, where=lambda e, i=i: i in json.loads(e["data"])
                     .get("series", {}).get("loss", {}).get("step", []))
            lat.append((time.perf_counter() - t) * 1000)
            time.sleep(random.uniform(0.03, 0.05))
        sse.close()
    finally:
        stop_server(proc)
    fig["write_to_event_ms"] = {"server": args.server, "n": len(lat), "p50": round(pct(lat, 50), 1),
                                "p95": round(pct(lat, 95), 1), "p99": round(pct(lat, 99), 1),
                                "mean": round(statistics.mean(lat), 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--appends", type=int, default=100)
    ap.add_argument("--server", default="gunicorn", choices=("gunicorn", "flask"))
    ap.add_argument("--tmp", default="/tmp/tailboard-bench-tfevents")
    ap.add_argument("--skip", choices=("big", "live"))
    ap.add_argument("--tensorboard", help="a tensorboard executable (2.21): time its first chart of the same file")
    args = ap.parse_args()
    os.makedirs(args.tmp, exist_ok=True)
    fig = {}
    if args.skip != "big":
        bench_big(args.tmp, args, fig)
        print(json.dumps(fig), flush=True)
        if args.tensorboard:
            bench_tensorboard(args.tmp, args, fig)
    if args.skip != "live":
        bench_live(args.tmp, args, fig)
    for k, v in fig.items():
        print(f"{k:40s} {v}")
    print(json.dumps(fig))


if __name__ == "__main__":
    main()
