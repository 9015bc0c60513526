"""Live-path benchmark: write-to-event latency, appends to a 1,000,000-row file, 1,000 idle streams.

    python bench/bench_live.py            # about 2 minutes on 2 cores, ~60 MB disk
    python bench/bench_live.py --keep     # keep the trees and server logs (path on stderr)

Prints figures only (no pass/fail; the targets are printed next to them): a table, then one
line of JSON with every figure and the machine. The servers are the real app in subprocesses
(``gunicorn -c gunicorn.conf.py`` and ``python -m flask run``); see bench/README.md.
"""
from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import resource
import selectors
import socket
import statistics
import sys
import threading
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench_read_path  # noqa: E402 - its REPO is the checkout under test (--repo: A/B runs)
import make_runs  # noqa: E402
from bench_read_path import mb, parse_args, proc_mem, render_rows, run_bench, set_repo  # noqa: E402

RUN_ID = "lightning_logs/version_0"
HEADER = "epoch,lr,step,train/loss,val/acc,val/loss\r\n"
POLL_INTERVAL = 0.05
EVENT_TIMEOUT = 5.0      # after the last write, wait this long for the events still missing
TARGET_P95 = 0.050       # inotify write-to-event p95
TARGET_APPEND = 0.005    # server work for one row appended to a 1,000,000-row file
TARGET_RSS = 200e6       # one worker holding 1,000 streams


# -- helpers -------------------------------------------------------------------------------


def ms(v):
    return "-" if v is None else f"{v * 1000:,.1f} ms" if v < 10 else f"{v:,.2f} s"


def pct(values, p):
    """The p-th percentile (nearest rank) of a list of numbers, None when empty."""
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]


def summary(latencies, missed):
    return {"n": len(latencies), "missed": missed, "median_s": statistics.median(latencies) if latencies else None,
            "p50_s": pct(latencies, 50), "p95_s": pct(latencies, 95),
            "p99_s": pct(latencies, 99), "max_s": max(latencies) if latencies else None,
            "mean_s": statistics.fmean(latencies) if latencies else None}


def row_line(step, rng):
    """One Lightning train row (float32 values as Lightning writes them), CRLF."""
    epoch = step // 10_000
    lr = make_runs.f32(1e-4 * (1 + rng.random()))
    loss = make_runs.f32(0.3 + rng.random())
    return f"{epoch},{lr!r},{step},{loss!r},,\r\n".encode()


def append(path, data):
    """How a CSV logger appends a row: open, write, close (one write, one close_write)."""
    with open(path, "ab") as f:
        f.write(data)


def last_step(path):
    with open(path, "rb") as f:
        f.seek(max(0, os.path.getsize(path) - 4096))
        lines = [ln for ln in f.read().split(b"\r\n") if ln]
    return int(lines[-1].split(b",")[2])


def make_small_tree(root, rows=5):
    d = os.path.join(root, "lightning_logs", "version_0")
    os.makedirs(d)
    rng = random.Random(1)
    with open(os.path.join(d, "metrics.csv"), "wb") as f:
        f.write(HEADER.encode())
        for step in range(rows):
            f.write(row_line(step, rng))
    make_runs.write(os.path.join(d, "hparams.yaml"), "model:\n  name: small\n")
    return os.path.join(d, "metrics.csv")


def children(pid):
    """Child pids of ``pid`` (from /proc/<pid>/task/*/children, else every /proc/*/stat ppid)."""
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
        return out
    except OSError:
        pass
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    stat = f.read()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(name))
            except (OSError, ValueError, IndexError):
                pass
    return out


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def cpu_seconds(pid):
    """utime + stime of a process, in seconds (clock-tick resolution)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def raise_fd_limit(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))  # inherited by the servers we start
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Server(bench_read_path.Server):
    """bench_read_path's server, plus readiness by /healthz and the serving worker's pid."""

    def wait_ready(self, timeout=300):
        """Poll /healthz every 50 ms until the first scan is done; returns its JSON."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            self.check()
            try:
                h = self.http.get(self.base + "/healthz", timeout=10).json()
                if h["scan"]["phase"] == "done":
                    self.ready_s = time.perf_counter() - self.started
                    return h
            except (requests.ConnectionError, requests.Timeout, ValueError, KeyError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.kind}: scan not done after {timeout}s")

    def worker_pid(self):
        """The process that serves: gunicorn's (only) worker, or the flask server itself."""
        if self.kind != "gunicorn":
            return self.proc.pid
        workers = [p for p in children(self.proc.pid) if "gunicorn" in cmdline(p) or "app:create_app" in cmdline(p)]
        workers = workers or children(self.proc.pid)
        if len(workers) != 1:
            raise RuntimeError(f"expected one gunicorn worker, found {workers}")
        return workers[0]

    def healthz(self):
        return self.get("/healthz", timeout=60).json()


