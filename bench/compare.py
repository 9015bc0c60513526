"""Tailboard side by side with the viewers users would pick instead (issue 7), same data, same
machine, as ratios.

    python bench/compare.py --quick                       # a development run, a few minutes
    python bench/compare.py                               # the full sizes (see bench/README.md)
    python bench/compare.py --only latency,cold --peers tailboard,spt

Peers: ``spt web`` (bench/peer_spt.py) and TensorBoard (bench/peer_tensorboard.py, default and
fastest reload), installed by their ``setup()`` under /tmp/tailboard-peers/, never into the
repository. Tailboard and ``spt web`` read the *same* folder (spt format); TensorBoard reads the
same rows written as event files. Generated trees are cached in /tmp/tailboard-peers/trees/.

Prints the machine, one table per peer (``measure | Tailboard | peer | peer/Tailboard | who is
ahead``; every figure is lower-is-better, so a ratio above 1 means Tailboard is ahead), then one
JSON line with every figure. No pass/fail.
"""
from __future__ import annotations

import argparse
import atexit
import json
import os
import random
import re
import resource
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from bench_live import children  # noqa: E402
from bench_read_path import code_version, free_port, machine, stop_process  # noqa: E402
from peer_spt import Arrivals, SptFormat, SptPeer, SSELines, http_get, ttfb  # noqa: E402

PEERS_DIR = "/tmp/tailboard-peers"
TREES = os.path.join(PEERS_DIR, "trees")
METRIC = "train/loss"
FAST_POLL_S = 0.02       # a poll-only peer's metrics, polled as fast as is reasonable
FAST_LOG_POLL_S = 0.1    # a poll-only peer's log view (each poll may move MiBs)
MARK = re.compile(r"bench-mark-(\d+)")

FULL = {"appends": 100, "big_rows": 1_000_000, "many_runs": 2000, "streams": 500, "log_mb": 2048,
        "cost_rows": 200, "cost_window": 30, "fan_appends": 5, "log_appends": 20}
QUICK = {"appends": 30, "big_rows": 100_000, "many_runs": 200, "streams": 50, "log_mb": 200,
         "cost_rows": 50, "cost_window": 10, "fan_appends": 3, "log_appends": 10}
MEASURES = ("latency", "cold", "cost", "fanout", "logs")


# -- generated data ------------------------------------------------------------------------


class Rows(Sequence):
    """``n`` rows ``(step, {metric: value})`` computed on demand (a million dicts would cost
    300 MB); deterministic, so every peer gets the same numbers."""

    def __init__(self, n, first_step=0):
        self.n, self.first = n, first_step

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.n))]
        if not -self.n <= i < self.n:
            raise IndexError(i)
        return values_at(self.first + (i % self.n))


def values_at(step):
    """The row logged at ``step``: a decaying loss with deterministic noise, and the lr."""
    noise = ((step * 2654435761) % 1000) / 20000
    return step, {"train/loss": round(0.3 + 2.2 / (1 + step / 2000) + noise, 6),
                  "lr": round(1e-4 * (1 + (step % 1000) / 1000), 9)}


def log_lines(n, start=0):
    return [f"[2026-01-01 00:00:{i % 60:02d}] step {start + i} loss {values_at(start + i)[1][METRIC]}" for i in range(n)]


def small_runs(n_runs=5, rows=100):
    return [{"name": "live" if i == 0 else f"other{i:02d}", "rows": Rows(rows), "log_lines": log_lines(20)}
            for i in range(n_runs)]


def cached_tree(peer, kind, size, runs_fn, grow=None):
    """A tree under TREES written once per (format, kind, size) and reused; ``grow(root)`` adds
    what ``write_tree`` cannot (the 2 GB log)."""
    root = os.path.join(TREES, f"{getattr(peer, 'fmt', type(peer).__name__)}-{kind}-{size}")
    if os.path.exists(os.path.join(root, ".complete")):
        return os.path.join(root, "t")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.join(root, "t"))
    t = time.perf_counter()
    peer.write_tree(os.path.join(root, "t"), runs_fn())
    if grow:
        grow(os.path.join(root, "t"))
    open(os.path.join(root, ".complete"), "w").close()
    log(f"  wrote {root} in {time.perf_counter() - t:.1f} s")
    return os.path.join(root, "t")


