"""Where the server CPU of one appended row goes: the gevent worker against the watch process.

    python bench/bench_row_cost.py                 # 1,000,000-row spt run, 200 appends: ~1.5 min
    python bench/bench_row_cost.py --rows 100000 --appends 100
    python bench/bench_row_cost.py --rows 100000 --runs 1000 --rules 100    # alert rules' cost
    python bench/bench_row_cost.py --rows 100000 --runs 1000 --alerts off   # ... against none
    python bench/bench_row_cost.py --rows 100000 --appends 100 --workers 3   # VIEWER_CACHE_DIR=off: unshared

One spt run folder (``sidecar.json`` + Lightning ``metrics.csv`` of ``--rows`` rows) under the
real ``gunicorn -c gunicorn.conf.py`` (one gevent worker, inotify), one SSE client on the run's
page stream. After the first answer, the worker's idle CPU is measured for ``--idle`` seconds;
then ``--appends`` one-row appends, ``--every`` seconds apart, each waited for as a ``metrics``
event. Prints CPU per row for the worker (net of its idle rate) and for the watch process
(``viewer/live/watchproc.py``), from ``/proc/<pid>/stat``, then one JSON line. Profile the worker
with ``py-spy record -p <pid>`` (its pid is printed) if you want the split inside it.

``--runs N`` adds N small runs beside it (a tree of that size: status rules look at each run a
batch touches); ``--rules N`` writes a rules file of N user rules (thresholds on the big run's
metrics, half of them scoped with a runs-table query) for ``VIEWER_ALERTS``; ``--alerts off``
measures without any rule (``VIEWER_ALERTS=off``), the baseline of issue 16's "at most 10%".

With ``--workers N`` the figures are summed over every worker and every watch process.
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

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_live import children, cmdline, cpu_seconds  # noqa: E402
from bench_read_path import Server, code_version, machine  # noqa: E402

REPO = os.path.dirname(HERE)
HEADER = "epoch,lr,step,train/loss\n"


def write_small_runs(root, n):
    """``n`` small Lightning-style runs (50 rows each) beside the big one."""
    for k in range(n):
        d = os.path.join(root, "small", f"run{k:04d}")
        os.makedirs(d)
        with open(os.path.join(d, "metrics.csv"), "w") as f:
            f.write("step,train/loss,val/acc\n" + "".join(f"{i},{1 / (1 + i):.5f},{i / 100:.3f}\n" for i in range(50)))
        with open(os.path.join(d, "hparams.yaml"), "w") as f:
            f.write(f"lr: {0.001 * (1 + k % 7)}\n")


def write_rules(path, n):
    """``n`` user rules that never fire on this data (each still judges every point)."""
    with open(path, "w") as f:
        for k in range(n):
            metric = ("train/loss", "lr")[k % 2]
            f.write(f'[[rule]]\nname = "r{k}"\nwhen = "{metric} > {1000 + k} for {1 + k % 3} consecutive points"\n')
            if k % 2:
                f.write('runs = "f=hp:optim.lr<=0.01&q=big"\n')
            f.write("\n")


def write_run(root, rows):
    run = os.path.join(root, "big")
    os.makedirs(run)
    now = time.time()
    with open(os.path.join(run, "sidecar.json"), "w") as f:
        json.dump({"run_id": "big", "status": "running", "created_at": now, "updated_at": now,
                   "hparams": {"optim.lr": 1e-4}}, f)
    with open(os.path.join(run, "metrics.csv"), "w") as f:
        f.write(HEADER)
        block = []
        for i in range(rows):
            block.append(f"{i // 1000},0.0001,{i},{2.5 / (1 + i / 1000):.6f}\n")
            if len(block) == 10000:
                f.write("".join(block))
                block = []
        f.write("".join(block))
    return os.path.join(run, "metrics.csv")


class Events:
    """The run page's stream: the newest step each ``metrics`` event carried."""

    def __init__(self, base):
        self.steps = []
        self.cond = threading.Condition()
        self.resp = requests.get(base + "/events?run=big", stream=True, timeout=(10, 600))
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        name = None
        try:
            for line in self.resp.iter_lines(decode_unicode=True):
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: ") and name == "metrics":
                    s = json.loads(line[6:])["series"].get("train/loss")
                    if s and s["step"]:
                        with self.cond:
                            self.steps.append(s["step"][-1])
                            self.cond.notify_all()
        except Exception:  # noqa: BLE001 - close() from the main thread ends the read any which way
            pass

    def wait_for(self, step, timeout):
        with self.cond:
            return self.cond.wait_for(lambda: self.steps and self.steps[-1] >= step, timeout)

    def close(self):
        self.resp.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--appends", type=int, default=200)
    ap.add_argument("--every", type=float, default=0.1, help="seconds between appends")
    ap.add_argument("--idle", type=float, default=20.0, help="seconds of idle CPU measured first")
    ap.add_argument("--runs", type=int, default=0, help="small runs beside the big one")
    ap.add_argument("--rules", type=int, default=0, help="user alert rules (a VIEWER_ALERTS file)")
    ap.add_argument("--alerts", choices=("on", "off"), default="on", help="off: VIEWER_ALERTS=off")
    ap.add_argument("--workers", type=int, default=1, help="gunicorn workers")
    args = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="tailboard-rowcost-")
    root = os.path.join(tmp, "runs")
    t = time.perf_counter()
    csv = write_run(root, args.rows)
    write_small_runs(root, args.runs)
    print(f"wrote {args.rows:,} rows and {args.runs} small runs in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    env = {"VIEWER_CACHE_DIR": os.environ.get("VIEWER_CACHE_DIR") or os.path.join(tmp, "cache")}  # "off": unshared
    if args.alerts == "off":
        env["VIEWER_ALERTS"] = "off"
    elif args.rules:
        env["VIEWER_ALERTS"] = os.path.join(tmp, "alerts.toml")
        write_rules(env["VIEWER_ALERTS"], args.rules)
    env["WEB_CONCURRENCY"] = str(args.workers)
    srv = Server("gunicorn", root, os.path.join(tmp, "server.log"), **env)
    try:
        deadline = time.time() + 600
        while time.time() < deadline:
            srv.check()
            try:
                if srv.http.get(srv.url("/api/runs/big/metrics?names=train%2Floss"), timeout=600).ok:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        events = Events(srv.base)
        time.sleep(1.0)
        workers = children(srv.proc.pid)
        c0, t0 = sum(map(cpu_seconds, workers)), time.perf_counter()
        time.sleep(args.idle)
        idle_rate = (sum(map(cpu_seconds, workers)) - c0) / (time.perf_counter() - t0)
        watch = [p for w in workers for p in children(w) if "watchproc" in cmdline(p)]
        print(f"worker pids {workers}, watch processes {watch}", file=sys.stderr)
        w0, p0 = sum(map(cpu_seconds, workers)), sum(map(cpu_seconds, watch))
        t0, seen, step = time.perf_counter(), 0, args.rows + 10
        for i in range(args.appends):
            time.sleep(max(0.0, t0 + i * args.every - time.perf_counter()))
            step += 1
            with open(csv, "a") as f:
                f.write(f"0,0.0001,{step},1.5\n")
            seen += bool(events.wait_for(step, 30))
        dur = time.perf_counter() - t0
        w1, p1 = sum(map(cpu_seconds, workers)), sum(map(cpu_seconds, watch))
        events.close()
    finally:
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    fig = {"rows": args.rows, "appends": args.appends, "runs": args.runs, "rules": args.rules, "alerts": args.alerts, "seen": seen, "seconds": dur,
           "workers": len(workers), "watch_processes": len(watch),
           "worker_idle_ms_per_s": idle_rate * 1e3,
           "worker_ms_per_row": (w1 - w0 - idle_rate * dur) / args.appends * 1e3,
           "watch_process_ms_per_row": (p1 - p0) / args.appends * 1e3}
    print(f"{args.appends} appends to a {args.rows:,}-row metrics.csv, {seen} seen as events, one SSE client")
    print(f"  gevent worker  {fig['worker_ms_per_row']:.2f} ms CPU per row (net of {fig['worker_idle_ms_per_s']:.1f} ms/s idle)")
    print(f"  watch process  {fig['watch_process_ms_per_row']:.2f} ms CPU per row")
    print(json.dumps({"machine": machine(), "code": code_version(REPO), "figures": fig}, sort_keys=True))
    return 0 if seen == args.appends else 1


if __name__ == "__main__":
    sys.exit(main())