class SSEReader:
    """One SSE client; a thread reads lines as they arrive and timestamps every ``metrics``
    event (``time.perf_counter()`` when its closing blank line was read) by the steps of
    ``train/loss`` it carries."""

    def __init__(self, base, path, series="train/loss"):
        host, port = base.split("//", 1)[1].split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=120)
        self.conn.request("GET", path)
        self.resp = self.conn.getresponse()
        if self.resp.status != 200:
            raise RuntimeError(f"GET {path}: {self.resp.status}")
        self.series = series
        self.arrivals = {}        # step -> perf_counter of the event that carried it
        self.counts = {}          # event name -> count
        self.resets = 0
        self.preamble = threading.Event()
        self.ended = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        if not self.preamble.wait(30):
            raise RuntimeError(f"no SSE preamble from {path}")

    def _read(self):
        name, data = None, []
        try:
            while True:
                raw = self.resp.readline()
                t = time.perf_counter()
                if not raw:
                    break
                line = raw.decode("utf-8").rstrip("\r\n")
                if line.startswith(":"):
                    if line.startswith(": tailboard"):
                        self.preamble.set()
                    continue
                if line:
                    key, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if key == "event":
                        name = value
                    elif key == "data":
                        data.append(value)
                    continue
                if name:  # a blank line ends the event
                    self.counts[name] = self.counts.get(name, 0) + 1
                    if name == "metrics":
                        ev = json.loads("\n".join(data))
                        self.resets += bool(ev.get("reset"))
                        for step in ev["series"].get(self.series, {}).get("step", []):
                            if step is not None:
                                self.arrivals.setdefault(int(step), t)
                name, data = None, []
        except Exception:  # noqa: BLE001 - closed under the reader, or the server went away
            pass
        self.ended.set()

    def close(self):
        try:
            self.resp.fp.raw._sock.shutdown(socket.SHUT_RDWR)  # wake the reader thread
        except (AttributeError, OSError):
            pass
        self.conn.close()
        self.thread.join(5)


def write_latency(srv, path, first_step, n, rng, spacing=(0.030, 0.050), warmup=5):
    """Append ``warmup`` + ``n`` rows (one write each, ``spacing`` apart with jitter) and time
    each write to the arrival of the ``metrics`` event that carries its step."""
    client = SSEReader(srv.base, f"/events?run={RUN_ID}")
    try:
        sent = {}
        step = first_step
        for i in range(warmup + n):
            data = row_line(step, rng)
            t = time.perf_counter()
            append(path, data)
            if i >= warmup:
                sent[step] = t
            step += 1
            time.sleep(rng.uniform(*spacing))
        deadline = time.perf_counter() + EVENT_TIMEOUT
        while time.perf_counter() < deadline and any(s not in client.arrivals for s in sent):
            time.sleep(0.02)
        lat = [client.arrivals[s] - t for s, t in sent.items() if s in client.arrivals]
        missed = sum(1 for s in sent if s not in client.arrivals)
        out = summary(lat, missed)
        out["events"] = dict(client.counts)
        out["resets"] = client.resets
        # several writes coalesced into one event: how many distinct arrival times
        out["distinct_events"] = len({client.arrivals[s] for s in sent if s in client.arrivals})
        return out, step
    finally:
        client.close()


# -- the three parts -----------------------------------------------------------------------


