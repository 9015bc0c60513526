"""Faults provoked for real: the watcher loop killed, inotify limits reached in the kernel, the
runs folder vanishing and coming back, under the dev server and gunicorn's gevent worker."""
from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest
import requests

from builders import append
from conftest import LIGHTNING_ID, REPO, SPT_ID, free_port
from live_clients import SSE, die_with_parent, start_server, stop_server, wait_for
from viewer.live import supervisor
from viewer.data.store import RunStore
from viewer.live.watcher import Watcher

ROW = "5,0.05,83,1.5,,\r\n"  # one more row of the Lightning sample's metrics.csv


def lightning_csv(root):
    return os.path.join(str(root), LIGHTNING_ID, "metrics.csv")


def published(calls, pred):
    return any(pred(c) for c in list(calls))


@pytest.fixture
def running(samples):
    """Start a Watcher over the samples; ``states`` collects what it tells pages. Stopped after."""
    started = []

    def start(root=samples, **kw):
        calls, states = [], []
        w = Watcher(RunStore(root), publish=calls.append, on_state=states.append, **kw).start()
        started.append(w)
        wait_for(lambda: calls, 10, "the first scan")
        calls.clear()
        return w, calls, states

    yield start
    for w in started:
        w.stop()


def once(exc):
    """A replacement that raises ``exc`` on its first call, then does what it replaced."""
    def wrap(real):
        fired = []

        def fn(*a, **kw):
            if not fired:
                fired.append(1)
                raise exc
            return real(*a, **kw)
        return fn
    return wrap


class Boom(BaseException):
    """Not an Exception: the loop's own ``except Exception`` does not catch it."""


# -- 1. the loop thread dies: the supervisor restarts it and a rescan catches up ---------------

def test_systemexit_in_the_loop_is_survived_and_the_append_published(samples, running):
    w, calls, _ = running()
    w.store.apply = once(SystemExit("injected"))(w.store.apply)
    first = w.supervisor._thread
    append(lightning_csv(samples), ROW)
    wait_for(lambda: published(calls, lambda c: LIGHTNING_ID in c.changed), 10, "the row after a restart")
    assert w.supervisor.restarts == 1 and w.supervisor._thread is not first and w.alive()
    assert w.supervisor.failure["error"] == "SystemExit: injected"
    assert w.store.metrics(LIGHTNING_ID)["series"]["train/loss"]["count"] == 21


def test_a_baseexception_while_polling_is_survived(samples, running):
    w, calls, _ = running(poll=0.1)
    w.poller.poll = once(Boom("in poll"))(w.poller.poll)  # the polling pass
    wait_for(lambda: w.supervisor.restarts == 1 and w.alive(), 10, "a restart")
    calls.clear()
    append(lightning_csv(samples), ROW)
    wait_for(lambda: published(calls, lambda c: LIGHTNING_ID in c.changed), 10, "the row")
    assert w.supervisor.failure["error"] == "Boom: in poll"


def test_a_fault_in_the_first_scan_restarts_with_a_growing_backoff(samples, monkeypatch):
    real, fails = RunStore.scan, []

    def scan(self):
        if len(fails) < 2:  # the first pass of the first two loops: outside the loop's try
            fails.append(time.monotonic())
            raise MemoryError("injected")
        return real(self)

    monkeypatch.setattr(RunStore, "scan", scan)
    calls = []
    w = Watcher(RunStore(samples), publish=calls.append).start()
    try:
        wait_for(lambda: calls and calls[0].added, 10, "the first scan after two restarts")
        assert w.supervisor.restarts == 2 and len(fails) == 2 and w.alive()
        assert w.supervisor.failure["error"] == "MemoryError: injected"
        assert fails[1] - fails[0] >= supervisor.BACKOFF_FIRST  # waited before restarting
        assert len(calls[0].added) == 5
    finally:
        w.stop()
    assert not w.alive() and w.client.proc is None


def test_the_supervisor_survives_its_own_faults_and_healthz_revives_it(samples, running):
    w, calls, _ = running()
    w.supervisor._check_loop = once(SystemExit("in the supervisor"))(w.supervisor._check_loop)
    time.sleep(3 * supervisor.SUPERVISE_EVERY)  # let the supervisor meet the fault
    assert w.supervisor._supervisor.is_alive()
    dead = threading.Thread(target=lambda: None)  # a supervisor that ended
    dead.start()
    dead.join()
    w.supervisor._supervisor = dead
    w.check()
    assert w.supervisor._supervisor is not dead and w.supervisor._supervisor.is_alive()