def grow_log(path, mbytes):
    """Make ``path`` a real ``mbytes`` MiB log of lines (a 1 MiB block of lines, repeated)."""
    block, i = [], 0
    while sum(map(len, block)) < (1 << 20):
        block.append(f"[2026-01-01 00:00:00] INFO epoch {i // 500} step {i} loss {0.3 + (i % 997) / 1000:.4f} "
                     f"lr 1.0e-04 grad_norm {(i % 89) / 10:.2f} throughput 1234.5 samples/s\n")
        i += 1
    data = "".join(block).encode()
    with open(path, "ab") as f:
        for _ in range(mbytes):
            f.write(data)


# -- processes -----------------------------------------------------------------------------


def descendants(pid):
    """``pid`` and every process below it."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children(p)
    return out


def tree_cpu(pid):
    """utime+stime of a process and its live descendants, plus what its reaped children used."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0
    for i, p in enumerate(descendants(pid)):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if i == 0 else 0)
    return total / tick


def tree_rss(pid):
    """Summed VmRSS of a process and its descendants (gunicorn: master, worker, watch process)."""
    total = 0
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(ln.split()[1]) * 1024 for ln in f if ln.startswith("VmRSS:"))
        except (OSError, StopIteration):
            pass
    return total


class Served:
    """``with Served(peer, root):`` the peer's server on a free port, stopped whatever happens."""

    live = []

    def __init__(self, peer, root):
        self.peer, self.root = peer, root

    def __enter__(self):
        self.port = free_port()
        self.t0 = time.perf_counter()
        self.peer.start(self.root, self.port)
        Served.live.append(self.peer)
        return self

    def __exit__(self, *exc):
        Served.live.remove(self.peer)
        self.peer.stop()


def stop_all():
    for peer in list(Served.live):
        try:
            peer.stop()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