def bench_latency(tmp, args, fig, servers):
    """(1) write-to-event latency on a small run: gunicorn inotify, gunicorn polling, flask inotify."""
    root = os.path.join(tmp, "small")
    path = os.path.join(root, RUN_ID, "metrics.csv")
    rng = random.Random(args.seed)
    step = last_step(path) + 1
    for key, kind, env in (("gunicorn_inotify", "gunicorn", {}),
                           ("gunicorn_polling", "gunicorn", {"VIEWER_POLL": str(POLL_INTERVAL)}),
                           ("flask_inotify", "flask", {})):
        srv = Server(kind, root, os.path.join(tmp, f"server-{key}.log"), **env)
        servers.append(srv)
        h = srv.wait_ready()
        res, step = write_latency(srv, path, step, args.writes, rng)
        res["watcher"] = h["watcher"]
        res["watcher_reason"] = h["watcher_reason"]
        fig[f"latency_{key}"] = res
        srv.stop()


def bench_big(tmp, args, fig, servers):
    """(2) one-row appends to a 1,000,000-row file: over HTTP/SSE, then in process."""
    root = os.path.join(tmp, "big")
    path = os.path.join(root, RUN_ID, "metrics.csv")
    dt = time.perf_counter()
    fig["big_bytes"] = make_runs.write_big_csv(path, args.big_rows)
    fig["big_generate_s"] = time.perf_counter() - dt
    fig["big_rows"] = args.big_rows
    make_runs.write(os.path.join(root, RUN_ID, "hparams.yaml"), "model:\n  name: big\n")
    rng = random.Random(args.seed + 1)
    step = last_step(path) + 1

    srv = Server("gunicorn", root, os.path.join(tmp, "server-big.log"))
    servers.append(srv)
    srv.wait_ready()
    fig["big_server_ready_s"] = srv.ready_s  # Popen -> first scan done (parses the whole file)
    t = time.perf_counter()
    r = srv.get(f"/api/runs/{RUN_ID}/metrics", timeout=300)
    fig["big_first_metrics_s"] = time.perf_counter() - t
    fig["big_points"] = {k: s["count"] for k, s in r.json()["series"].items()}
    fig["big_worker_rss_bytes"] = proc_mem(srv.worker_pid())["VmRSS"]
    fig["latency_big"], step = write_latency(srv, path, step, args.big_writes, rng)
    srv.stop()

    # in process: the store's own work for one appended row, no HTTP, no watcher
    sys.path.insert(0, bench_read_path.REPO)
    from viewer.data.store import RunStore

    store = RunStore(root)
    t = time.perf_counter()
    store.scan()
    fig["big_inproc_scan_s"] = time.perf_counter() - t
    run = store.get(RUN_ID, refresh=False)
    run.take_delta()  # the cursors start at the end, as in the server
    refresh, apply_, publish_work, changed = [], [], [], 0
    for i in range(args.big_writes):
        append(path, row_line(step, rng))
        step += 1
        if i % 2 == 0:  # Run.refresh() alone (stat, read the new bytes, parse them)
            t = time.perf_counter()
            changed += bool(run.refresh())
            refresh.append(time.perf_counter() - t)
        else:           # what the watcher's loop does for an inotify batch: apply(paths)
            t = time.perf_counter()
            c = store.apply([path])
            apply_.append(time.perf_counter() - t)
            changed += bool(c.changed)
        # and what the publisher does with the run before rendering templates
        t = time.perf_counter()
        runs = store.runs()
        store.key_metrics(runs)
        run.to_json()
        run.take_delta()
        publish_work.append(time.perf_counter() - t)
    fig["big_inproc_refresh_s"] = statistics.median(refresh)
    fig["big_inproc_refresh_max_s"] = max(refresh)
    fig["big_inproc_apply_s"] = statistics.median(apply_)
    fig["big_inproc_publish_work_s"] = statistics.median(publish_work)
    fig["big_inproc_changed"] = changed

    # the same on the small run, as the baseline the big figures should match
    small = RunStore(os.path.join(tmp, "small"))
    small.scan()
    srun = small.get(RUN_ID, refresh=False)
    spath = os.path.join(tmp, "small", RUN_ID, "metrics.csv")
    times = []
    for _ in range(args.big_writes):
        append(spath, row_line(step, rng))
        step += 1
        t = time.perf_counter()
        srun.refresh()
        times.append(time.perf_counter() - t)
    fig["small_inproc_refresh_s"] = statistics.median(times)


