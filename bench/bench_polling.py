"""Polling at scale (issue 13 item 7): idle CPU of a polling server, and how soon a change shows.

    python bench/bench_polling.py                          # 2,000 spt runs, 40 s idle, VIEWER_POLL=1
    python bench/bench_polling.py --runs 200 --idle 10     # a quick look

Writes (once, cached in /tmp/tailboard-bench/poll-<runs>) an spt tree as spt lays it out,
``runs/YYYYMMDD/HHMMSS/<12hex>/`` (sidecar.json, heartbeat, a 200-row metrics.csv, train.out),
1% of the runs still running, the others completed. Serves it with ``gunicorn -c
gunicorn.conf.py`` (one gevent worker) and ``VIEWER_POLL=1``, waits for the first scan, and
reports:

- ``idle_cpu_pct``: CPU seconds of the server's processes (master, worker; from
  ``/proc/<pid>/stat``) over ``--idle`` seconds with nothing changing, as % of one core;
- ``append_s``: a row appended to a running run's metrics.csv -> its ``row`` event on ``/events``;
- ``append_finished_s``: the same for a run marked completed (polled less often);
- ``new_run_s``: a new run folder three levels deep -> its ``runset`` event;
- ``removed_s``: a run folder deleted -> its ``runset`` event.

The machine is shared: run it twice and keep the quieter figures.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from bench_read_path import free_port, machine  # noqa: E402
from bench_scale import write_run  # noqa: E402

TREES = "/tmp/tailboard-bench"
RUNNING_EVERY = 100  # 1 run in 100 still running
AGE = 2 * 86400.0    # seconds since the finished runs were written


def tree(runs):
    """The cached tree of ``runs`` spt runs; returns (root, ids of running runs, of finished)."""
    root = os.path.join(TREES, f"poll-{runs}")
    ids = [f"runs/2026{11 + i // 1000:02d}{1 + (i // 100) % 28:02d}/{(i % 100) * 137 % 240000:06d}/{i:012x}"
           for i in range(runs)]
    if not os.path.exists(os.path.join(root, ".complete")):
        shutil.rmtree(root, ignore_errors=True)
        for i, rid in enumerate(ids):
            d = os.path.join(root, rid)
            write_run(d, rid.rsplit("/", 1)[1], 200, i)
            with open(os.path.join(d, "sidecar.json")) as f:
                side = json.load(f)
            for k in ("created_at", "ended_at", "updated_at"):
                side[k] -= AGE
            with open(os.path.join(d, "sidecar.json"), "w") as f:
                json.dump(side, f)
        old = time.time() - AGE  # a tree written days ago, as a real one
        for folder, _dirs, files in os.walk(root, topdown=False):
            for name in files + [""]:
                os.utime(os.path.join(folder, name) if name else folder, (old, old))
        open(os.path.join(root, ".complete"), "w").close()
    now = time.time()
    running = ids[::RUNNING_EVERY]
    for rid in running:  # running again at every start: a fresh heartbeat, status running
        d = os.path.join(root, rid)
        with open(os.path.join(d, "sidecar.json")) as f:
            side = json.load(f)
        side.update(status="running", ended_at=None, updated_at=now)
        with open(os.path.join(d, "sidecar.json"), "w") as f:
            json.dump(side, f)
        os.utime(os.path.join(d, "heartbeat"))
    new = os.path.join(root, "runs", "new")
    if os.path.exists(new):
        shutil.rmtree(new)
        os.utime(os.path.join(root, "runs"), (now - AGE, now - AGE))
    return root, running, [r for r in ids if r not in running]


def cpu_seconds(pids):
    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        except (OSError, ValueError, IndexError):
            pass
    return total


def tree_pids(pid):
    parents = {}
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                with open(f"/proc/{e}/stat") as f:
                    parents[int(e)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [pid], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        out += kids
        todo += kids
    return out


class Events:
    """``/events`` read in a thread; ``wait(name, text)`` returns the seconds until such an event."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.conn.request("GET", "/events")
        self.resp = self.conn.getresponse()
        self.seen = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        name, data = "", []
        for raw in self.resp:
            line = raw.decode(errors="replace").rstrip("\r\n")
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:])
            elif not line and name:
                with self.cond:
                    self.seen.append((time.perf_counter(), name, "\n".join(data)))
                    self.cond.notify_all()
                name, data = "", []

    def wait(self, t0, name, text, timeout=120):
        with self.cond:
            deadline = time.perf_counter() + timeout
            while True:
                for at, n, d in self.seen:
                    if at >= t0 and n == name and text in d:
                        return at - t0
                left = deadline - time.perf_counter()
                if left <= 0:
                    return None
                self.cond.wait(left)


def get_json(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request("GET", path)
    return json.loads(c.getresponse().read())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--idle", type=float, default=40.0, help="seconds of idle measured")
    ap.add_argument("--poll", type=float, default=1.0, help="VIEWER_POLL")
    args = ap.parse_args(argv)
    root, running, finished = tree(args.runs)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("VIEWER_TOKEN", "WEB_CONCURRENCY", "TAILBOARD_PORT")}
    env.update(VIEWER_ROOT=root, VIEWER_POLL=str(args.poll), TAILBOARD_BIND=f"127.0.0.1:{port}",
               XDG_CACHE_HOME=tempfile.mkdtemp(prefix="tailboard-bench-cache-"))
    exe = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([exe, "-c", "gunicorn.conf.py", "app:create_app()"], cwd=REPO, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        t0 = time.perf_counter()
        while True:
            try:
                h = get_json(port, "/healthz")
                if h["scan"]["phase"] == "done":
                    break
            except (OSError, ValueError, KeyError):
                pass
            if time.perf_counter() - t0 > 600:
                raise SystemExit("the server did not finish its first scan")
            time.sleep(0.2)
        scan_s = time.perf_counter() - t0
        assert h["watcher"] == "polling" and h["runs"] == args.runs, h
        time.sleep(5)  # the first passes after the scan settle
        pids = tree_pids(proc.pid)
        c0, w0 = cpu_seconds(pids), time.perf_counter()
        time.sleep(args.idle)
        idle_pct = 100 * (cpu_seconds(pids) - c0) / (time.perf_counter() - w0)

        ev = Events(port)
        time.sleep(1)
        figures = {"runs": args.runs, "poll_s": args.poll, "scan_s": round(scan_s, 1),
                   "idle_cpu_pct": round(idle_pct, 1)}
        for key, rid in (("append_s", running[len(running) // 2]), ("append_finished_s", finished[len(finished) // 2])):
            t = time.perf_counter()
            with open(os.path.join(root, rid, "metrics.csv"), "a", newline="") as f:
                f.write("0,0.0001,200,0.5,,\r\n")
            figures[key] = ev.wait(t, "row", f'data-run="{rid}"')
        new = os.path.join(root, "runs", "new", "000000", "a0a0a0a0a0a0")
        t = time.perf_counter()
        write_run(new, "a0a0a0a0a0a0", 10, 1)
        figures["new_run_s"] = ev.wait(t, "runset", "runs/new/000000/a0a0a0a0a0a0")
        t = time.perf_counter()
        shutil.rmtree(new)
        figures["removed_s"] = ev.wait(t, "runset", "removed")
        figures = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in figures.items()}
        for k, v in figures.items():
            print(f"{k:>20}: {v}")
        print(json.dumps({"machine": machine(), **figures}))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


if __name__ == "__main__":
    main()
