"""The stable-pretraining viewer (``spt web`` 0.1.8) as a benchmark peer, and the spt run-folder
format that it and Tailboard both read (so the two serve the *same* folder).

The wheel is downloaded once into ``/tmp/tailboard-peers/spt`` (``pip download --no-deps``);
only ``stable_pretraining/web/`` and ``registry/_sidecar.py`` are unpacked into ``src/``, with
empty package ``__init__``s (the real ones import torch). Nothing of it enters the repository.

What the peer does, read from its ``web/server.py`` and ``web/scan.py``:

- one ``ThreadingHTTPServer`` (a thread per request; an SSE client holds a thread);
- a scanner thread that walks the root for ``sidecar.json`` and ``stat``s each run's
  ``metrics.csv`` every ``poll_interval`` (1 s): no inotify;
- on a change it pushes ``event: update`` ``{"changed": [run_id], "removed": []}`` on
  ``/api/stream``; the page then re-fetches ``/api/runs`` and the run's whole
  ``/api/metrics-stream`` (the CSV is parsed again from its first byte: the cache is keyed on
  the file's mtime and size). :class:`SptPush` does exactly that, so its figures are the UI's;
- logs: ``/api/log-content`` sends the last 4 MiB of a ``*.out``/``*.err`` of the run folder;
  the page re-fetches it every 5 s while the run is running (no push).
"""
from __future__ import annotations

import http.client
import json
import os
import queue
import subprocess
import sys
import threading
import time
import zipfile
from urllib.parse import quote

from bench_read_path import stop_process

PEERS = "/tmp/tailboard-peers"
SPT_VERSION = "0.1.8"
SPT_DIR = os.path.join(PEERS, "spt")
SPT_SRC = os.path.join(SPT_DIR, "src")
UI_POLL_S = 1.0          # the scanner's poll_interval (serve()'s default)
UI_LOG_POLL_S = 5.0      # the page's log auto-refresh (app.js setInterval 5000)
HEADER = "epoch,lr,step,train/loss\r\n"   # Lightning's CSVLogger: sorted columns, CRLF


def row_line(step, values):
    """One Lightning-layout row of ``HEADER`` (missing values are empty cells)."""
    def cell(name):
        v = values.get(name)
        return "" if v is None else repr(v)
    return f"{step // 10_000},{cell('lr')},{step},{cell('train/loss')}\r\n"


class SptFormat:
    """Writes runs as spt run folders: ``<root>/<name>/`` with ``sidecar.json``, ``heartbeat``,
    ``metrics.csv`` and ``train.out``. Shared by the spt peer and Tailboard's adapter."""

    log_name = "train.out"

    def write_tree(self, root, runs):
        """Write every run of ``runs`` (``{"name", "rows", "log_lines"}``) under ``root``."""
        for run in runs:
            d = os.path.join(root, run["name"])
            os.makedirs(d, exist_ok=True)
            sidecar = {"schema_version": 1, "run_id": run["name"], "run_dir": d, "status": "running",
                       "created_at": time.time(), "ended_at": None, "updated_at": time.time(), "tags": [],
                       "notes": "", "hparams": {"lr": 1e-4, "batch_size": 256}, "summary": {},
                       "checkpoint_path": None}
            with open(os.path.join(d, "sidecar.json"), "w") as f:
                json.dump(sidecar, f)
            open(os.path.join(d, "heartbeat"), "w").close()
            with open(os.path.join(d, "metrics.csv"), "w", newline="") as f:
                f.write(HEADER)
                buf = []
                for step, values in run["rows"]:
                    buf.append(row_line(step, values))
                    if len(buf) >= 20_000:  # a big file in large writes, not a list of a million lines
                        f.write("".join(buf))
                        buf = []
                f.write("".join(buf))
            with open(os.path.join(d, self.log_name), "w") as f:
                f.writelines(line.rstrip("\n") + "\n" for line in run.get("log_lines", ()))

    def append_row(self, root, run_name, step, values):
        """Append one row as CSVLogger does (open, write, close); ``time.time()`` of the write."""
        data = row_line(step, values)
        t = time.time()
        with open(os.path.join(root, run_name, "metrics.csv"), "a", newline="") as f:
            f.write(data)
        return t

    def append_log(self, root, run_name, line):
        """Append one line to the run's ``train.out``; ``time.time()`` of the write."""
        t = time.time()
        with open(self.log_file(root, run_name), "a") as f:
            f.write(line.rstrip("\n") + "\n")
        return t

    def log_file(self, root, run_name):
        """The log file both viewers show for this run (the benchmark grows it to 2 GB)."""
        return os.path.join(root, run_name, self.log_name)