def bench_streams(tmp, args, fig, servers):
    """(3) ``args.streams`` idle SSE streams on one gevent worker."""
    n = args.streams
    fig["fd_limit"] = raise_fd_limit(n + 1024)  # before Popen: the worker inherits it
    root = os.path.join(tmp, "small")
    path = os.path.join(root, RUN_ID, "metrics.csv")
    rng = random.Random(args.seed + 2)
    step = last_step(path) + 1

    srv = Server("gunicorn", root, os.path.join(tmp, "server-streams.log"))
    servers.append(srv)
    srv.wait_ready()
    srv.healthz()
    wpid = srv.worker_pid()
    with open(f"/proc/{wpid}/limits") as f:
        fig["worker_fd_limit"] = next((int(ln.split()[3]) for ln in f if ln.startswith("Max open files")), None)
    fig["streams_rss_before_bytes"] = proc_mem(wpid)["VmRSS"]
    # the same measurement as below with no other stream open: the baseline
    fig["streams_latency_alone"], step = write_latency(srv, path, step, args.stream_writes, rng,
                                                       spacing=(0.2, 0.3), warmup=2)

    sel = selectors.DefaultSelector()
    socks, pending = [], set()
    bufs = {}
    req = b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n"
    t0 = time.perf_counter()
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
            s.sendall(req)
            s.setblocking(False)
            socks.append(s)
            pending.add(s)
            bufs[s] = b""
            sel.register(s, selectors.EVENT_READ)
        fig["streams_connect_s"] = time.perf_counter() - t0
        deadline = time.perf_counter() + 120
        while pending and time.perf_counter() < deadline:
            for key, _ in sel.select(timeout=1.0):
                s = key.fileobj
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                if s in pending:
                    bufs[s] += data
                    if b": tailboard" in bufs[s]:
                        pending.discard(s)
                if not data:
                    sel.unregister(s)
                    pending.discard(s)
        fig["streams_open_s"] = time.perf_counter() - t0
        fig["streams_no_preamble"] = len(pending)
        time.sleep(0.5)  # let the worker settle before measuring
        fig["streams_healthz_count"] = srv.healthz()["streams"]
        mem = proc_mem(wpid)
        fig["streams_rss_open_bytes"] = mem["VmRSS"]
        times = []
        for _ in range(10):
            t = time.perf_counter()
            srv.healthz()
            times.append(time.perf_counter() - t)
        fig["streams_healthz_s"] = statistics.median(times)

        # the n clients behave like browsers: a thread keeps reading (and discarding) what they get
        received = {"bytes": 0, "stop": False}

        def drain():
            while not received["stop"]:
                for key, _ in sel.select(timeout=0.2):
                    try:
                        data = key.fileobj.recv(65536)
                    except (BlockingIOError, OSError):
                        continue
                    received["bytes"] += len(data)
                    if not data:
                        sel.unregister(key.fileobj)

        drainer = threading.Thread(target=drain, daemon=True)
        drainer.start()
        cpu = cpu_seconds(wpid)
        res, step = write_latency(srv, path, step, args.stream_writes, rng, spacing=(0.2, 0.3), warmup=2)
        fig["streams_worker_cpu_per_write_s"] = (cpu_seconds(wpid) - cpu) / (args.stream_writes + 2)
        fig["streams_latency"] = res
        fig["streams_fanout_bytes"] = received["bytes"]
        received["stop"] = True
        drainer.join(5)

        # close all; the server notices a gone client only when it next writes to it (a ping)
        before = srv.healthz()["streams"]
        t = time.perf_counter()
        for s in socks:
            s.close()
        socks = []
        counts = []
        deadline = t + args.close_timeout
        while time.perf_counter() < deadline:
            c = srv.healthz()["streams"]
            counts.append((round(time.perf_counter() - t, 2), c))
            if c == 0:
                break
            time.sleep(0.1)
        fig["streams_before_close"] = before
        fig["streams_close_s"] = time.perf_counter() - t if counts and counts[-1][1] == 0 else None
        fig["streams_after_close"] = counts[-1][1] if counts else None
        # (seconds, count) each time the count changed
        fig["streams_close_trace"] = [c for i, c in enumerate(counts) if i == 0 or c[1] != counts[i - 1][1]]
        mem = proc_mem(wpid)
        fig["streams_rss_after_bytes"], fig["streams_hwm_bytes"] = mem["VmRSS"], mem["VmHWM"]
    finally:
        for s in socks:
            s.close()
        sel.close()
        srv.stop()


