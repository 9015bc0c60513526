"""The soak benchmark's agents, each group in its own process (see bench_soak.py).

- **Writers**: trainers appending Lightning ``metrics.csv`` rows (and a ``train.out`` line now
  and then) on a fixed schedule; every row carries its write time in a ``time`` column, so a
  client computes write-to-event latency from the event alone (same machine, same clock).
- **Clients**: ``/events?run=...`` streams that build each followed run's series the way a
  chart does: fetch ``/metrics?points=100000`` first and on ``reset``/``resync``/a gap, then
  append each ``metrics`` event's points from index ``from`` on (skipping those already held).
  A view is kept as a :class:`Digest` per series, so 200 clients x 600,000 points cost no memory.
- **Files**: :func:`file_digests` parses a ``metrics.csv`` with the ``csv`` module, apart from
  the viewer's own parser, into the same digests; equal digests mean an equal sequence.
"""
from __future__ import annotations

import csv
import hashlib
import heapq
import http.client
import json
import math
import os
import random
import socket
import struct
import threading
import time
from array import array
from collections import Counter

HEADER = "epoch,lr,step,time,train/acc,train/loss\r\n"  # sorted, CRLF: as Lightning writes it
METRICS = ("lr", "train/acc", "train/loss")
LATENCY_SERIES = "train/loss"  # every row has it: one latency sample per (client, row)
BUCKET = 1e-4                  # latency histogram resolution: 0.1 ms
MAX_POINTS = 100_000           # the API's cap on points=: a longer series cannot be fetched whole
NAN = float("nan")


def run_id(i):
    return f"proj{i:03d}/lightning_logs/version_0"


def f32(x):
    """The float Lightning writes for a float32 tensor."""
    return struct.unpack("f", struct.pack("f", x))[0]


def make_tree(root, runs, initial_rows, seed):
    """``runs`` Lightning runs, each with a header, ``initial_rows`` rows and an ``hparams.yaml``;
    returns ``[(run id, metrics.csv path, train.out path)]``."""
    out = []
    for i in range(runs):
        rid = run_id(i)
        d = os.path.join(root, rid)
        os.makedirs(d)
        rng = random.Random(seed * 1000 + i)
        t = time.time() - initial_rows * 0.01
        with open(os.path.join(d, "metrics.csv"), "w", newline="") as f:
            f.write(HEADER)
            for step in range(initial_rows):
                f.write(row(step, rng, t + step * 0.01))
        with open(os.path.join(d, "hparams.yaml"), "w") as f:
            f.write(f"model:\n  name: soak{i:03d}\noptim:\n  lr: {1e-4 * (1 + i % 5)}\nseed: {i % 3}\n")
        with open(os.path.join(d, "train.out"), "w") as f:
            f.write(f"soak run {i}: starting\n")
        out.append((rid, os.path.join(d, "metrics.csv"), os.path.join(d, "train.out")))
    return out


def row(step, rng, t):
    """One Lightning train row; ``t`` (its write time, full precision) in the ``time`` column."""
    loss = f32(2.0 / (1 + step / 500) + 0.05 * rng.random())
    acc = f32(min(1.0, step / 20_000 + 0.1 * rng.random()))
    lr = f32(1e-4 * (1 + math.cos(step / 1000)))
    return f"{step // 1000},{lr!r},{step},{t!r},{acc!r},{loss!r}\r\n"


# -- writers -------------------------------------------------------------------------------


def writer_main(runs, rate, batch, log_every, seed, first_step, conn):
    """A writer process: waits for ``(t0, t_end)`` on ``conn``, then appends ``batch`` rows to
    each run every ``batch / rate`` s, runs staggered over the period, each batch one
    open/write/close (how a CSV logger appends). Due times come from the schedule, not from
    sleeping (no drift); a late batch is written at once and its lateness recorded. Sends back
    rows written per run, the lateness histogram (ms) and the process CPU time."""
    t0, t_end = conn.recv()
    period = batch / rate
    rngs = {rid: random.Random(seed * 7919 + k) for k, (rid, _m, _o) in enumerate(runs)}
    # (due, batch number, run): a due time is computed, never accumulated (no rounding drift)
    heap = [(t0 + period * k / len(runs), 0, k) for k in range(len(runs))]
    heapq.heapify(heap)
    steps = [first_step] * len(runs)
    late = Counter()
    while heap:
        due, n, k = heap[0]
        if due >= t_end:
            break
        now = time.time()
        if now < due:
            time.sleep(due - now)
            continue
        heapq.heapreplace(heap, (t0 + period * (n + 1 + k / len(runs)), n + 1, k))
        rid, metrics_path, log_path = runs[k]
        t = time.time()
        late[int((t - due) * 1000)] += 1
        lines = "".join(row(steps[k] + j, rngs[rid], t) for j in range(batch))
        with open(metrics_path, "a", newline="") as f:
            f.write(lines)
        if log_every and (steps[k] + batch) // log_every != steps[k] // log_every:
            with open(log_path, "a") as f:
                f.write(f"[step {steps[k] + batch - 1}] loss={float(lines.rsplit(',', 1)[1]):.4f}\n")
        steps[k] += batch
    conn.send({"rows": {rid: steps[k] - first_step for k, (rid, _m, _o) in enumerate(runs)},
               "late_ms": dict(late), "cpu_s": sum(os.times()[:2])})