def http_get(base, path, timeout=120):
    """GET over a fresh connection: (status, body bytes)."""
    host, port = base.split("//", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def ttfb(base, path, timeout=120):
    """Seconds from sending a GET to the first byte of its body, and the body's length."""
    host, port = base.split("//", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        t = time.perf_counter()
        conn.request("GET", path)
        resp = conn.getresponse()
        first = resp.read(1)
        dt = time.perf_counter() - t
        rest = resp.read()
        if resp.status != 200 or not first:
            raise RuntimeError(f"GET {path}: {resp.status}")
        return dt, len(first) + len(rest)
    finally:
        conn.close()


class SSELines:
    """A minimal SSE reader thread: calls ``on_event(name, data)`` for every event."""

    def __init__(self, base, path, on_event):
        host, port = base.split("//", 1)[1].split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=3600)
        self.conn.request("GET", path)
        self.resp = self.conn.getresponse()
        if self.resp.status != 200:
            raise RuntimeError(f"GET {path}: {self.resp.status}")
        self.on_event = on_event
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(30):
            raise RuntimeError(f"no SSE data from {path}")

    def _read(self):
        name, data = None, []
        try:
            while True:
                raw = self.resp.readline()
                if not raw:
                    return
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                self.ready.set()
                if not line:
                    if data or name:
                        self.on_event(name or "message", "\n".join(data))
                    name, data = None, []
                elif line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip(" "))
        except Exception:  # noqa: BLE001 - closed under us, or the server went away
            return

    def close(self):
        try:
            self.resp.fp.raw._sock.shutdown(2)  # wake the reader
        except (AttributeError, OSError):
            pass
        self.conn.close()


class Arrivals:
    """Steps seen by a client, each with the ``time.time()`` it was first seen."""

    def __init__(self):
        self.seen = {}
        self.top = -1
        self.cond = threading.Condition()

    def saw_up_to(self, step, when):
        """Everything up to ``step`` is now held (a fetch returns the whole series)."""
        with self.cond:
            if step > self.top:
                self.top = step
                self.seen[step] = when
                self.cond.notify_all()

    def saw(self, steps, when):
        with self.cond:
            for s in steps:
                self.seen.setdefault(s, when)
                self.top = max(self.top, s)
            self.cond.notify_all()

    def wait_for(self, step, timeout):
        """``time.time()`` when ``step`` (or a later one) was first held; None on timeout."""
        deadline = time.time() + timeout
        with self.cond:
            while self.top < step:
                left = deadline - time.time()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return min(t for s, t in self.seen.items() if s >= step)


class SptPush(Arrivals):
    """The spt page's live path: on ``update`` naming the run, re-fetch ``/api/runs`` and the
    run's whole ``/api/metrics-stream`` (as app.js does); a step is held when that fetch ends."""

    how = f"push: {UI_POLL_S:g} s stat poll, an update event, then the page re-fetches /api/runs and the whole series"

    def __init__(self, peer, run_name, metric="train/loss"):
        super().__init__()
        self.peer, self.run, self.metric = peer, run_name, metric
        self.jobs = queue.Queue()
        threading.Thread(target=self._fetcher, daemon=True).start()
        self.sse = SSELines(peer.base, "/api/stream", self._on_event)

    def _on_event(self, name, data):
        if name == "update" and self.run in json.loads(data or "{}").get("changed", ()):
            self.jobs.put(1)

    def _fetcher(self):
        while True:
            self.jobs.get()
            while not self.jobs.empty():  # updates that came meanwhile: one fetch covers them
                self.jobs.get_nowait()
            try:
                http_get(self.peer.base, "/api/runs")
                top = self.peer.stream_top(self.run, self.metric)
            except OSError:
                continue
            if top is not None:
                self.saw_up_to(top, time.time())

    def close(self):
        self.sse.close()