def wait_until(fn, timeout, every=0.05):
    """Call ``fn`` until it returns a truthy value (errors count as not yet); (seconds, value)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            v = fn()
            if v:
                return time.perf_counter() - t0, v
        except Exception:  # noqa: BLE001 - not listening yet, or mid-scan
            pass
        time.sleep(every)
    raise TimeoutError(f"not within {timeout}s")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# -- Tailboard's adapter -------------------------------------------------------------------


class TailboardPeer(SptFormat):
    """Tailboard as served (``gunicorn -c gunicorn.conf.py``, one gevent worker, inotify),
    reading the spt folders the spt peer reads."""

    name = "Tailboard"
    fmt = "spt"

    def __init__(self):
        self.proc, self.base, self.streams = None, None, {}
        self.logfile = None

    def setup(self):
        pass  # the repository's own environment

    def start(self, root, port):
        env = {k: v for k, v in os.environ.items()
               if k not in ("VIEWER_TOKEN", "VIEWER_POLL", "FLASK_DEBUG", "WEB_CONCURRENCY", "TAILBOARD_PORT")}
        env.update(VIEWER_ROOT=root, TAILBOARD_BIND=f"127.0.0.1:{port}")
        if "VIEWER_CACHE_DIR" not in os.environ:  # each start cold: an empty column cache of its own
            self.cache = tempfile.mkdtemp(prefix="tailboard-bench-cache-")
            env["VIEWER_CACHE_DIR"] = self.cache
        exe = os.path.join(os.path.dirname(sys.executable), "gunicorn")
        exe = exe if os.path.exists(exe) else shutil.which("gunicorn") or "gunicorn"
        self.base = f"http://127.0.0.1:{port}"
        self.streams = {}
        self.logfile = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([exe, "-c", "gunicorn.conf.py", "app:create_app()"], cwd=REPO, env=env,
                                     stdout=self.logfile, stderr=subprocess.STDOUT)

    def stop(self):
        stop_process(self.proc, grace=15)
        if self.logfile:
            self.logfile.close()
        if getattr(self, "cache", None):
            shutil.rmtree(self.cache, ignore_errors=True)
            self.cache = None
            self.logfile = None

    def pid(self):
        return self.proc.pid

    def _json(self, path):
        status, body = http_get(self.base, path)
        return json.loads(body) if status == 200 else None

    def list_runs(self):
        data = self._json("/api/runs")
        return [r["id"] for r in data["runs"]] if data else []

    def latest(self, run_name, metric):
        data = self._json(f"/api/runs/{quote(run_name)}/metrics?names={quote(metric, safe='')}")
        s = (data or {}).get("series", {}).get(metric)
        return (int(s["x"][-1]), s["y"][-1]) if s and s["x"] else None

    def subscribe(self, run_name):
        return TailboardPush(self, run_name)

    def push_path(self, run_name):
        return f"/events?run={quote(run_name, safe='')}"

    def push_step(self, event, data, run_name, metric):
        """The newest step of ``metric`` a ``metrics`` event carries (True: told to re-fetch)."""
        if event != "metrics":
            return None
        d = json.loads(data)
        if d.get("reset"):
            return True
        steps = d.get("series", {}).get(metric, {}).get("step")
        return int(steps[-1]) if steps else None

    def _stream(self, run_name):
        if run_name not in self.streams:
            streams = self._json(f"/api/runs/{quote(run_name)}/logs")["streams"]
            self.streams[run_name] = next(s["id"] for s in streams if s["name"].endswith(self.log_name))
        return self.streams[run_name]

    def _log_path(self, run_name, nbytes):
        return f"/api/runs/{quote(run_name)}/logs/{quote(self._stream(run_name), safe='')}?bytes={int(nbytes)}"

    def log_tail(self, run_name, nbytes):
        status, body = http_get(self.base, self._log_path(run_name, nbytes))
        if status != 200:
            raise RuntimeError(f"log tail: {status}")
        return body

    def log_ttfb(self, run_name, nbytes):
        path = self._log_path(run_name, nbytes)  # the stream id lookup is not part of the figure
        return ttfb(self.base, path)

    def follow_log(self, run_name):
        return TailboardLogFollow(self, run_name)


class TailboardPush(Arrivals):
    """A run page's event stream: each ``metrics`` event carries the new points."""

    def __init__(self, peer, run_name, metric=METRIC):
        super().__init__()
        self.peer, self.run, self.metric = peer, run_name, metric
        self.sse = SSELines(peer.base, peer.push_path(run_name), self._on_event)

    def _on_event(self, name, data):
        step = self.peer.push_step(name, data, self.run, self.metric)
        if isinstance(step, int) and not isinstance(step, bool):
            self.saw_up_to(step, time.time())

    def close(self):
        self.sse.close()


class TailboardLogFollow(Arrivals):
    """The run page's log view: ``WS /ws/logs/<id>/<stream>``, the tail then every append."""

    def __init__(self, peer, run_name):
        import simple_websocket

        super().__init__()
        url = peer.base.replace("http://", "ws://") + f"/ws/logs/{quote(run_name)}/{quote(peer._stream(run_name), safe='')}"
        self.ws = simple_websocket.Client.connect(url)
        self.first = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.first.wait(60):
            raise RuntimeError("no tail on the log socket")

    def _read(self):
        try:
            while True:
                raw = self.ws.receive()
                if raw is None:
                    return
                msg = json.loads(raw)
                self.first.set()
                text = "".join(msg.get("lines") or []) + (msg.get("partial") or "")
                marks = [int(m) for m in MARK.findall(text)]
                if marks:
                    self.saw(marks, time.time())
        except Exception:  # noqa: BLE001 - closed under us
            return

    def close(self):
        self.ws.close()


