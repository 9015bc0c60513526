"""The wheel, the ``tailboard`` command and a bare ``pip install -r requirements.txt``.

The slow tests build real virtual environments outside the checkout (shared per session):
one from the wheel alone, one from requirements.txt alone (no test dependencies).
"""
from __future__ import annotations

import json
import os
import re
import runpy
import signal
import socket
import subprocess
import sys
import textwrap
import time
import tomllib

import pytest
import requests

from conftest import REPO, free_port

EXAMPLES = os.path.join(REPO, "examples", "runs")
from live_clients import SSE, die_with_parent, ws_connect
from test_live import descendants, wait_for, ws_next

URL = re.compile(r"Tailboard: open (http://\S+)")
LIGHTNING = "lightning_logs/version_0"  # in examples/runs


def pins(lines):
    return sorted(line.split("#")[0].strip().lower() for line in lines if line.split("#")[0].strip())


def test_pyproject_pins_exactly_what_requirements_txt_pins():
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    with open(os.path.join(REPO, "requirements.txt")) as f:
        required = pins(f)
    assert pins(project["dependencies"]) == required
    assert all(re.fullmatch(r"[a-z0-9_.-]+==[0-9][0-9a-z.]*", pin) for pin in required)  # exact pins only
    assert "packaging==" in " ".join(required)  # gunicorn's gevent worker imports it (issue 17.11)


def test_the_command_runs_gunicorn_with_the_settings_of_gunicorn_conf():
    from viewer.serve import SETTINGS

    conf = runpy.run_path(os.path.join(REPO, "gunicorn.conf.py"))
    assert {key: conf[key] for key in SETTINGS} == SETTINGS


