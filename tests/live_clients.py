"""Real clients for the live tests: a server in a subprocess, an SSE reader, a websocket."""
from __future__ import annotations

import http.client
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import urlparse

import requests

from conftest import REPO, free_port


def die_with_parent():
    """In the child: get SIGTERM when the test process dies, so no server outlives a killed run;
    and hear Ctrl-C as a server started from a terminal does.

    A suite started in the background by a non-interactive shell (``tox ... &``, CI harnesses)
    runs with SIGINT and SIGQUIT ignored, and an ignored signal stays ignored across exec: Python
    then installs no KeyboardInterrupt handler, so ``flask run`` never saw the tests' Ctrl-C and
    its streams stayed open (test_sigterm_closes_every_stream_within_two_seconds[flask] failed
    in every such run, and passed in a terminal)."""
    import ctypes
    import signal

    for sig in (signal.SIGINT, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_DFL)
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_server(kind, root, **env):
    """``flask run`` or ``gunicorn -k gevent`` serving ``root``; returns (process, base url)."""
    port = free_port()
    environ = {**os.environ, "VIEWER_ROOT": str(root), "VIEWER_HEARTBEAT": "0.5", **env}
    if kind == "flask":
        cmd = [sys.executable, "-m", "flask", "--app", "app", "run", "--port", str(port)]
    else:
        gunicorn = shutil.which("gunicorn") or os.path.join(os.path.dirname(sys.executable), "gunicorn")
        cmd = [gunicorn, "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{port}", "app:create_app()"]
    # a file, not a pipe: nothing reads it while the server runs, and a full pipe (64 KiB of
    # request log lines, a few hundred page loads) would block the server mid-request
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, cwd=REPO, env=environ, stdout=log, stderr=subprocess.STDOUT,
                            preexec_fn=die_with_parent)
    proc.log = log
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            auth = {"Authorization": "Bearer " + env["VIEWER_TOKEN"]} if env.get("VIEWER_TOKEN") else {}
            if requests.get(url + "/healthz", headers=auth, timeout=1).json()["scan"]["phase"] == "done":
                return proc, url
        except (requests.ConnectionError, requests.Timeout, ValueError, KeyError):
            pass  # not listening yet, or a worker still starting (two workers: over 1 s)
        time.sleep(0.1)
    proc.kill()
    log.seek(0)
    raise RuntimeError(f"{kind} did not start: " + log.read().decode(errors="replace"))


def stop_server(proc):
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for out in (getattr(proc, "log", None), proc.stdout):
        if out is not None:
            out.close()


class SSE:
    """Reads ``text/event-stream`` in a thread; events land in a queue as dicts."""

    def __init__(self, base, path, headers=None, conn=None):
        """``conn``: an open keep-alive connection to reuse (the worker that answered it)."""
        u = urlparse(base)
        self.conn = conn or http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        self.conn.request("GET", path, headers=headers or {})
        self.resp = self.conn.getresponse()
        self.events = queue.Queue()
        self.backlog = []
        self.comments = []
        self.connected = threading.Event()
        self.ended = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.connected.wait(10), "no SSE preamble"

    def _read(self):
        ev = {}
        try:
            while True:
                raw = self.resp.readline()
                if not raw:
                    break
                line = raw.decode("utf-8").rstrip("\r\n")
                if not line:
                    if ev:
                        self.events.put(ev)
                    ev = {}
                elif line.startswith(":"):
                    self.comments.append(line)
                    self.connected.set()
                else:
                    key, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if key == "data" and "data" in ev:
                        ev["data"] += "\n" + value
                    else:
                        ev[key] = value
                    self.connected.set()
        except Exception:  # noqa: BLE001 - the test closed the socket under the reader, or the server did
            pass
        self.ended.set()

    def next(self, name, timeout=10.0, where=lambda e: True):
        """The oldest unclaimed event called ``name`` that satisfies ``where``.

        Events passed over stay in a backlog for later calls, so a test does not depend on the
        order of events published together (a run's header and its metrics, say).
        """
        for i, ev in enumerate(self.backlog):
            if ev.get("event") == name and where(ev):
                return self.backlog.pop(i)
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                ev = self.events.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                break
            if ev.get("event") == name and where(ev):
                return ev
            self.backlog.append(ev)
        raise AssertionError(f"no {name!r} event within {timeout}s")

    def close(self):
        try:
            self.resp.fp.raw._sock.shutdown(2)  # wake the reader thread
        except (AttributeError, OSError):
            pass
        self.conn.close()


def ws_connect(base, path):
    import simple_websocket

    class Client(simple_websocket.Client):
        """simple_websocket's client, minus a race: frames that arrive in the same read as the
        101 response (an error message and a close frame, say) were dropped, and the close
        then looked like a lost connection (1005). Browsers read them; so must the tests."""

        def handshake(self):
            super().handshake()
            self._closed_early = not self._handle_events()
            self.connected = True  # the base class refuses a handshake that ends unconnected

        def _thread(self):
            if self._closed_early:
                self.connected = False
                self.event.set()
                self.sock.close()
                return
            super()._thread()

    return Client.connect(base.replace("http://", "ws://") + path)


def ws_next(ws, timeout=10.0, skip=("ping",)):
    deadline = time.time() + timeout
    while time.time() < deadline:
        raw = ws.receive(timeout=max(0.01, deadline - time.time()))
        if raw is None:
            break
        msg = json.loads(raw)
        if msg["type"] not in skip:
            return msg
    raise AssertionError(f"no websocket message within {timeout}s")


def wait_for(check, timeout=10.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
