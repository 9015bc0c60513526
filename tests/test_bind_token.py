"""Binding: 127.0.0.1 unless told otherwise; beyond loopback without a token, one is generated.

Real servers (``gunicorn -c gunicorn.conf.py`` and ``flask run``, with and without the
reloader) are started the way a user starts them; the printed line is the only way to learn
the token, as it is for the user.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests

from conftest import REPO, free_port
from live_clients import die_with_parent

LINE = re.compile(r"Tailboard: open (https?)://([^/\s]+):(\d+)/\?token=([A-Za-z0-9_-]+)")


class Server:
    """A server command in a subprocess; its output is collected line by line."""

    def __init__(self, cmd, root, **env):
        environ = {k: v for k, v in os.environ.items()
                   if k not in ("VIEWER_TOKEN", "VIEWER_OPEN", "TAILBOARD_BIND", "TAILBOARD_PORT")}
        environ.update(VIEWER_ROOT=str(root), VIEWER_HEARTBEAT="0.5", **env)
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=environ, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        self.lines = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.proc.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    def output(self):
        return "\n".join(self.lines)

    def wait_until_serving(self, port, headers=None):
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                r = requests.get(f"http://127.0.0.1:{port}/healthz", headers=headers or {}, timeout=1)
                if r.status_code in (200, 401):
                    return r
            except requests.RequestException:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError("server did not start:\n" + self.output())

    def announced(self):
        return [m.groups() for m in map(LINE.search, self.lines) if m]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def gunicorn(*args):
    exe = shutil.which("gunicorn") or os.path.join(os.path.dirname(sys.executable), "gunicorn")
    return [exe, "-c", "gunicorn.conf.py", *args, "app:create_app()"]


def flask_run(*args):
    return [sys.executable, "-m", "flask", "--app", "app", "run", *args]


def listening_addresses(port):
    """Local addresses with a listening TCP socket on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    local, state = line.split()[1], line.split()[3]
                    addr, _, hexport = local.partition(":")
                    if state == "0A" and int(hexport, 16) == port:  # 0A: LISTEN
                        found.add(addr)
        except OSError:
            pass
    return found


