"""TensorBoard as a peer for ``bench/compare.py`` (issue 7): install, write event files, serve, read.

    python bench/peer_tensorboard.py            # smoke check: both settings, prints figures

TensorBoard is installed into a throwaway venv, ``/tmp/tailboard-peers/tb-venv`` (never into
the repo's Python), pinned to ``tensorboard==2.21.0`` with its own dependencies, plus
``google-crc32c`` so that the bench's writer frames records with a C CRC instead of
TensorBoard's pure-Python one (the bytes are identical; only writing the trees gets faster,
the server is untouched).

What the driver should report about TensorBoard (all checked on 2.21.0):

- **Reload.** The server re-reads the log directory every ``--reload_interval`` seconds
  (default 5.0; 0 means "load once"). ``--load_fast`` defaults to ``auto``: when the Rust
  data server (package ``tensorboard-data-server``, a dependency, shipped for Linux x86_64)
  can start, it reads the files and the Python server asks it over gRPC; otherwise (no
  binary, ``--logdir_spec``, a non-local path, ``--detect_file_replacement``) it falls back to
  the legacy Python multiplexer. The data server takes the interval as whole seconds
  (``str(int(reload_interval))``, so 0.5 becomes 0: reload in a loop, no pause).
- **"default"** = no flags: reload every 5 s, data server (``load_fast=auto``).
- **"fastest"**: ``--load_fast true --reload_interval 0.1``: the data server reloads in a
  loop with no pause (its ``--reload`` is "seconds to sleep between load cycles", and it gets
  ``int(0.1) == 0``). Measured against the other candidate, the Python multiplexer at
  ``--load_fast false --reload_interval 0.1`` (which does sleep 0.1 s; 0.01 is no faster):
  on 3 runs x 1,000 rows, append -> served p50 79 ms vs 97 ms; cold start of a 100,000-row
  run 1.2 s vs 31 s. Its price: the loop never rests, about 77% of a core while nothing
  changes (the multiplexer: 1%), which the CPU figures show. ``--load_fast true`` hard-fails
  if the data server cannot start, so this setting never silently falls back.
- **Front end.** TensorBoard's page has no push: it polls its data every 30 s (the
  auto-reload setting, which only accepts periods of 30 s or more). ``latency`` figures here
  are what a client polling the HTTP API every 20 ms sees, i.e. the server's own reload delay;
  a user in the browser waits on top of that up to 30 s (15 s on average).
- **Sampling.** Scalars are downsampled to 1,000 points per series by default
  (``--samples_per_plugin scalars=N``), by reservoir sampling that always keeps the most
  recent point: ``latest()`` returns the last step written (the smoke check verifies it on a
  100,000-row run; checked by hand on 1,000,000 rows too). The data server did not serve a
  part of a 1,000,000-row file while loading it: the first answer was the last step.
- **"1s"** (not used by compare.py): ``--load_fast true --reload_interval 1``, the fastest
  reload that lets the data server rest: p50 about 1 s, 0.3% of a core idle.
- **No logs**: ``append_log`` and ``log_tail`` raise ``NotImplementedError``; ``subscribe``
  returns None (no push), so the driver polls ``latest()``.

Event files: one ``Event`` per row holding every metric of the row as a ``simple_value``
(what ``tf.summary`` v1 and Keras write; ``torch.utils.tensorboard`` writes one event per
scalar), in one file per run created by TensorBoard's ``EventFileWriter`` (its file name and
``brain.Event:2`` header), rows framed by its ``RecordWriter``. ``append_row`` appends to the
run's newest event file, as the training process that wrote it would.
"""
from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import requests

from bench_live import children

PEERS = "/tmp/tailboard-peers"
VENV = os.path.join(PEERS, "tb-venv")
TB_VERSION = "2.21.0"
PACKAGES = [f"tensorboard=={TB_VERSION}", "google-crc32c"]
# The fastest reload TensorBoard accepts: any --reload_interval in (0, 1) reaches the data
# server as --reload=0, i.e. the next load cycle starts as soon as one ends (see the docstring).
FASTEST = {"load_fast": "true", "reload_interval": "0.1"}
SETTINGS = {
    "default": ({}, "reload 5 s, load_fast auto: Rust data server"),
    "fastest": (FASTEST, "reload_interval 0.1 = data server reloads without pause, load_fast true"),
    # Not used by compare.py: the fastest reload that lets the data server rest between cycles.
    "1s": ({"load_fast": "true", "reload_interval": "1"}, "reload 1 s, load_fast true"),
}