@contextlib.contextmanager
def background_app(root):
    from app import create_app

    app = create_app({"VIEWER_ROOT": str(root), "TESTING": True})
    try:
        yield app
    finally:
        app.extensions["tailboard"].stop()


def test_healthz_is_200_and_not_ok_while_the_loop_is_down_then_reports_the_restart(samples):
    with background_app(samples) as app:
        c, w = app.test_client(), app.extensions["tailboard"].watcher
        wait_for(lambda: c.get("/healthz").get_json()["scan"]["phase"] == "done", 10, "the scan")
        w.supervisor._backoff = 3600.0  # hold the restart to look at /healthz meanwhile
        w.store.apply = once(SystemExit("injected"))(w.store.apply)
        append(lightning_csv(samples), ROW)
        wait_for(lambda: not w.alive() and w.supervisor._down_since is not None, 10, "the loop to die, noticed")
        r = c.get("/healthz")
        body = r.get_json()
        assert r.status_code == 200 and body["ok"] is False and body["watcher_alive"] is False
        assert body["watcher_last_failure"]["error"] == "SystemExit: injected"
        w.supervisor._down_since -= 3600.0  # the backoff has passed
        wait_for(lambda: c.get("/healthz").get_json()["ok"], 10, "the restart")
        body = c.get("/healthz").get_json()
        assert body["watcher_restarts"] == 1 and body["watcher_alive"] is True
        wait_for(lambda: c.get(f"/api/runs/{LIGHTNING_ID}/metrics").get_json()["series"]["train/loss"]["count"] == 21,
                 10, "the row appended during the outage")


GUNICORN_FAULT = """
exec(open({conf!r}).read())
_post = post_worker_init


def post_worker_init(worker):
    _post(worker)
    from viewer.data.store import RunStore
    real = RunStore.apply
    fired = []

    def apply(self, paths):
        if not fired and any(p.endswith("metrics.csv") for p in paths):
            fired.append(1)
            raise SystemExit("injected into the gevent worker")
        return real(self, paths)
    RunStore.apply = apply
"""


