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
# Real run folders written by the real tools (tests/data/README.md says which tool wrote each).
SAMPLES = os.path.join(REPO, "tests", "data", "samples")
SPT_ID = "spt/runs/20261121/142732/1c80a3b1799d"
LIGHTNING_ID = "lightning/lightning_logs/version_0"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
# what a test (or a fixture it uses, or a helper either calls) names when it starts a real server
SERVER_STARTS = {"start_server", "Popen", "live_server"}
BROWSER_FIXTURES = {"browser", "page"}


def pytest_configure(config):
    """The suite's servers (in process and the ones it starts) write their cache under a
    temporary folder, never the user's ``~/.cache``; a test that is about the cache sets its own."""
    if not os.environ.get("TAILBOARD_TEST_CACHE"):
        import tempfile

        os.environ["TAILBOARD_TEST_CACHE"] = tempfile.mkdtemp(prefix="tailboard-test-cache-")
        os.environ["XDG_CACHE_HOME"] = os.environ["TAILBOARD_TEST_CACHE"]


def _names_a_server_start(code, namespace, seen):
    """True when ``code``, a code object nested in it or a test-suite function it names (looked up
    in ``namespace``, its module's globals) names one of ``SERVER_STARTS``."""
    if code in seen:
        return False
    seen.add(code)
    if SERVER_STARTS & set(code.co_names):
        return True
    for const in code.co_consts:
        if hasattr(const, "co_names") and _names_a_server_start(const, namespace, seen):
            return True
    for name in code.co_names:
        obj = namespace.get(name)
        mod = getattr(obj, "__module__", "") or ""
        if not (mod.startswith("test_") or mod in ("conftest", "live_clients")):
            continue  # only the suite's own helpers are followed
        fns = [v for v in vars(obj).values() if hasattr(v, "__code__")] if isinstance(obj, type) else [obj]
        if any(hasattr(fn, "__code__") and _names_a_server_start(fn.__code__, fn.__globals__, seen) for fn in fns):
            return True
    return False


def _starts_a_server(item):
    """True when the test, a fixture it uses, or a suite helper either calls starts a real server."""
    funcs = [item.function] if hasattr(item, "function") else []
    info = getattr(item, "_fixtureinfo", None)
    for defs in info.name2fixturedefs.values() if info else ():
        for fixturedef in defs:
            if fixturedef.argname in SERVER_STARTS:
                return True
            funcs.append(getattr(fixturedef.func, "__wrapped__", fixturedef.func))
    return any(hasattr(f, "__code__") and _names_a_server_start(f.__code__, f.__globals__, set()) for f in funcs)


def pytest_collection_modifyitems(config, items):
    """Mark what a test needs, from what it uses: ``browser`` (the browser or page fixture),
    ``live`` (a real server in a subprocess). ``-m "not browser"`` is then the fast loop."""
    for item in items:
        if BROWSER_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.browser)
        if _starts_a_server(item):
            item.add_marker(pytest.mark.live)


def scanned(root, **kw):
    """A RunStore over ``root`` after its first scan."""
    from viewer.data.store import RunStore

    store = RunStore(root, **kw)
    store.scan()
    return store


def series(store, rid, **kw):
    return store.metrics(rid, **kw)["series"]


def copy_samples(dst):
    """A writable copy of the in-repo samples at ``dst`` (tests edit it; the checkout stays as is)."""
    shutil.copytree(SAMPLES, dst)
    for dirpath, dirs, files in os.walk(dst):
        for name in dirs + files:
            os.chmod(os.path.join(dirpath, name), 0o755 if name in dirs else 0o644)
    return dst


@pytest.fixture
def samples(tmp_path):
    """A writable copy of tests/data/samples (the real files the tools wrote)."""
    return copy_samples(tmp_path / "samples")


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
    if not os.path.exists(CHROMIUM):  # fail, never skip: CI installs it (.ci/run)
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium, or leave the browser tests out "
                    "with -m 'not browser'", pytrace=False)
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