# Runs in the venv's python. "bulk": stdin is "run <dir>" lines, each followed by that run's
# "<step> <json>" rows; "append <dir>": each "<step> <json>" line is written, flushed, and
# answered with "ok <time.time() just before the write>".
WRITER = r'''
import glob, json, os, sys, time
from tensorboard.compat.proto import event_pb2
from tensorboard.summary.writer import event_file_writer, record_writer
try:  # same bytes as TensorBoard's pure-Python CRC, 40x faster
    import google_crc32c
    def _masked_crc32c(data):
        x = google_crc32c.value(data)
        return (((x >> 15) | (x << 17)) + 0xA282EAD8) & 0xFFFFFFFF
    record_writer.masked_crc32c = _masked_crc32c
except ImportError:
    pass

def open_run(path, reuse):
    """A RecordWriter on the run's newest event file (created by EventFileWriter if none)."""
    files = sorted(glob.glob(os.path.join(path, "events.out.tfevents.*"))) if reuse else []
    if not files:
        w = event_file_writer.EventFileWriter(path)
        w.close()
        files = [w._file_name]
    return record_writer.RecordWriter(open(files[-1], "ab"))

def write_row(rw, line, wall):
    step, values = line.split(" ", 1)
    ev = event_pb2.Event(wall_time=wall, step=int(step))
    for tag, v in json.loads(values).items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            ev.summary.value.add(tag=tag, simple_value=v)
    rw.write(ev.SerializeToString())

def bulk():
    rw = None
    for line in sys.stdin:
        if line.startswith("run "):
            if rw:
                rw.close()
            rw = open_run(line[4:].rstrip("\n"), reuse=False)
        else:
            write_row(rw, line, time.time())
    if rw:
        rw.close()

def append(path):
    rw = open_run(path, reuse=True)
    for line in sys.stdin:
        t = time.time()
        write_row(rw, line, t)
        rw.flush()
        sys.stdout.write("ok %r\n" % t)
        sys.stdout.flush()

if sys.argv[1] == "bulk":
    bulk()
else:
    append(sys.argv[2])
'''


def venv_python():
    return os.path.join(VENV, "bin", "python")


def row_line(step, values):
    """One row of the writer's protocol: '<step> <json of the row's metrics>'."""
    return f"{int(step)} {json.dumps(values)}\n"