def lan_address():
    """An address of this machine other than loopback, or None."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the route's source
            addr = s.getsockname()[0]
        return None if addr.startswith("127.") else addr
    except OSError:
        return None


@pytest.fixture
def root(samples):
    return samples


# -- the decision ---------------------------------------------------------------------------

@pytest.mark.parametrize("address,loopback", [
    (("127.0.0.1", 80), True), (("127.0.0.2", 80), True), (("::1", 80), True), (("[::1]", 80), True),
    (("localhost", 80), True), (("0.0.0.0", 80), False), (("::", 80), False), (("", 80), False),
    (("192.168.1.5", 80), False), (("10.0.0.1", 80), False), ("/run/tailboard.sock", False),
    (("no-such-host.invalid", 80), False),
])
def test_what_counts_as_loopback(address, loopback):
    from app import is_loopback

    assert is_loopback(address) is loopback


def test_a_token_is_generated_only_when_needed(monkeypatch, capsys):
    from app import token_for_bind

    monkeypatch.delenv("VIEWER_TOKEN", raising=False)
    monkeypatch.delenv("VIEWER_OPEN", raising=False)
    assert token_for_bind([("127.0.0.1", 5000)]) is None
    assert token_for_bind([("0.0.0.0", 5000)], configured="mine") is None
    assert token_for_bind([("0.0.0.0", 5000)], is_open=True) is None
    monkeypatch.setenv("VIEWER_OPEN", "1")
    assert token_for_bind([("0.0.0.0", 5000)]) is None
    monkeypatch.setenv("VIEWER_OPEN", "0")
    monkeypatch.setenv("VIEWER_TOKEN", "")  # empty is not a way to switch it off
    token = token_for_bind([("127.0.0.1", 5000), ("::", 5000)])
    assert token and len(token) >= 40 and os.environ["VIEWER_TOKEN"] == token
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and err[1] == f"Tailboard: open http://{socket.gethostname()}:5000/?token={token}"
    assert token_for_bind([("0.0.0.0", 5000)]) is None  # already set: the same token everywhere


def test_gunicorn_master_deciding_the_token_imports_only_the_standard_library():
    """``when_ready`` runs in gunicorn's master, before its gevent workers patch the standard
    library: deciding the token must not load Flask (nor anything that starts threads)."""
    code = ("import sys; from app import token_for_bind; token_for_bind([('127.0.0.1', 1)], is_open='no'); "
            "print(sorted(m for m in ('flask', 'werkzeug', 'gevent', 'watchdog', 'jinja2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_embedded_viewer_never_generates_a_token(samples, monkeypatch):
    from flask import Flask

    from viewer import Viewer

    monkeypatch.delenv("VIEWER_TOKEN", raising=False)
    host = Flask("host")
    v = Viewer(host, root=str(samples), url_prefix="/tb", background=False)
    try:
        assert host.test_client().get("/tb/api/runs").status_code == 200  # the host site decides
        assert "VIEWER_TOKEN" not in os.environ
    finally:
        v.stop()


# -- real servers ---------------------------------------------------------------------------

@pytest.mark.slow
def test_gunicorn_with_the_repo_conf_listens_on_loopback_only(root):
    port = free_port()
    srv = Server(gunicorn(), root, TAILBOARD_PORT=str(port))
    try:
        assert srv.wait_until_serving(port).status_code == 200  # loopback: open, no token
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, nothing else
        lan = lan_address()
        if lan:
            with pytest.raises(OSError):
                socket.create_connection((lan, port), timeout=2).close()
        assert srv.announced() == []
    finally:
        srv.stop()


@pytest.mark.slow
@pytest.mark.parametrize("empty_token", [False, True])
def test_gunicorn_on_all_addresses_generates_one_token_for_every_worker(root, empty_token):
    port = free_port()
    env = {"WEB_CONCURRENCY": "2"}
    if empty_token:
        env["VIEWER_TOKEN"] = ""
    srv = Server(gunicorn("-b", f"0.0.0.0:{port}"), root, **env)
    try:
        assert srv.wait_until_serving(port).status_code == 401
        (scheme, host, shown_port, token), = srv.announced()  # one line, printed once
        assert (scheme, shown_port) == ("http", str(port)) and host == socket.gethostname()
        auth = {"Authorization": f"Bearer {token}"}
        # a new connection each: they spread over both workers
        codes = {requests.get(f"http://127.0.0.1:{port}/api/runs", headers=auth, timeout=5).status_code
                 for _ in range(30)}
        assert codes == {200}
        r = requests.get(f"http://127.0.0.1:{port}/?token={token}", allow_redirects=False, timeout=5)
        assert r.status_code == 302 and "tailboard_auth" in r.cookies
        assert requests.get(f"http://127.0.0.1:{port}/api/runs", timeout=5).status_code == 401
    finally:
        srv.stop()


def test_gunicorn_behind_a_proxy_with_viewer_open(root):
    port = free_port()
    srv = Server(gunicorn("-b", f"0.0.0.0:{port}"), root, VIEWER_OPEN="1")
    try:
        assert srv.wait_until_serving(port).status_code == 200
        assert srv.announced() == []
    finally:
        srv.stop()


def test_gunicorn_keeps_a_token_it_was_given(root):
    port = free_port()
    srv = Server(gunicorn("-b", f"0.0.0.0:{port}"), root, VIEWER_TOKEN="given-token")
    try:
        assert srv.wait_until_serving(port).status_code == 401
        assert srv.announced() == []  # the user knows it; it is not printed into shared logs
        r = requests.get(f"http://127.0.0.1:{port}/api/runs", headers={"Authorization": "Bearer given-token"})
        assert r.status_code == 200
    finally:
        srv.stop()


def test_flask_run_default_is_loopback_and_open(root):
    port = free_port()
    srv = Server(flask_run("--port", str(port)), root)
    try:
        assert srv.wait_until_serving(port).status_code == 200
        assert listening_addresses(port) == {"0100007F"}
        assert srv.announced() == []
    finally:
        srv.stop()


@pytest.mark.parametrize("reload", [False, True])
def test_flask_run_on_all_addresses_generates_a_token(root, reload):
    """With ``--reload`` the parent and its child both load the app: they must agree."""
    port = free_port()
    srv = Server(flask_run("--host", "0.0.0.0", "--port", str(port), *(["--reload"] if reload else [])), root)
    try:
        assert srv.wait_until_serving(port).status_code == 401
        (_, _, shown_port, token), = srv.announced()
        assert shown_port == str(port)
        if reload:
            assert "Restarting with" in srv.output()  # the child serves, with the parent's token
        r = requests.get(f"http://127.0.0.1:{port}/api/runs", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json()["runs"]
    finally:
        srv.stop()