@pytest.mark.slow
def test_under_gunicorn_gevent_a_killed_loop_greenlet_is_restarted(samples, tmp_path):
    conf = tmp_path / "gunicorn_fault.py"
    conf.write_text(GUNICORN_FAULT.format(conf=os.path.join(REPO, "gunicorn.conf.py")))
    gunicorn = shutil.which("gunicorn") or os.path.join(os.path.dirname(sys.executable), "gunicorn")
    port = free_port()
    proc = subprocess.Popen([gunicorn, "-c", str(conf), "-b", f"127.0.0.1:{port}", "app:create_app()"],
                            cwd=REPO, env={**os.environ, "VIEWER_ROOT": str(samples), "VIEWER_HEARTBEAT": "0.5"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _phase(url) == "done", 30, "gunicorn")
        events = SSE(url, f"/events?run={LIGHTNING_ID}")
        append(lightning_csv(samples), ROW)
        ev = events.next("metrics", timeout=15)
        assert json.loads(ev["data"])["run"] == LIGHTNING_ID
        body = requests.get(url + "/healthz", timeout=5).json()
        assert body["watcher_restarts"] == 1 and body["ok"] is True
        assert "gevent worker" in body["watcher_last_failure"]["error"]
        events.close()
    finally:
        stop_server(proc)


def _phase(url):
    try:
        return requests.get(url + "/healthz", timeout=1).json()["scan"]["phase"]
    except (requests.RequestException, ValueError, KeyError):
        return None


# -- 2. inotify limits reached in the kernel ---------------------------------------------------

def userns_works():
    """True when an unprivileged user namespace can set its own inotify limits."""
    if not shutil.which("unshare"):
        return False
    r = subprocess.run(["unshare", "-Ur", "sh", "-c", "echo 7 > /proc/sys/user/max_inotify_instances"],
                       capture_output=True)
    return r.returncode == 0


EXHAUST = """
import ctypes, errno, os, signal, subprocess, sys
ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)
libc = ctypes.CDLL("libc.so.6", use_errno=True)
fds = []
try:
    while True:  # every inotify instance this user may have, until the kernel says EMFILE
        fd = libc.inotify_init1(os.O_CLOEXEC)
        if fd < 0:
            assert ctypes.get_errno() == errno.EMFILE, ctypes.get_errno()
            break
        fds.append(fd)
    print("held", len(fds), flush=True)
    server = subprocess.Popen(sys.argv[1:])
    signal.signal(signal.SIGTERM, lambda *a: server.terminate())
    sys.exit(server.wait())
finally:
    for fd in fds:
        os.close(fd)
"""


def start_in_userns(root, tmp_path, instances=None, watches=None, exhaust=False):
    """The dev server in a new user namespace whose own inotify limits are set low (the rest of
    the machine keeps its limits); ``exhaust``: every instance taken first with inotify_init1."""
    port = free_port()
    server = [sys.executable, "-m", "flask", "--app", "app", "run", "--port", str(port)]
    if exhaust:
        script = tmp_path / "exhaust.py"
        script.write_text(EXHAUST)
        server = [sys.executable, str(script)] + server
    limits = "".join(f"echo {n} > /proc/sys/user/max_inotify_{k}; " for k, n in
                     (("instances", instances), ("watches", watches)) if n is not None)
    proc = subprocess.Popen(["unshare", "-Ur", "sh", "-c", limits + 'exec "$@"', "sh"] + server,
                            cwd=REPO, env={**os.environ, "VIEWER_ROOT": str(root), "VIEWER_HEARTBEAT": "0.5"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _phase(url) == "done", 30, "the server in the namespace")
    except AssertionError:
        proc.kill()
        raise AssertionError(proc.stdout.read().decode(errors="replace")) from None
    return proc, url


@contextlib.contextmanager
def host_instances_exhausted():
    """Without user namespaces: take this user's inotify instances on the host, briefly."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    fds = []
    try:
        while True:
            fd = libc.inotify_init1(os.O_CLOEXEC)
            if fd < 0:
                assert ctypes.get_errno() == errno.EMFILE
                break
            fds.append(fd)
        yield len(fds)
    finally:
        for fd in fds:
            os.close(fd)


def assert_polls_and_publishes(url, root, reason):
    body = requests.get(url + "/healthz", timeout=5).json()
    assert body["watcher"] == "polling" and reason in body["watcher_reason"], body
    events = SSE(url, f"/events?run={LIGHTNING_ID}")
    try:
        append(lightning_csv(root), ROW)
        ev = events.next("metrics", timeout=15)
        assert LIGHTNING_ID in ev["data"]
    finally:
        events.close()
    assert "limit" in requests.get(url + "/", timeout=5).text  # the top bar's tooltip says why


@pytest.mark.slow
def test_exhausted_inotify_instances_choose_polling_that_publishes(samples, tmp_path):
    if userns_works():
        proc, url = start_in_userns(samples, tmp_path, instances=16, exhaust=True)
    else:  # the brief window in which this user has no inotify instance left anywhere
        with host_instances_exhausted():
            proc, url = start_server("flask", samples)
    try:
        assert_polls_and_publishes(url, samples, "inotify instance limit reached")
    finally:
        stop_server(proc)


@pytest.mark.skipif(not userns_works(), reason="needs a user namespace to lower the watch limit safely")
def test_the_inotify_watch_limit_reached_chooses_polling_that_publishes(samples, tmp_path):
    proc, url = start_in_userns(samples, tmp_path, watches=3)  # the samples hold dozens of folders
    try:
        assert_polls_and_publishes(url, samples, "inotify watch limit reached")
    finally:
        stop_server(proc)


@pytest.mark.skipif(not userns_works(), reason="needs a user namespace to lower the watch limit safely")
def test_a_new_folder_past_the_watch_limit_switches_to_polling_and_is_found(samples, tmp_path):
    folders = 1 + sum(len(dirs) for _, dirs, _ in os.walk(samples))
    proc, url = start_in_userns(samples, tmp_path, watches=folders)  # every folder, none to spare
    try:
        assert requests.get(url + "/healthz", timeout=5).json()["watcher"] == "inotify"
        os.makedirs(os.path.join(samples, "late", "deeper"))
        append(os.path.join(samples, "late", "deeper", "metrics.jsonl"), '{"step": 1, "loss": 1}\n')
        wait_for(lambda: requests.get(url + "/healthz", timeout=5).json()["watcher"] == "polling", 10, "polling")
        assert "watch limit" in requests.get(url + "/healthz", timeout=5).json()["watcher_reason"]
        wait_for(lambda: requests.get(url + "/api/runs/late/deeper", timeout=5).ok, 15, "the new run")
    finally:
        stop_server(proc)


# -- 3. the runs folder vanishes and comes back ------------------------------------------------

def _gone(root, how):
    """Take the runs folder away; returns how to bring one back."""
    aside = str(root) + ".aside"
    if how == "renamed":
        os.rename(root, aside)
        return lambda: os.rename(aside, root)
    shutil.copytree(root, aside)
    shutil.rmtree(root)
    return lambda: shutil.copytree(aside, root)  # a new folder (new inode) at the same path


@pytest.mark.parametrize("mode", ["inotify", "polling"])
@pytest.mark.parametrize("how", ["renamed", "deleted"])
def test_the_runs_folder_vanishing_drops_its_runs_says_so_and_they_come_back_live(samples, running, mode, how):
    w, calls, states = running(**({"poll": 0.2} if mode == "polling" else {}))
    old_proc = w.client.proc
    back = _gone(samples, how)
    wait_for(lambda: states and states[-1]["problem"] and w.store.count() == 0, 10, "the runs dropped")
    assert published(calls, lambda c: LIGHTNING_ID in c.removed)
    assert states[-1]["problem"] == f"the runs folder {samples} is missing"
    assert w.alive() and w.client.proc is None  # the dead watches were let go
    calls.clear()
    scans = w.store.scans
    back()
    # the runs count as back once the walk that found them is over: it may itself read rows
    # appended while it ran, and then no later event is due for them
    wait_for(lambda: not w.folder.missing and w.store.scans > scans, 10, "the runs back")
    assert w.store.count() == 5 and published(calls, lambda c: LIGHTNING_ID in c.added)
    assert states[-1]["problem"] == "" and w.kind == mode, states
    if mode == "inotify":
        assert w.client.proc is not None and w.client.proc is not old_proc  # watching the folder now there
    calls.clear()
    append(lightning_csv(samples), ROW)
    wait_for(lambda: published(calls, lambda c: LIGHTNING_ID in c.changed), 10, "a live append")
    assert w.store.metrics(LIGHTNING_ID)["series"]["train/loss"]["count"] == 21


def test_a_folder_replaced_between_two_looks_is_watched_anew(samples, running):
    w, calls, _ = running()
    old_proc, scans = w.client.proc, w.store.scans
    aside = str(samples) + ".aside"
    os.rename(samples, aside)
    shutil.copytree(aside, samples)  # a new inode at the path before the watcher looked
    wait_for(lambda: w.client.proc is not None and w.client.proc is not old_proc, 10, "a new watch process")
    wait_for(lambda: w.store.scans > scans, 10, "the walk of the new folder")
    append(os.path.join(aside, LIGHTNING_ID, "metrics.csv"), ROW)  # the old folder: not ours
    calls.clear()
    append(lightning_csv(samples), ROW)
    wait_for(lambda: published(calls, lambda c: lightning_csv(samples) in c.files), 10, "the new folder's append")
    assert w.store.metrics(LIGHTNING_ID)["series"]["train/loss"]["count"] == 21


def test_the_server_keeps_serving_a_missing_runs_folder_and_says_so(samples):
    proc, url = start_server("flask", samples)
    aside = str(samples) + ".aside"
    try:
        events = SSE(url, "/events")
        os.rename(samples, aside)
        ev = events.next("watch", timeout=10, where=lambda e: "missing" in e["data"])
        assert str(samples) in ev["data"]
        body = requests.get(url + "/healthz", timeout=5).json()
        assert body["problem"] == f"the runs folder {samples} is missing" and body["ok"] is False
        wait_for(lambda: requests.get(url + "/api/runs", timeout=5).json()["total"] == 0, 10, "runs dropped")
        for path in ("/", "/?q=x", f"/runs/{SPT_ID}", f"/api/runs/{SPT_ID}", f"/api/runs/{SPT_ID}/metrics",
                     "/files/", f"/files/{LIGHTNING_ID}/metrics.csv", "/compare?run=keras", "/healthz",
                     "/-/partials/activity"):
            assert requests.get(url + path, timeout=5).status_code < 500, path
        late = SSE(url, "/events")  # a page opened now hears of it at once
        assert "missing" in late.next("watch", timeout=5)["data"]
        late.close()
        os.rename(aside, samples)
        events.next("watch", timeout=10, where=lambda e: '"problem": ""' in e["data"])
        wait_for(lambda: requests.get(url + "/healthz", timeout=5).json()["ok"], 10, "ok again")
        wait_for(lambda: requests.get(url + "/api/runs", timeout=5).json()["total"] == 5, 10, "the runs back")
        events.close()
    finally:
        if os.path.isdir(aside):
            os.rename(aside, samples)
        stop_server(proc)