class TensorBoardPeer:
    """TensorBoard behind the peer interface of ``bench/compare.py``.

    ``reload="default"``: TensorBoard's defaults (reload every 5 s, ``load_fast=auto``, i.e. the
    Rust data server). ``reload="fastest"``: ``FASTEST`` (the fastest reload it accepts; see the
    module docstring). TensorBoard has no push and its page polls every 30 s at the fastest;
    scalars are sampled to 1,000 points per series but the latest point is always kept.
    """

    ui_poll_s = 30.0  # its page's auto-reload period (the default and the minimum it accepts)

    def __init__(self, reload="default"):
        if reload not in SETTINGS:
            raise ValueError(f"reload must be one of {sorted(SETTINGS)}, not {reload!r}")
        self.reload = reload
        self.flags, what = SETTINGS[reload]
        self.name = f"TensorBoard {TB_VERSION} ({what})"
        self.proc = None
        self.base = None
        self.http = requests.Session()
        self.appenders = {}
        self.log_path = None
        atexit.register(self.stop)

    # -- install and write -----------------------------------------------------------------

    def setup(self):
        """Create the venv and install the pinned TensorBoard into it, once (cached)."""
        marker = os.path.join(VENV, f".installed-{TB_VERSION}")
        if os.path.exists(marker):
            return
        os.makedirs(PEERS, exist_ok=True)
        if not os.path.exists(venv_python()):
            subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([venv_python(), "-m", "pip", "install", "-q", *PACKAGES], check=True)
        open(marker, "w").close()

    def write_tree(self, root, runs):
        """Write each run as one event file under ``root/<name>/``, all in one writer process."""
        proc = subprocess.Popen([venv_python(), "-c", WRITER, "bulk"], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, text=True, bufsize=1 << 20)
        try:
            for run in runs:
                proc.stdin.write(f"run {os.path.join(root, run['name'])}\n")
                proc.stdin.writelines(row_line(step, values) for step, values in run["rows"])
        finally:
            proc.stdin.close()
            if proc.wait() != 0:
                raise RuntimeError(f"event writer exited with {proc.returncode}")

    def append_row(self, root, run_name, step, values):
        """Append one row to the run's event file, flushed; the writer's time.time() before it."""
        key = (root, run_name)
        proc = self.appenders.get(key)
        if proc is None or proc.poll() is not None:
            proc = subprocess.Popen([venv_python(), "-c", WRITER, "append", os.path.join(root, run_name)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
            self.appenders[key] = proc
        proc.stdin.write(row_line(step, values))
        proc.stdin.flush()
        answer = proc.stdout.readline()
        if not answer.startswith("ok "):
            raise RuntimeError(f"event appender for {run_name!r} answered {answer!r}")
        return float(answer[3:])

    def append_log(self, root, run_name, line):
        raise NotImplementedError("TensorBoard shows no logs")

    def log_tail(self, run_name, nbytes):
        raise NotImplementedError("TensorBoard shows no logs")

    # -- serve -----------------------------------------------------------------------------

    def command(self, root, port):
        """The tensorboard command line for this setting."""
        cmd = [os.path.join(VENV, "bin", "tensorboard"), "--logdir", root,
               "--host", "127.0.0.1", "--port", str(port)]
        for flag, value in self.flags.items():
            cmd += [f"--{flag}", value]
        return cmd

    def start(self, root, port, timeout=120):
        """Start tensorboard on ``root`` and return once its HTTP server answers (its data may
        still be loading: poll ``list_runs``/``latest`` for that)."""
        self.stop()
        fd, self.log_path = tempfile.mkstemp(prefix="tensorboard-", suffix=".log")
        # Its own session: stop() ends tensorboard and its data server together.
        self.proc = subprocess.Popen(self.command(root, port), stdout=fd, stderr=fd,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        os.close(fd)
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tensorboard exited with {self.proc.returncode}:\n{self.log_tail_text()}")
            try:
                self.http.get(self.base + "/data/environment", timeout=5)
                return
            except requests.ConnectionError:
                time.sleep(0.02)
        raise RuntimeError(f"tensorboard did not answer in {timeout}s:\n{self.log_tail_text()}")

    def log_tail_text(self):
        with open(self.log_path, "rb") as f:
            return f.read()[-3000:].decode(errors="replace")

    def stop(self):
        """Stop the server (and its data server) and the append writers; safe to call twice."""
        for proc in self.appenders.values():
            if proc.poll() is None:
                proc.stdin.close()
                proc.wait(timeout=10)
        self.appenders = {}
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        if self.log_path:
            os.unlink(self.log_path)
            self.log_path = None

    def pid(self):
        """The tensorboard server process (the Python one; see ``pids`` for its data server)."""
        return self.proc.pid

    def pids(self):
        """tensorboard and its children (the Rust data server with load_fast): sum CPU and
        memory over these, since with the data server the reading happens there."""
        return [self.proc.pid, *children(self.proc.pid)]

    # -- read ------------------------------------------------------------------------------

    def list_runs(self):
        """The runs TensorBoard knows so far (GET /data/runs)."""
        r = self.http.get(self.base + "/data/runs", timeout=60)
        r.raise_for_status()
        return r.json()

    def latest(self, run_name, metric):
        """(step, value) of the last point TensorBoard serves for the series, or None."""
        r = self.http.get(self.base + "/data/plugin/scalars/scalars",
                          params={"run": run_name, "tag": metric}, timeout=60)
        if r.status_code in (400, 404):
            return None  # run or tag not loaded yet
        r.raise_for_status()
        points = r.json()
        if not points:
            return None
        _wall, step, value = points[-1]
        return step, value

    def subscribe(self, run_name):
        """TensorBoard has no push: None, so the driver polls ``latest()``."""
        return None


# -- smoke check -----------------------------------------------------------------------------


def cpu_seconds(pids):
    """utime + stime of these processes, in seconds."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def synthetic_rows(n, seed=0):
    """n rows of (step, {train/loss, lr}) and a val row every 100 steps, like make_runs' big run."""
    import math
    import random
    rnd = random.Random(seed)
    for step in range(n):
        row = {"train/loss": 2.0 * math.exp(-step / (n / 3 + 1)) + rnd.random() * 0.05, "lr": 1e-3}
        if step % 100 == 99:
            row["val/loss"] = row["train/loss"] + 0.1
        yield step, row


def wait_until(fn, timeout, poll=0.02):
    """Call fn every ``poll`` s until it returns something truthy; (value, seconds) or raise."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            value = fn()
        except requests.RequestException:
            value = None
        if value:
            return value, time.perf_counter() - t0
        time.sleep(poll)
    raise TimeoutError(f"not true after {timeout}s")


def smoke(setting, small, big, appends):
    peer = TensorBoardPeer(setting)
    print(f"== {peer.name}: {' '.join(peer.command('<root>', '<port>')[1:])}")
    t0 = time.perf_counter()
    peer.start(small, free_port())
    print(f"  HTTP answers after start(): {time.perf_counter() - t0:.2f} s")
    runs, _ = wait_until(lambda: len(peer.list_runs()) == 3 and peer.list_runs(), 120)
    last, took = wait_until(lambda: (p := peer.latest("run0", "train/loss")) and p[0] >= 999 and p, 120)
    print(f"  list_runs: {sorted(runs)}; latest(run0, train/loss) = {last}, "
          f"{time.perf_counter() - t0:.2f} s after start(); unknown run/tag: "
          f"{peer.latest('nope', 'train/loss')}, {peer.latest('run0', 'nope')}")
    cpu0, w0 = cpu_seconds(peer.pids()), time.perf_counter()
    time.sleep(3)
    print(f"  idle CPU: {100 * (cpu_seconds(peer.pids()) - cpu0) / (time.perf_counter() - w0):.1f}% of a core "
          f"({len(peer.pids())} processes)")
    lat = []
    for i in range(appends):
        step = last[0] + 1 + i  # the previous setting appended to run0 too
        t_write = peer.append_row(small, "run0", step, {"train/loss": 0.5 + i / 1000, "lr": 1e-3})
        wait_until(lambda: (p := peer.latest("run0", "train/loss")) and p[0] >= step, 60)
        lat.append(time.time() - t_write)
    lat.sort()
    print(f"  append -> latest() shows it, n={len(lat)}: p50 {lat[len(lat) // 2] * 1000:.0f} ms, "
          f"min {lat[0] * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms")
    peer.stop()
    rows = big[1]
    t0 = time.perf_counter()
    peer.start(big[0], free_port())
    last, _ = wait_until(lambda: (p := peer.latest("big", "train/loss")) and p[0] == rows - 1 and p, 600)
    print(f"  cold start, {rows:,}-row run: start() -> latest = {last} in {time.perf_counter() - t0:.2f} s")
    r = peer.http.get(peer.base + "/data/plugin/scalars/scalars", params={"run": "big", "tag": "train/loss"})
    print(f"  points served for that series: {len(r.json())}")
    peer.stop()


def main():
    import argparse
    import shutil
    ap = argparse.ArgumentParser(description="TensorBoard peer: smoke check with figures")
    ap.add_argument("--settings", default="default,fastest")
    ap.add_argument("--flags", default="", help="override the flags, e.g. reload_interval=1,load_fast=true")
    ap.add_argument("--big-rows", type=int, default=100_000)
    ap.add_argument("--appends", type=int, default=20)
    args = ap.parse_args()
    if args.flags:
        SETTINGS["custom"] = (dict(kv.split("=", 1) for kv in args.flags.split(",")), args.flags)
        args.settings = "custom"
    TensorBoardPeer().setup()
    tmp = tempfile.mkdtemp(prefix="tb-peer-")
    try:
        small, big = os.path.join(tmp, "small"), os.path.join(tmp, "big")
        t0 = time.perf_counter()
        TensorBoardPeer().write_tree(small, [{"name": f"run{i}", "rows": synthetic_rows(1000, i), "log_lines": []}
                                             for i in range(3)])
        print(f"write_tree 3 x 1,000 rows: {time.perf_counter() - t0:.2f} s")
        t0 = time.perf_counter()
        TensorBoardPeer().write_tree(big, [{"name": "big", "rows": synthetic_rows(args.big_rows), "log_lines": []}])
        print(f"write_tree 1 x {args.big_rows:,} rows: {time.perf_counter() - t0:.2f} s")
        for setting in args.settings.split(","):
            smoke(setting, small, (big, args.big_rows), args.appends)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