class Poller(Arrivals):
    """For a peer without push: poll ``fetch()`` every ``every`` seconds from a free-running
    clock; a step is held when the first poll that returns it comes back."""

    def __init__(self, fetch, every):
        super().__init__()
        self.fetch, self.every = fetch, every
        self.stopped = threading.Event()
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        due = time.perf_counter()
        while not self.stopped.is_set():
            try:
                got = self.fetch()
                if got is not None:
                    self.saw(got, time.time())
            except Exception:  # noqa: BLE001 - a failed poll is a poll that saw nothing
                pass
            due += self.every
            time.sleep(max(0.0, due - time.perf_counter()))

    def close(self):
        self.stopped.set()


def metric_poller(peer, run_name, every=FAST_POLL_S):
    def fetch():
        got = peer.latest(run_name, METRIC)
        return [got[0]] if got else None
    return Poller(fetch, every)


def log_poller(peer, run_name, every=FAST_LOG_POLL_S):
    def fetch():
        text = peer.log_tail(run_name, 65536).decode("utf-8", "replace")
        return [int(m) for m in MARK.findall(text)] or None
    return Poller(fetch, every)


def ui_poll_s(peer):
    """How often the peer's own page polls metrics, when it has no push (TensorBoard: 30 s)."""
    return float(getattr(peer, "ui_poll_s", getattr(peer, "UI_POLL_S", 30.0)))


# -- statistics ----------------------------------------------------------------------------