# -- digests -------------------------------------------------------------------------------


class Digest:
    """A series as its point count and two running hashes (of its steps, of its values):
    feeding the same points in any chunks gives the same digest. It also counts chunks that
    did not continue the steps (a lost or repeated row shows there first)."""

    __slots__ = ("n", "last", "hs", "hy", "jumps")

    def __init__(self):
        self.n, self.last, self.jumps = 0, None, 0
        self.hs = hashlib.blake2b(digest_size=16)
        self.hy = hashlib.blake2b(digest_size=16)

    def extend(self, steps, ys):
        if not steps:
            return
        steps = [NAN if v is None else v for v in steps]
        if self.last is not None and steps[0] != self.last + 1:
            self.jumps += 1
        self.hs.update(array("d", steps).tobytes())
        self.hy.update(array("d", [NAN if v is None else v for v in ys]).tobytes())
        self.n += len(steps)
        self.last = steps[-1]

    def key(self):
        return (self.n, self.hs.hexdigest(), self.hy.hexdigest())


def file_digests(path):
    """{metric: Digest} of a metrics.csv, parsed with the csv module (not the viewer's parser)."""
    series = {}
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        step_i = header.index("step")
        cols = [(i, name) for i, name in enumerate(header) if name in METRICS]
        pending = {name: ([], []) for _i, name in cols}
        for r in reader:
            step = float(r[step_i])
            for i, name in cols:
                if r[i] != "":
                    pending[name][0].append(step)
                    pending[name][1].append(float(r[i]))
    for name, (steps, ys) in pending.items():
        if steps:
            series[name] = d = Digest()
            d.extend(steps, ys)
    return series


# -- clients -------------------------------------------------------------------------------