def test_importing_the_command_loads_no_flask_before_gevent_patches():
    # the worker monkey-patches threading and sockets after the fork; anything the master has
    # already imported would keep the unpatched ones
    out = subprocess.run([sys.executable, "-c", "import sys, viewer.cli, viewer.bind, app; "
                          "print(sorted({m.split('.')[0] for m in sys.modules} & "
                          "{'flask', 'werkzeug', 'gevent', 'watchdog', 'flask_sock', 'yaml'}))"],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- the command's arguments and port choice, in-process ---------------------------------------

def parse(*argv):
    from viewer.cli import parser

    return parser().parse_args(list(argv))


def test_defaults_are_loopback_port_8000_and_the_demo():
    from viewer.cli import config_for

    args = parse()
    assert (args.host, args.port, args.open, args.poll, args.dir) == ("127.0.0.1", 8000, False, None, None)
    assert config_for(args) == {}  # no VIEWER_ROOT: the bundled live demo


def test_dir_and_poll_become_the_viewer_settings(tmp_path):
    from viewer.cli import config_for

    args = parse(str(tmp_path), "--poll", "2.5", "--host", "0.0.0.0", "--port", "0", "--open")
    assert config_for(args) == {"VIEWER_ROOT": str(tmp_path), "VIEWER_POLL": 2.5}
    assert (args.host, args.port, args.open) == ("0.0.0.0", 0, True)


@pytest.mark.parametrize("argv, said", [
    (["/no/such/folder"], "'/no/such/folder' is not a directory"),
    (["--poll", "0"], "'0' is not a positive number of seconds"),
    (["--poll", "soon"], "'soon' is not a positive number of seconds"),
    (["--port", "70000"], "'70000' is not a port"),
    (["--port", "http"], "'http' is not a port"),
])
def test_bad_arguments_stop_with_a_usage_error(capsys, argv, said):
    with pytest.raises(SystemExit) as stop:
        parse(*argv)
    assert stop.value.code == 2
    assert said in capsys.readouterr().err


def test_help_says_why_it_binds_loopback(capsys):
    with pytest.raises(SystemExit):
        parse("--help")
    text = " ".join(capsys.readouterr().out.split())
    assert "listens on 127.0.0.1 unless --host says otherwise, because every file under DIR" in text
    assert "generates an access token" in text and "next free one" in text


def test_a_taken_port_moves_on_to_the_next_free_one():
    from viewer.bind import listen

    taken = listen("127.0.0.1", free_port(), tries=1)
    port = taken.getsockname()[1]
    try:
        with listen("127.0.0.1", port) as sock:
            got = sock.getsockname()[1]
            assert port < got < port + 100
            with socket.create_connection(("127.0.0.1", got), timeout=2):
                pass  # listening already: the URL printed before the worker starts is good
    finally:
        taken.close()


def test_the_port_search_gives_up_on_errors_other_than_in_use():
    from viewer.bind import listen

    with pytest.raises(OSError) as err:
        listen("192.0.2.1", free_port())  # TEST-NET: not an address of this machine
    assert err.value.errno == 99  # EADDRNOTAVAIL, at once: no hundred tries


def test_urls_name_the_host_others_reach():
    from viewer.bind import url_for

    assert url_for(("127.0.0.1", 8001)) == "http://127.0.0.1:8001/"
    assert url_for(("::1", 8001), token="t") == "http://[::1]:8001/?token=t"
    assert url_for(("0.0.0.0", 8001)) == f"http://{socket.gethostname()}:8001/"


# --- the command as a process ------------------------------------------------------------------

def launch(cmd, cwd=REPO, env=None, new_session=False):
    """Start the command; returns (process, the URL it printed)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("VIEWER_TOKEN", "VIEWER_ROOT", "VIEWER_OPEN")}
    proc = subprocess.Popen(cmd, cwd=cwd, env={**environ, "VIEWER_HEARTBEAT": "0.5", **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=new_session, preexec_fn=None if new_session else die_with_parent)
    said = []
    deadline = time.time() + 30
    while time.time() < deadline:
        line = proc.stdout.readline()
        said.append(line)
        found = URL.search(line)
        if found:
            return proc, found.group(1)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    pytest.fail("the command printed no URL: " + "".join(said))


def healthy(url, token=None):
    base = url.split("?")[0].rstrip("/")
    auth = {"Authorization": "Bearer " + token} if token else {}
    wait_for(lambda: _scanned(base + "/healthz", auth), timeout=30, what="the server to finish its scan")
    return base


def _scanned(url, headers):
    try:
        return requests.get(url, headers=headers, timeout=1).json()["scan"]["phase"] == "done"
    except (requests.ConnectionError, requests.Timeout, ValueError, KeyError):
        return False


def finish(proc, sig=signal.SIGTERM, group=False):
    if proc.poll() is None:
        os.killpg(proc.pid, sig) if group else proc.send_signal(sig)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.stdout.close()
    return proc.returncode


@pytest.fixture
def runs(tmp_path):
    import shutil

    shutil.copytree(EXAMPLES, tmp_path / "runs")
    return tmp_path / "runs"


def test_ctrl_c_closes_the_streams_and_exits_cleanly(runs):
    # Ctrl-C in a terminal signals the whole foreground group: gunicorn's master and its worker
    proc, url = launch([sys.executable, "-m", "viewer", str(runs), "--port", str(free_port()), "--poll", "0.5"],
                       new_session=True)
    try:
        base = healthy(url)
        assert requests.get(base + "/healthz", timeout=5).json()["watcher"] == "polling"  # --poll reached the worker
        streams = [SSE(base, "/events") for _ in range(2)]
        children = descendants(proc.pid)
        t0 = time.monotonic()
        assert finish(proc, signal.SIGINT, group=True) == 0
        assert all(s.ended.wait(2.0) for s in streams) and time.monotonic() - t0 < 5
        wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in children), timeout=5,
                 what="the worker and the watch process to exit")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_a_public_bind_prints_a_link_with_a_generated_token(runs):
    proc, url = launch([sys.executable, "-m", "viewer", str(runs), "--host", "0.0.0.0", "--port", str(free_port())])
    try:
        token = re.search(r"\?token=([\w-]+)$", url).group(1)
        port = int(re.search(r":(\d+)/", url).group(1))
        healthy(f"http://127.0.0.1:{port}/", token)
        assert requests.get(f"http://127.0.0.1:{port}/api/runs", timeout=5).status_code == 401
        with_token = requests.get(f"http://127.0.0.1:{port}/api/runs?token={token}", timeout=5)
        assert with_token.status_code == 200 and len(with_token.json()["runs"]) == 6
    finally:
        assert finish(proc) == 0


def test_open_hands_the_printed_url_to_the_browser(runs, tmp_path):
    opened = tmp_path / "opened"
    browser = tmp_path / "browser"
    browser.write_text(f"#!/bin/sh\necho \"$1\" > {opened}\n")
    browser.chmod(0o755)
    proc, url = launch([sys.executable, "-m", "viewer", str(runs), "--port", str(free_port()), "--open"],
                       env={"BROWSER": f"{browser} %s"})  # webbrowser runs $BROWSER with the URL
    try:
        wait_for(lambda: opened.exists() and opened.read_text().strip() == url, timeout=15,
                 what="the browser to be asked to open the URL")
    finally:
        assert finish(proc) == 0


# --- the wheel, installed outside the checkout; requirements.txt alone --------------------------

def run(cmd, **kw):
    done = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout}\n{done.stderr}"
    return done


def venv(where):
    run([sys.executable, "-m", "venv", str(where)])
    return os.path.join(where, "bin")


@pytest.fixture(scope="session")
def installed(tmp_path_factory):
    """A fresh venv (outside the checkout) with the built wheel and what its metadata pulls in."""
    t0 = time.monotonic()
    dist = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "--disable-pip-version-check", "-w", str(dist), REPO])
    (wheel,) = dist.glob("tailboard-*.whl")
    bin_dir = venv(tmp_path_factory.mktemp("wheel-venv") / "venv")
    run([os.path.join(bin_dir, "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)])
    print(f"\nwheel built and installed in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    return bin_dir


@pytest.fixture(scope="session")
def bare(tmp_path_factory):
    """A fresh venv from ``pip install -r requirements.txt`` alone: no pytest, no test tools."""
    t0 = time.monotonic()
    bin_dir = venv(tmp_path_factory.mktemp("bare-venv") / "venv")
    run([os.path.join(bin_dir, "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "-r", os.path.join(REPO, "requirements.txt")])
    print(f"\nrequirements.txt venv in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    return bin_dir


HOST_APP = '''
from flask import Flask, render_template_string
from viewer import Viewer

app = Flask(__name__)

@app.get("/")
def home():
    return render_template_string("<h1>host home</h1>")

Viewer(app, root={root!r}, url_prefix="/runs")
'''


@pytest.mark.slow
def test_the_installed_wheel_embeds_in_a_host_app_with_pages_assets_and_events(installed, runs, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "host.py").write_text(textwrap.dedent(HOST_APP.format(root=str(runs))))
    python = os.path.join(installed, "python")
    where = run([python, "-c", "import viewer; print(viewer.__file__, viewer.TEMPLATES)"], cwd=site).stdout
    assert REPO not in where and os.path.join("site-packages", "viewer", "templates") in where
    port = free_port()
    proc = subprocess.Popen([os.path.join(installed, "gunicorn"), "-k", "gevent", "-b", f"127.0.0.1:{port}", "host:app"],
                            cwd=site, env={**os.environ, "VIEWER_HEARTBEAT": "0.5"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, preexec_fn=die_with_parent)
    try:
        base = f"http://127.0.0.1:{port}"
        healthy(base + "/runs/")
        assert requests.get(base + "/", timeout=5).text == "<h1>host home</h1>"
        page = requests.get(f"{base}/runs/runs/{LIGHTNING}", timeout=5)
        assert page.status_code == 200 and "data-metrics-url" in page.text
        asset = requests.get(base + "/runs/-/static/vendor/uPlot-1.6.32.iife.min.js", timeout=5)
        assert asset.status_code == 200 and "uPlot" in asset.text
        sse = SSE(base, f"/runs/events?run={LIGHTNING}")
        with open(runs / "lightning_logs" / "version_0" / "metrics.csv", "a") as f:
            f.write("5,0.05,83,1.5,,\r\n")
        data = json.loads(sse.next("metrics")["data"])
        assert data["series"]["train/loss"]["y"] == [1.5]
        sse.close()
    finally:
        finish(proc)


@pytest.mark.slow
def test_the_installed_command_serves_a_folder_with_events_and_log_sockets(installed, runs, tmp_path):
    proc, url = launch([os.path.join(installed, "tailboard"), str(runs), "--port", str(free_port())], cwd=tmp_path)
    try:
        base = healthy(url)
        health = requests.get(base + "/healthz", timeout=5).json()
        assert health["ok"] and health["runs"] == 6 and health["watcher"] == "inotify"
        sse = SSE(base, f"/events?run={LIGHTNING}")
        with open(runs / "lightning_logs" / "version_0" / "metrics.csv", "a") as f:
            f.write("5,0.05,83,1.5,,\r\n")
        assert json.loads(sse.next("metrics")["data"])["series"]["train/loss"]["y"] == [1.5]
        ws = ws_connect(base, "/ws/logs/slurm/job_4242/slurm-4242.out")
        assert ws_next(ws)["type"] == "tail"  # flask-sock's websockets on this server too
        ws.close()
        sse.close()
    finally:
        assert finish(proc) == 0


@pytest.mark.slow
def test_the_installed_command_takes_the_next_free_port_and_prints_it(installed, runs, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc, url = launch([os.path.join(installed, "tailboard"), str(runs), "--port", str(port)], cwd=tmp_path)
        try:
            got = int(re.search(r":(\d+)/", url).group(1))
            assert port < got < port + 100
            assert requests.get(healthy(url) + "/healthz", timeout=5).json()["runs"] == 6
        finally:
            assert finish(proc) == 0


@pytest.mark.slow
def test_the_installed_command_without_a_folder_serves_the_live_demo(installed, tmp_path):
    proc, url = launch([os.path.join(installed, "tailboard"), "--port", str(free_port())], cwd=tmp_path)
    try:
        runs = requests.get(healthy(url) + "/api/runs", timeout=5).json()["runs"]
        assert len(runs) > 6 and any(r["status"] == "running" for r in runs)  # the examples, the sweep, the live run
    finally:
        assert finish(proc) == 0


@pytest.mark.slow
def test_requirements_txt_alone_runs_gunicorn_gevent(bare, runs):
    """Issue 17.11: gunicorn's gevent worker needs ``packaging``, which only test tools pulled in."""
    assert subprocess.run([os.path.join(bare, "python"), "-c", "import pytest"], capture_output=True).returncode != 0
    port = free_port()
    proc = subprocess.Popen([os.path.join(bare, "gunicorn"), "-k", "gevent", "-b", f"127.0.0.1:{port}", "app:create_app()"],
                            cwd=REPO, env={**os.environ, "VIEWER_ROOT": str(runs), "PYTHONDONTWRITEBYTECODE": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=die_with_parent)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: proc.poll() is not None or _scanned(base + "/healthz", {}), timeout=30,
                 what="gunicorn to answer /healthz")
        assert proc.poll() is None, proc.stdout.read()
        assert requests.get(base + "/healthz", timeout=5).json()["ok"]
    finally:
        finish(proc)