def pct(values, p):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, -(-p * len(s) // 100) - 1))]


# -- the five measures ---------------------------------------------------------------------


def subscribe_or_poll(peer, run_name):
    sub = peer.subscribe(run_name)
    if sub is not None:
        return sub, getattr(sub, "how", "push")
    return metric_poller(peer, run_name), f"polled every {FAST_POLL_S * 1000:.0f} ms (its page: every {ui_poll_s(peer):g} s)"


def measure_latency(peer, tmp, sizes, rng):
    """(1) append one row, time until the client holds it; p50/p95 over ``appends``."""
    root = tempfile.mkdtemp(dir=tmp)
    peer.write_tree(root, small_runs())
    out = {}
    with Served(peer, root):
        wait_until(lambda: peer.latest("live", METRIC), 120)
        sub, out["how"] = subscribe_or_poll(peer, "live")
        lat, missed, step = [], 0, 1000
        for i in range(sizes["appends"] + 3):  # 3 warm-up appends, not counted
            step += 1
            t = peer.append_row(root, "live", *values_at(step))
            got = sub.wait_for(step, 15)
            if i >= 3 and got is None:
                missed += 1
            elif i >= 3:
                lat.append(got - t)
            time.sleep(rng.uniform(0.2, 0.5))
        sub.close()
    out.update(n=len(lat), missed=missed, p50_s=pct(lat, 50), p95_s=pct(lat, 95))
    return out


def measure_cold(peer, tmp, sizes, rng):
    """(2) process start to the big run's first metrics served; to the full runs list."""
    out, empty = {}, tempfile.mkdtemp(dir=tmp)
    with Served(peer, empty) as srv:  # the floor: interpreter, imports, listening
        wait_until(lambda: peer.list_runs() == [], 120, every=0.02)
        out["first_answer_s"] = time.perf_counter() - srv.t0
    big = cached_tree(peer, "big", sizes["big_rows"], lambda: [{"name": "big", "rows": Rows(sizes["big_rows"]), "log_lines": []}])
    with Served(peer, big) as srv:
        wait_until(lambda: peer.latest("big", METRIC), 900, every=0.05)
        out["big_metrics_s"] = time.perf_counter() - srv.t0
    n = sizes["many_runs"]
    many = cached_tree(peer, "many", n, lambda: [{"name": f"run{i:05d}", "rows": Rows(50), "log_lines": log_lines(5)}
                                                 for i in range(n)])
    with Served(peer, many) as srv:
        wait_until(lambda: len(peer.list_runs()) >= n, 900, every=0.1)
        out["runs_list_s"] = time.perf_counter() - srv.t0
    return out


def measure_cost(peer, tmp, sizes, rng):
    """(3) server CPU per row appended to the big run: ``cost_rows`` appends spread over a
    window of ``cost_window`` s, each waited for until visible; minus the CPU of an idle
    window of the same length measured just before (same client attached)."""
    src = cached_tree(peer, "big", sizes["big_rows"], lambda: [{"name": "big", "rows": Rows(sizes["big_rows"]), "log_lines": []}])
    root = os.path.join(tempfile.mkdtemp(dir=tmp), "t")
    shutil.copytree(src, root)  # appends must not grow the cached tree
    out, window, n_rows = {}, sizes["cost_window"], sizes["cost_rows"]
    with Served(peer, root):
        wait_until(lambda: peer.latest("big", METRIC), 900)
        sub, out["how"] = subscribe_or_poll(peer, "big")
        step = sizes["big_rows"] + 10
        for _ in range(3):  # warm up the live path
            step += 1
            peer.append_row(root, "big", *values_at(step))
            sub.wait_for(step, 120)
        c0, t0 = tree_cpu(peer.pid()), time.perf_counter()
        time.sleep(window)
        idle_rate = (tree_cpu(peer.pid()) - c0) / (time.perf_counter() - t0)
        c0, t0, n = tree_cpu(peer.pid()), time.perf_counter(), 0
        for i in range(n_rows):
            if time.perf_counter() - t0 > window * 1.5:
                break  # a peer slower than the pace: as many rows as fit
            time.sleep(max(0.0, t0 + i * window / n_rows - time.perf_counter()))
            step += 1
            peer.append_row(root, "big", *values_at(step))
            n += sub.wait_for(step, 120) is not None
        time.sleep(max(0.0, t0 + window - time.perf_counter()))
        dur, cpu = time.perf_counter() - t0, tree_cpu(peer.pid()) - c0
        sub.close()
    out.update(rows=n, seconds=dur, cpu_s=cpu, idle_cpu_per_s=idle_rate,
               cpu_per_row_s=(cpu - idle_rate * dur) / max(n, 1))
    return out


class Fanout:
    """``n`` raw event streams read by one selector thread; for each a list of (time, newest
    step held). A stream whose event only says "re-fetch" (spt) has a thread-pool fetch of
    the run's metrics, as each open page would do."""

    def __init__(self, peer, run_name, n):
        self.peer, self.run, self.n = peer, run_name, n
        self.tops = [-1] * n
        self.first_bytes = 0
        self.when = [dict() for _ in range(n)]   # step -> first time held
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(32)
        self.sel = selectors.DefaultSelector()
        self.socks = []
        host, port = peer.base.split("//", 1)[1].split(":")
        req = f"GET {peer.push_path(run_name)} HTTP/1.0\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode()
        for i in range(n):
            s = socket.create_connection((host, int(port)), timeout=30)
            s.sendall(req)
            s.setblocking(False)
            self.socks.append(s)
            self.sel.register(s, selectors.EVENT_READ, [i, b"", False])
        self.stopped = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stopped:
            for key, _ in self.sel.select(0.2):
                st = key.data
                try:
                    chunk = key.fileobj.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    chunk = b""
                if not chunk:
                    self.sel.unregister(key.fileobj)
                    continue
                if not st[2]:
                    st[2] = True
                    with self.lock:
                        self.first_bytes += 1
                st[1] += chunk.replace(b"\r\n", b"\n")
                *events, st[1] = st[1].split(b"\n\n")
                for ev in events:
                    self._event(st[0], ev)

    def _event(self, i, raw):
        name, data = "message", []
        for line in raw.decode("utf-8", "replace").split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
        try:
            got = self.peer.push_step(name, "\n".join(data), self.run, METRIC)
        except ValueError:
            return
        if got is True:
            self.pool.submit(self._fetch, i)
        elif got is not None:
            self._held(i, got, time.time())

    def _fetch(self, i):
        try:
            got = self.peer.latest(self.run, METRIC)
        except Exception:  # noqa: BLE001 - a failed fetch holds nothing
            return
        if got:
            self._held(i, got[0], time.time())

    def _held(self, i, step, when):
        with self.lock:
            if step > self.tops[i]:
                self.tops[i] = step
                self.when[i][step] = when

    def wait_all(self, step, timeout):
        """``time.time()`` when the last stream held ``step``; None when some never did."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if min(self.tops) >= step:
                    return max(min(t for s, t in w.items() if s >= step) for w in self.when)
            time.sleep(0.005)
        return None

    def close(self):
        self.stopped = True
        self.thread.join(2)
        for s in self.socks:
            s.close()
        self.pool.shutdown(wait=False)


class PollFanout:
    """``n`` clients of a poll-only peer, each polling at its page's own rate, phases spread."""

    def __init__(self, peer, run_name, n, every):
        self.peer, self.run, self.n, self.every = peer, run_name, n, every
        self.tops, self.when, self.lock = [-1] * n, [dict() for _ in range(n)], threading.Lock()
        self.stopped = threading.Event()
        self.first_bytes = n
        k = min(16, n)
        self.threads = [threading.Thread(target=self._loop, args=(list(range(j, n, k)),), daemon=True) for j in range(k)]
        for t in self.threads:
            t.start()

    def _loop(self, mine):
        start = time.perf_counter()
        due = {i: start + self.every * i / self.n for i in mine}
        while not self.stopped.is_set():
            i = min(due, key=due.get)
            time.sleep(max(0.0, due[i] - time.perf_counter()))
            try:
                got = self.peer.latest(self.run, METRIC)
            except Exception:  # noqa: BLE001
                got = None
            if got:
                with self.lock:
                    if got[0] > self.tops[i]:
                        self.tops[i], self.when[i][got[0]] = got[0], time.time()
            due[i] += self.every

    wait_all = Fanout.wait_all

    def close(self):
        self.stopped.set()


def measure_fanout(peer, tmp, sizes, rng):
    """(4) ``streams`` open event streams (or polling clients): RSS, append to all-have-it."""
    root = tempfile.mkdtemp(dir=tmp)
    peer.write_tree(root, small_runs())
    n, out = sizes["streams"], {}
    with Served(peer, root):
        wait_until(lambda: peer.latest("live", METRIC), 120)
        time.sleep(1)
        out["rss_idle_bytes"] = tree_rss(peer.pid())
        if getattr(peer, "push_path", None):
            fan, out["how"] = Fanout(peer, "live", n), f"{n} event streams"
            timeout = 60
        else:
            every = ui_poll_s(peer)
            fan, out["how"] = PollFanout(peer, "live", n, every), f"{n} clients polling every {every:g} s (its page's rate)"
            timeout = every * 3 + 30
        try:
            wait_until(lambda: fan.first_bytes >= n, 120, every=0.05)
            time.sleep(1)
            out["rss_bytes"] = tree_rss(peer.pid())
            reach, step = [], 5000
            for _ in range(sizes["fan_appends"]):
                step += 1
                t = peer.append_row(root, "live", *values_at(step))
                got = fan.wait_all(step, timeout)
                reach.append(got - t if got else None)
                time.sleep(rng.uniform(0.3, 0.6))
        finally:
            fan.close()
    ok = [r for r in reach if r is not None]
    out.update(streams=n, reach_all_p50_s=pct(ok, 50), missed=len(reach) - len(ok),
               rss_per_stream_bytes=(out["rss_bytes"] - out["rss_idle_bytes"]) / n)
    return out


def measure_logs(peer, tmp, sizes, rng):
    """(5) first byte of the tail of a 2 GB log; an appended line to a following client."""
    if not hasattr(peer, "log_file"):
        raise NotImplementedError("no logs")
    mb = sizes["log_mb"]
    root = cached_tree(peer, "log", f"{mb}MB", lambda: [{"name": "logs", "rows": Rows(10), "log_lines": log_lines(10)}],
                       grow=lambda r: grow_log(peer.log_file(r, "logs"), mb))
    path = peer.log_file(root, "logs")
    size0 = os.path.getsize(path)
    out = {"log_bytes": size0}
    try:
        with Served(peer, root):
            wait_until(lambda: "logs" in peer.list_runs(), 300)
            times = []
            for _ in range(7):
                dt, out["tail_bytes"] = peer.log_ttfb("logs", 65536)
                times.append(dt)
            out["ttfb_p50_s"] = statistics.median(times[1:])  # the first may warm a lookup
            out["ttfb_first_s"] = times[0]
            f = peer.follow_log("logs")
            out["how"] = "push" if f else f"polled every {FAST_LOG_POLL_S * 1000:.0f} ms (its page: every {getattr(peer, 'ui_poll', {}).get('logs', '?')} s)"
            f = f or log_poller(peer, "logs")
            lat = []
            for k in range(sizes["log_appends"]):
                t = peer.append_log(root, "logs", f"bench-mark-{k} appended line")
                got = f.wait_for(k, 30)
                lat.append(got - t if got else None)
                time.sleep(rng.uniform(0.2, 0.5))
            f.close()
    finally:
        os.truncate(path, size0)  # the cached log stays as it was
    ok = [v for v in lat if v is not None]
    out.update(follow_p50_s=pct(ok, 50), follow_p95_s=pct(ok, 95), follow_missed=len(lat) - len(ok))
    return out


RUNNERS = {"latency": measure_latency, "cold": measure_cold, "cost": measure_cost,
           "fanout": measure_fanout, "logs": measure_logs}


# -- peers and output ----------------------------------------------------------------------


def make_peers(names):
    peers, skipped = [], {}
    if "tailboard" in names:
        peers.append(TailboardPeer())
    if "spt" in names:
        peers.append(SptPeer())
    if "tensorboard" in names:
        try:
            from peer_tensorboard import TensorBoardPeer
            peers += [TensorBoardPeer(reload="default"), TensorBoardPeer(reload="fastest")]
        except Exception as e:  # noqa: BLE001 - the peer is optional
            skipped["TensorBoard"] = f"{type(e).__name__}: {e}"
    ready = []
    for p in peers:
        try:
            p.setup()
            ready.append(p)
        except Exception as e:  # noqa: BLE001
            skipped[p.name] = f"setup failed: {type(e).__name__}: {e}"
    return ready, skipped


ROWS = [  # (measure, key, label, unit)
    ("latency", "p50_s", "update latency p50", "s"),
    ("latency", "p95_s", "update latency p95", "s"),
    ("cold", "first_answer_s", "start to the first answer (empty folder)", "s"),
    ("cold", "big_metrics_s", "cold start to first metrics of a {big_rows:,}-row run", "s"),
    ("cold", "runs_list_s", "cold start to the full list of {many_runs:,} runs", "s"),
    ("cost", "cpu_per_row_s", "server CPU per appended row ({big_rows:,}-row file)", "s"),
    ("fanout", "rss_bytes", "server RSS with {streams} clients open", "B"),
    ("fanout", "rss_per_stream_bytes", "server RSS per client", "kB"),
    ("fanout", "reach_all_p50_s", "one append to all {streams} clients, p50", "s"),
    ("logs", "ttfb_p50_s", "first byte of the tail of a {log_mb:,} MiB log", "s"),
    ("logs", "follow_p50_s", "appended log line to a following client, p50", "s"),
]


def fmt(v, unit):
    if v is None:
        return "-"
    if unit == "B":
        return f"{v / 1e6:,.1f} MB"
    if unit == "kB":
        return f"{v / 1e3:,.1f} kB"
    return f"{v * 1000:,.2f} ms" if v < 1 else f"{v:,.2f} s"


def table(results, peers, sizes):
    tb = results.get("Tailboard", {})
    lines = []
    for p in peers:
        if p.name == "Tailboard":
            continue
        res = results.get(p.name, {})
        rows = [("measure", "Tailboard", p.name, "peer/Tailboard", "who is ahead")]
        for measure, key, label, unit in ROWS:
            a, b = tb.get(measure, {}), res.get(measure, {})
            va, vb = a.get(key), b.get(key)
            if "error" in b or "error" in a:
                ratio, ahead = "-", "n/a: " + (b.get("error") or a.get("error"))[:60]
            elif va is not None and vb is not None and va > 0 and vb > 0:
                r = vb / va
                ratio, ahead = f"{r:,.2f}x", "Tailboard" if r > 1.05 else "peer" if r < 1 / 1.05 else "even (±5%)"
            elif va is not None and vb is not None:
                ratio, ahead = "-", "below the idle noise"
            else:
                ratio, ahead = "-", "-"
            rows.append((label.format(**sizes), fmt(va, unit), fmt(vb, unit), ratio, ahead))
        hows = [f"  {m}: Tailboard {tb.get(m, {}).get('how', '')}; {p.name} {res.get(m, {}).get('how', '')}"
                for m in ("latency", "cost", "fanout", "logs") if res.get(m, {}).get("how")]
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines.append("")
        lines += [" | ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows[:1]]
        lines.append("-+-".join("-" * w for w in widths))
        lines += [" | ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows[1:]]
        lines += hows
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, for development")
    ap.add_argument("--only", default=",".join(MEASURES), help="comma list of " + ",".join(MEASURES))
    ap.add_argument("--peers", default="tailboard,spt,tensorboard", help="comma list: tailboard,spt,tensorboard")
    ap.add_argument("--appends", type=int, help="appends timed for the update latency")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    sizes = dict(QUICK if args.quick else FULL)
    if args.appends:
        sizes["appends"] = args.appends
    only = [m.strip() for m in args.only.split(",") if m.strip()]
    unknown = set(only) - set(MEASURES)
    if unknown:
        ap.error(f"unknown measure(s): {', '.join(sorted(unknown))}")
    names = {p.strip() for p in args.peers.split(",")} | {"tailboard"}  # ratios need Tailboard
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    atexit.register(stop_all)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = sizes["streams"] * 2 + 256
    if soft < want:  # the servers inherit it (each stream is a socket on both ends)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    os.makedirs(TREES, exist_ok=True)
    peers, skipped = make_peers(names)
    for name, why in skipped.items():
        print(f"{name}: skipped ({why})")
    results = {p.name: {} for p in peers}
    tmp = tempfile.mkdtemp(prefix="tailboard-compare-")
    t_start = time.perf_counter()
    try:
        for measure in only:
            for p in peers:
                log(f"{measure}: {p.name} ...")
                rng = random.Random(args.seed)
                try:
                    results[p.name][measure] = RUNNERS[measure](p, tmp, sizes, rng)
                except NotImplementedError as e:
                    results[p.name][measure] = {"error": f"not supported ({e or 'no such feature'})"}
                except Exception as e:  # noqa: BLE001 - one peer's failure must not hide the others
                    results[p.name][measure] = {"error": f"{type(e).__name__}: {e}"}
                log(f"  {json.dumps(results[p.name][measure], default=str)}")
    finally:
        stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    m, code = machine(), code_version(REPO)
    print(f"machine: {m['nproc']} x {m['cpu']}, {(m['ram_bytes'] or 0) / 2**30:.1f} GiB RAM, kernel {m['kernel']}, "
          f"Python {m['python']}, load {m['loadavg']}")
    print(f"code: {code['commit'] or '?'} ({code['modified_files']} modified files); sizes: "
          + ", ".join(f"{k}={v:,}" for k, v in sizes.items()) + f"; took {time.perf_counter() - t_start:.0f} s")
    print("every figure is lower-is-better; peer/Tailboard > 1 means Tailboard is ahead")
    print(table(results, peers, sizes))
    print()
    print(json.dumps({"machine": m, "code": code, "sizes": sizes, "skipped": skipped, "results": results},
                     sort_keys=True, default=str))


if __name__ == "__main__":
    main()