class Client:
    """One page's event stream: a run page (one run) or a compare page (several)."""

    def __init__(self, cid, host, port, runs):
        self.cid, self.host, self.port, self.runs = cid, host, port, runs
        self.views = {rid: {} for rid in runs}
        self.stats = Counter()
        self.hist = Counter()          # latency bucket (BUCKET s) -> (client, row) samples
        self.max_latency = 0.0
        self.last_id = None
        self.ready = threading.Event()
        self.expected = None           # set by the process: {run: {metric: digest key}}
        self.deadline = None
        self.result = None
        self.error = None

    # -- HTTP

    def fetch(self, rid, why):
        """The run's every point (``points=100000``), as a chart fetches it; replaces its view."""
        self.stats["fetch_" + why] += 1
        conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
        try:
            conn.request("GET", f"/api/runs/{rid}/metrics?points={MAX_POINTS}", headers={"Connection": "close"})
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        if resp.status != 200:
            raise RuntimeError(f"GET metrics of {rid}: {resp.status} {body[:200]!r}")
        view = {}
        for name, s in json.loads(body)["series"].items():
            if s["count"] != len(s["x"]):
                self.stats["downsampled"] += 1  # over MAX_POINTS: the view cannot be exact
            view[name] = d = Digest()
            d.extend(s["x"], s["y"])
        self.views[rid] = view

    def connect(self):
        """Open the stream (HTTP/1.0: no chunked encoding to undo), resuming from the last id."""
        sock = socket.create_connection((self.host, self.port), timeout=30)
        query = "&".join(f"run={rid}" for rid in self.runs)
        head = f"GET /events?{query} HTTP/1.0\r\nHost: {self.host}\r\nAccept: text/event-stream\r\n"
        if self.last_id:
            head += f"Last-Event-ID: {self.last_id}\r\n"
        sock.sendall((head + "\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            data = sock.recv(65536)
            if not data:
                raise RuntimeError("stream closed before its headers")
            buf += data
        head, _, rest = buf.partition(b"\r\n\r\n")
        if not head.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")):
            raise RuntimeError(f"GET /events: {head.splitlines()[0]!r}")
        return sock, rest

    # -- the loop

    def run(self):
        try:
            self._run()
        except Exception as e:  # noqa: BLE001 - reported as this client's failure
            self.error = f"{type(e).__name__}: {e}"
            self.ready.set()

    def _run(self):
        sock, buf = self.connect()
        while b": tailboard" not in buf:  # subscribed once the preamble is sent
            data = sock.recv(65536)
            if not data:
                raise RuntimeError("stream closed before its preamble")
            buf += data
        sock.settimeout(0.5)  # from now on: wake up twice a second to see whether we are done
        for rid in self.runs:
            self.fetch(rid, "start")
        self.ready.set()
        try:
            while not self._done():
                try:
                    data = sock.recv(262144)
                except socket.timeout:
                    continue
                if not data:  # the server closed it: reconnect as EventSource does
                    self.stats["reconnects"] += 1
                    sock.close()
                    time.sleep(1.0)
                    sock, data = self.connect()
                    sock.settimeout(0.5)
                t = time.time()
                self.stats["bytes"] += len(data)
                frames = (buf + data).split(b"\n\n")
                buf = frames.pop()
                for frame in frames:
                    self.on_frame(frame, t)
        finally:
            sock.close()
        self.result = self.compare()

    def _done(self):
        if self.expected is None:
            return False
        if time.time() > self.deadline:
            return True
        # every followed series holds as many points as its file: nothing more will come
        return all(name in self.views[rid] and self.views[rid][name].n >= key[0]
                   for rid, names in self.expected.items() for name, key in names.items())

    def on_frame(self, frame, t):
        name, data = None, None
        for line in frame.split(b"\n"):
            if line.startswith(b"event: "):
                name = line[7:]
            elif line.startswith(b"id: "):
                self.last_id = line[4:].decode()
            elif line.startswith(b"data: ") and name in (b"metrics", b"resync"):
                data = line[6:]
        if name is None:
            return  # the preamble, a ping
        self.stats["events"] += 1
        if name == b"metrics":
            self.stats["metrics_events"] += 1
            self.on_metrics(json.loads(data), t)
        elif name == b"resync":
            self.stats["resyncs"] += 1
            for rid in self.runs:
                self.fetch(rid, "resync")

    def on_metrics(self, ev, t):
        rid = ev["run"]
        if rid not in self.views:
            self.stats["foreign_events"] += 1  # another run's event: the server's filter failed
            return
        if ev["reset"]:
            self.stats["resets"] += 1
            self.fetch(rid, "reset")
            return
        appended = 0
        for name, s in ev["series"].items():
            view = self.views[rid]
            d = view.get(name)
            if d is None:
                d = view[name] = Digest()
            start, steps = s["from"], s["step"]
            if start > d.n:  # a gap: points were lost between two events; re-fetch, as a chart does
                self.stats["gaps"] += 1
                self.fetch(rid, "gap")
                d = self.views[rid].setdefault(name, Digest())
            skip = d.n - start
            if skip >= len(steps):
                self.stats["points_skipped"] += len(steps)
                continue
            if skip > 0:
                self.stats["points_skipped"] += skip
            d.extend(steps[skip:], s["y"][skip:])
            appended += len(steps) - skip
            if name == LATENCY_SERIES:
                for tw in s["time"][skip:]:
                    lat = max(0.0, t - tw)
                    self.hist[int(lat / BUCKET)] += 1
                    if lat > self.max_latency:
                        self.max_latency = lat
        self.stats["points"] += appended
        self.stats["metrics_events_with_points"] += bool(appended)

    def compare(self):
        """This client's final view against the files: [(run, metric, what)] of the differences."""
        diffs = []
        for rid, names in self.expected.items():
            view = self.views[rid]
            for name in sorted(set(names) | set(view)):
                want = names.get(name)
                got = view[name].key() if name in view else None
                if got == want:
                    continue
                if want is None or got is None:
                    what = "only in the view" if want is None else "missing from the view"
                elif got[0] != want[0]:
                    what = f"{got[0]} points, the file has {want[0]}"
                else:
                    what = "same count, different " + ("steps" if got[1] != want[1] else "values")
                diffs.append((rid, name, what))
        jumps = sum(d.jumps for view in self.views.values() for d in view.values())
        return {"id": self.cid, "runs": len(self.runs), "ok": not diffs, "diffs": diffs[:5],
                "n_diffs": len(diffs), "jumps": jumps}


def clients_main(host, port, specs, conn):
    """A client process: one thread per client of ``specs`` ([(id, [run ids])]). Reports
    ``("ready", errors)`` once every stream is open and fetched, waits for ``(expected,
    deadline)``, then sends each client's result, the merged latency histogram and counters."""
    clients = [Client(cid, host, port, runs) for cid, runs in specs]
    threads = [threading.Thread(target=c.run, daemon=True) for c in clients]
    for th in threads:
        th.start()
    for c in clients:
        c.ready.wait(300)
    conn.send(("ready", [f"client {c.cid}: {c.error}" for c in clients if c.error]))
    expected, deadline = conn.recv()
    for c in clients:
        c.deadline = deadline
        c.expected = {rid: expected[rid] for rid in c.runs}
    for th in threads:
        th.join(max(1.0, deadline - time.time() + 60))
    hist, stats = Counter(), Counter()
    results = []
    for c in clients:
        hist.update(c.hist)
        stats.update(c.stats)
        res = c.result or {"id": c.cid, "runs": len(c.runs), "ok": False, "n_diffs": None, "jumps": None,
                           "diffs": [("-", "-", c.error or "client did not finish")]}
        res["max_latency"] = c.max_latency
        results.append(res)
    conn.send(("done", {"results": results, "hist": dict(hist), "stats": dict(stats),
                        "cpu_s": sum(os.times()[:2])}))
