"""Shared fixtures: sample run folders copied into tmp_path, the app, a client, a live server,
and a real browser (Debian's chromium driven by Playwright)."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(os.path.dirname(REPO), "shared", "samples")
EXAMPLES = os.path.join(REPO, "examples", "runs")
SPT_ID = "spt/runs/20261121/142732/1c80a3b1799d"
LIGHTNING_ID = "lightning/lightning_logs/version_0"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
                                    reason="Debian's chromium is not installed (CI installs it)")


def scanned(root, **kw):
    """A RunStore over ``root`` after its first scan."""
    from viewer.data.store import RunStore

    store = RunStore(root, **kw)
    store.scan()
    return store


def series(store, rid, **kw):
    return store.metrics(rid, **kw)["series"]


def samples_dir():
    """The shared real samples when present beside the checkout, else the bundled copies."""
    return SAMPLES if os.path.isdir(SAMPLES) else None


@pytest.fixture
def samples(tmp_path):
    """A writable copy of ../shared/samples (the real files the tools wrote)."""
    src = samples_dir()
    if src is None:
        pytest.skip("../shared/samples not present")
    dst = tmp_path / "samples"
    shutil.copytree(src, dst)
    for dirpath, dirs, files in os.walk(dst):
        for name in dirs + files:
            os.chmod(os.path.join(dirpath, name), 0o755 if name in dirs else 0o644)
    return dst


@contextlib.contextmanager
def viewer_app(root):
    """The app over ``root``, scanned before it serves; its watcher stopped afterwards."""
    from app import create_app

    app = create_app({"VIEWER_ROOT": str(root), "VIEWER_BACKGROUND": False, "TESTING": True})
    try:
        yield app
    finally:
        app.extensions["tailboard"].stop()


@pytest.fixture
def app(samples):
    with viewer_app(samples) as app:
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(samples):
    """The real app under ``flask run`` in a subprocess; yields its base URL."""
    port = free_port()
    env = {**os.environ, "VIEWER_ROOT": str(samples), "VIEWER_HEARTBEAT": "2"}
    from live_clients import die_with_parent

    proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "run", "--port", str(port)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            preexec_fn=die_with_parent)
    url = f"http://127.0.0.1:{port}"
    import requests

    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            # listening is not enough: a page opened before the first scan ends finds no run
            if requests.get(url + "/healthz", timeout=1).json()["scan"]["phase"] == "done":
                break
        except (requests.ConnectionError, requests.Timeout, ValueError, KeyError):
            pass
        time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("server did not start: " + proc.stdout.read().decode(errors="replace"))
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import Page, sync_playwright

    if not getattr(Page.wait_for_function, "csp_safe", False):
        # every page, however made: the viewer's CSP forbids the eval Playwright polls with
        Page.wait_for_function = csp_safe(Page.wait_for_function, method=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def csp_safe(wait_for_function, method=False):
    """``page.wait_for_function`` that works under a CSP without 'unsafe-eval'.

    Playwright evals a bare expression again on every poll, from a page timer: the page CSP
    refuses that. A function is evaluated once (by DevTools, which the CSP lets through) and
    then only called, so any expression is wrapped in one.
    """
    def wrap(expression):
        return f"(arg) => {{ const v = ({expression}); return typeof v === 'function' ? v(arg) : v; }}"

    if method:  # the unbound Page method: self comes first
        def wait(self, expression, arg=None, **kw):
            return wait_for_function(self, wrap(expression), arg=arg, **kw)
    else:
        def wait(expression, arg=None, **kw):
            return wait_for_function(wrap(expression), arg=arg, **kw)
    wait.csp_safe = True
    return wait


@pytest.fixture
def page(browser):
    """A fresh browser page; ``page.errors`` collects uncaught script errors."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = ctx.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.errors = errors
    yield pg
    ctx.close()