class SptPeer(SptFormat):
    """``spt web`` 0.1.8 (stdlib HTTP server, 1 s stat polling), started on the benchmark tree."""

    name = f"spt web {SPT_VERSION}"
    fmt = "spt"
    ui_poll = {"metrics": "push (1 s stat poll, then the page re-fetches)", "logs": UI_LOG_POLL_S}

    def __init__(self):
        self.proc = None
        self.base = None

    def setup(self):
        """Download the wheel (cached) and unpack only the viewer; idempotent."""
        marker = os.path.join(SPT_SRC, ".done-" + SPT_VERSION)
        if os.path.exists(marker):
            return
        os.makedirs(SPT_DIR, exist_ok=True)
        wheel = os.path.join(SPT_DIR, f"stable_pretraining-{SPT_VERSION}-py3-none-any.whl")
        if not os.path.exists(wheel):
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                            f"stable-pretraining=={SPT_VERSION}", "-d", SPT_DIR], check=True)
        with zipfile.ZipFile(wheel) as z:
            wanted = [n for n in z.namelist() if n.startswith("stable_pretraining/web/")
                      or n == "stable_pretraining/registry/_sidecar.py"]
            z.extractall(SPT_SRC, wanted)
        for pkg in ("stable_pretraining", "stable_pretraining/registry"):
            open(os.path.join(SPT_SRC, pkg, "__init__.py"), "w").close()  # the real ones import torch
        open(marker, "w").close()

    def start(self, root, port):
        """``serve(root, port=port)`` in a subprocess (serve() opens no browser)."""
        code = f"from stable_pretraining.web import serve; serve({root!r}, port={int(port)})"
        env = {**os.environ, "PYTHONPATH": SPT_SRC}
        self.base = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

    def stop(self):
        stop_process(self.proc)

    def pid(self):
        return self.proc.pid

    def list_runs(self):
        status, body = http_get(self.base, "/api/runs")
        return [r["run_id"] for r in json.loads(body)] if status == 200 else []

    def latest(self, run_name, metric):
        status, body = http_get(self.base, "/api/metrics?run_id=" + quote(run_name, safe=""))
        if status != 200:
            return None
        m = json.loads(body)["metrics"].get(metric)
        return (int(m["step"][-1]), m["y"][-1]) if m and m["y"] else None

    def stream_top(self, run_name, metric):
        """The newest step of ``metric`` in the page's own fetch (``/api/metrics-stream``)."""
        status, body = http_get(self.base, "/api/metrics-stream?run_id=" + quote(run_name, safe=""))
        if status != 200:
            return None
        top = None
        for line in body.splitlines():
            obj = json.loads(line) if line.strip() else {}
            steps = (obj.get("metrics") or {}).get(metric, {}).get("step")
            if steps:
                top = max(top or 0, int(steps[-1]))
        return top

    def subscribe(self, run_name):
        return SptPush(self, run_name)

    # -- fan-out: what each of many open pages does on an update ------------------------------
    def push_path(self, run_name):
        return "/api/stream"

    def push_step(self, event, data, run_name, metric):
        """True when the event tells the page to re-fetch ``run_name`` (spt pushes no values)."""
        return True if event == "update" and run_name in json.loads(data or "{}").get("changed", ()) else None

    # -- logs --------------------------------------------------------------------------------
    def _log_path(self, run_name):
        return f"/api/log-content?run_id={quote(run_name, safe='')}&stream_id={quote(self.log_name)}"

    def log_tail(self, run_name, nbytes):
        """The page's log view: spt always sends the last 4 MiB (``nbytes`` is not an option)."""
        status, body = http_get(self.base, self._log_path(run_name))
        if status != 200:
            raise RuntimeError(f"log-content: {status}")
        return body

    def log_ttfb(self, run_name, nbytes):
        return ttfb(self.base, self._log_path(run_name))

    def follow_log(self, run_name):
        return None  # no push for logs: the page polls every 5 s