# -- report --------------------------------------------------------------------------------


def pct_cells(r):
    """p50 / p95 / p99 / max of a ``summary()``, as one table cell."""
    return " / ".join(ms(r[k]) for k in ("p50_s", "p95_s", "p99_s", "max_s"))


def lat_row(name, r, target=None):
    if r is None:
        return (name, "-", "not measured")
    vals = pct_cells(r)
    note = f"n={r['n']}, missed={r['missed']}, events={r['distinct_events']}"
    if r.get("resets"):
        note += f", resets={r['resets']}"
    if "watcher" in r:
        note += f"; watcher {r['watcher']}"
    if target is not None and r["p95_s"] is not None:
        note += f"; target p95 < {ms(target)}: {'ok' if r['p95_s'] < target and not r['missed'] else 'MISSED'}"
    return (name, vals, note)


def verdict(value, target):
    return "" if value is None else ("ok" if value < target else "MISSED")


def table(fig, args):
    rows = []
    if "latency_gunicorn_inotify" in fig:
        rows += [
            (f"(1) write -> metrics event, {args.writes} one-row appends 30-50 ms apart (small run)", None, None),
            ("", "p50 / p95 / p99 / max", ""),
            lat_row("gunicorn -k gevent, inotify", fig["latency_gunicorn_inotify"], TARGET_P95),
            lat_row(f"gunicorn -k gevent, polling every {POLL_INTERVAL * 1000:.0f} ms",
                    fig["latency_gunicorn_polling"]),
            lat_row("flask run (dev server), inotify", fig["latency_flask_inotify"], TARGET_P95),
        ]
    if "latency_big" in fig:
        b = fig["latency_big"]
        rows += [
            (f"(2) appending to a {fig['big_rows']:,}-row metrics.csv ({mb(fig['big_bytes'])})", None, None),
            ("gunicorn: Popen -> first scan done", ms(fig["big_server_ready_s"]), "parses the whole file"),
            ("GET metrics, first", ms(fig["big_first_metrics_s"]),
             ", ".join(f"{k}={v:,}" for k, v in fig["big_points"].items())),
            ("worker RSS, file loaded", mb(fig["big_worker_rss_bytes"]), ""),
            lat_row(f"write -> event, {b['n']} appends (p50/p95/p99/max)", b),
            ("  vs the small run (gunicorn inotify) p50 / p95",
             " / ".join(ms(fig["latency_gunicorn_inotify"][k]) for k in ("p50_s", "p95_s"))
             if "latency_gunicorn_inotify" in fig else "-", ""),
            ("in process: RunStore.scan() of the file", ms(fig["big_inproc_scan_s"]), ""),
            ("in process: run.refresh() after a one-row append", ms(fig["big_inproc_refresh_s"]),
             f"median; max {ms(fig['big_inproc_refresh_max_s'])}; target < {ms(TARGET_APPEND)}: "
             f"{verdict(fig['big_inproc_refresh_s'], TARGET_APPEND)}"),
            ("in process: store.apply([path]) (the inotify path)", ms(fig["big_inproc_apply_s"]), "median"),
            ("in process: runs + key_metrics + to_json + take_delta", ms(fig["big_inproc_publish_work_s"]),
             "median; the publisher's work before rendering"),
            ("in process: run.refresh(), 6-row file", ms(fig["small_inproc_refresh_s"]), "baseline"),
        ]
    if "streams_rss_open_bytes" in fig:
        lat = fig["streams_latency"]
        rows += [
            (f"(3) {args.streams:,} idle /events streams on one gevent worker", None, None),
            (f"open {args.streams:,} (connect + request)", ms(fig["streams_connect_s"]), ""),
            ("... and every preamble received", ms(fig["streams_open_s"]),
             f"{fig['streams_no_preamble']} without preamble"),
            ("worker RSS before / with the streams open",
             f"{mb(fig['streams_rss_before_bytes'])} / {mb(fig['streams_rss_open_bytes'])}",
             f"{(fig['streams_rss_open_bytes'] - fig['streams_rss_before_bytes']) / args.streams / 1e3:,.1f} kB "
             f"a stream; target < {mb(TARGET_RSS)}: {verdict(fig['streams_rss_open_bytes'], TARGET_RSS)}"),
            ("/healthz streams", str(fig["streams_healthz_count"]),
             f"{args.streams:,} open; {fig['streams_healthz_count'] - args.streams} more: clients closed "
             f"but not noticed yet (the baseline's); "
             f"GET /healthz {ms(fig['streams_healthz_s'])}"),
            ("write -> event, run page client, no other stream (median)",
             ms(fig["streams_latency_alone"]["median_s"]),
             f"max {ms(fig['streams_latency_alone']['max_s'])}, n={fig['streams_latency_alone']['n']}, "
             f"missed {fig['streams_latency_alone']['missed']}; the baseline"),
            (f"write -> event, same client, {args.streams:,} streams open (median)",
             ms(lat["median_s"]),
             f"max {ms(lat['max_s'])}, n={lat['n']}, missed {lat['missed']}; the {args.streams:,} overview streams "
             f"received {mb(fig['streams_fanout_bytes'])} (row + counts events) meanwhile"),
            ("worker CPU per write, streams open", ms(fig["streams_worker_cpu_per_write_s"]),
             f"{fig['streams_worker_cpu_per_write_s'] / (2 * args.streams) * 1e6:,.0f} us per stream-event "
             f"(2 overview events a write)"),
            ("streams count back to 0 after closing them", ms(fig["streams_close_s"]) if fig["streams_close_s"]
             else f"> {args.close_timeout:.0f} s",
             f"from {fig['streams_before_close']}; count over time (s, n): "
             + " ".join(f"{a}:{b}" for a, b in fig["streams_close_trace"][:8])),
            ("worker RSS after closing", mb(fig["streams_rss_after_bytes"]), f"peak (VmHWM) {mb(fig['streams_hwm_bytes'])}"),
        ]
    return render_rows(rows, value_width=34)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--writes", type=int, default=200, help="appends per latency run (default 200)")
    ap.add_argument("--big-rows", type=int, default=1_000_000, help="rows of the big metrics.csv")
    ap.add_argument("--big-writes", type=int, default=50, help="appends to the big file (default 50)")
    ap.add_argument("--streams", type=int, default=1000, help="idle SSE streams (default 1000)")
    ap.add_argument("--stream-writes", type=int, default=20, help="appends while the streams are open")
    ap.add_argument("--close-timeout", type=float, default=60.0, help="seconds to wait for the count to drop")
    ap.add_argument("--only", default="1,2,3", help="parts to run, e.g. 1,3")
    ap.add_argument("--seed", type=int, default=0)
    args = parse_args(ap, argv, set_repo)
    parts = set(args.only.split(","))

    def run_parts(tmp, fig, servers):
        make_small_tree(os.path.join(tmp, "small"))  # parts 1 and 3 (2 uses it as a baseline)
        if "1" in parts:
            bench_latency(tmp, args, fig, servers)
        if "2" in parts:
            bench_big(tmp, args, fig, servers)
        if "3" in parts:
            bench_streams(tmp, args, fig, servers)

    run_bench("Tailboard live path", "tailboard-bench-live-", args, run_parts, lambda fig: table(fig, args))

if __name__ == "__main__":
    main()
