"""A real browser left open across a server restart catches up without a reload: the overview's
table, a run's charts (no point twice) and its live log; and a page left on a dead server
(a proxy answering 503) reconnects within seconds of the server's return."""
from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time

import pytest
import requests

from conftest import LIGHTNING_ID, REPO, SPT_ID, free_port
from live_clients import die_with_parent, stop_server, wait_for

pytestmark = pytest.mark.slow  # servers stopped and restarted under an open page: 10-30 s a test

NEW_LOG_LINE = "resumed after the restart: step 4242"
LOG_TEXT = "Array.from(document.querySelectorAll('pre.log'), (p) => p.textContent).join('')"


def serve(root, port):
    """The dev server on a fixed port (a restarted server keeps its address); scanned when returned."""
    env = {**os.environ, "VIEWER_ROOT": str(root), "VIEWER_HEARTBEAT": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "run", "--port", str(port)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            preexec_fn=die_with_parent)
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            return requests.get(url + "/healthz", timeout=1).json()["scan"]["phase"] == "done"
        except (requests.RequestException, ValueError, KeyError):
            return False
    wait_for(up, 30, "the server")
    return proc, url


def streams(url):
    return requests.get(url + "/healthz", timeout=5).json()["streams"]


def open_page(browser, url):
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = ctx.new_page()
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.goto(url)
    pg.evaluate("""() => {
      window.__marker = 'kept';   // a reload or a navigation would lose it
      window.__sseErrors = 0; window.__sseOpens = 0;
      document.body.addEventListener('htmx:sseError', () => window.__sseErrors++);
      document.body.addEventListener('htmx:sseOpen', () => window.__sseOpens++);
    }""")
    return pg


POINTS = """(name) => {
  for (const items of window.tailboard.charts.values())
    for (const c of items)
      if (c.name === name && c.plot) {
        const xs = c.plot.data[0], ys = c.plot.data[1];
        return {n: ys.filter((v) => v !== null && v !== undefined).length, unique: new Set(xs).size, len: xs.length};
      }
  return null;
}"""


def same_document(pg):
    return pg.evaluate("() => [window.__marker, performance.getEntriesByType('navigation').length]") == ["kept", 1]


def test_pages_open_across_a_server_restart_catch_up_without_reloading(browser, samples):
    port = free_port()
    proc, url = serve(samples, port)
    overview = open_page(browser, url + "/")
    charts = open_page(browser, f"{url}/runs/{LIGHTNING_ID}")
    logs = open_page(browser, f"{url}/runs/{SPT_ID}?tab=logs")
    try:
        overview.locator("tr.run-row").first.wait_for()
        charts.wait_for_selector("[data-drawn='4']")
        logs.wait_for_selector("pre.log[data-follow]")
        assert charts.evaluate(POINTS, "train/loss")["n"] == 20
        wait_for(lambda: streams(url) >= 3 + 2, 10, "every page's streams")  # 3 SSE, 2 log sockets
        log_path = os.path.join(samples, SPT_ID, "train.out")
        assert logs.evaluate(f"() => {LOG_TEXT}").count(NEW_LOG_LINE) == 0

        stop_server(proc)
        for pg in (overview, charts, logs):
            pg.wait_for_function("() => window.__sseErrors > 0")
        logs.wait_for_function("() => document.querySelector('.follow-state').textContent.includes('reconnecting')")
        # while the server is down: two metric rows, a log line, a new run
        with open(os.path.join(samples, LIGHTNING_ID, "metrics.csv"), "a", newline="") as f:
            f.write("5,0.05,83,1.5,,\r\n6,0.04,99,1.4,,\r\n")
        with open(log_path, "a") as f:
            f.write(NEW_LOG_LINE + "\n")
        os.makedirs(os.path.join(samples, "born-offline"))
        with open(os.path.join(samples, "born-offline", "metrics.jsonl"), "w") as f:
            f.write(json.dumps({"step": 1, "loss": 0.5}) + "\n")

        proc, url2 = serve(samples, port)
        back = time.monotonic()
        assert url2 == url
        overview.wait_for_selector("tr.run-row[data-run='born-offline']", timeout=15000)
        t_table = time.monotonic() - back
        charts.wait_for_function(f"() => ({POINTS})('train/loss')?.n === 22", timeout=15000)
        t_charts = time.monotonic() - back
        logs.wait_for_function("(line) => LOG_TEXT().includes(line)".replace("LOG_TEXT()", LOG_TEXT),
                               arg=NEW_LOG_LINE, timeout=15000)
        t_logs = time.monotonic() - back
        print(f"\nresynced after the server returned: table {t_table:.2f} s, charts {t_charts:.2f} s, "
              f"log {t_logs:.2f} s")
        wait_for(lambda: streams(url) >= 3 + 2, 10, "every page reconnected")
        time.sleep(0.5)  # a second resync (the replayed `resync` and the reopened stream) must not add points
        pts = charts.evaluate(POINTS, "train/loss")
        assert pts["n"] == 22 and pts["unique"] == pts["len"], pts
        assert logs.evaluate(f"() => {LOG_TEXT}").count(NEW_LOG_LINE) == 1
        assert overview.locator("tr.run-row[data-run='born-offline']").count() == 1
        for pg in (overview, charts, logs):
            assert same_document(pg), "the page was reloaded"
            assert pg.errors == []
    finally:
        for pg in (overview, charts, logs):
            pg.context.close()
        stop_server(proc)


class Refuse(http.server.BaseHTTPRequestHandler):
    """What a reverse proxy answers while the server behind it is down."""

    hits = []

    def do_GET(self):  # noqa: N802
        Refuse.hits.append((time.monotonic(), self.path))
        self.send_response(503)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"upstream down")

    def log_message(self, *a):
        pass


def test_a_page_left_on_a_dead_server_reconnects_within_seconds_of_its_return(browser, samples):
    port = free_port()
    proc, url = serve(samples, port)
    pg = open_page(browser, f"{url}/runs/{SPT_ID}?tab=logs")
    stub = None
    try:
        pg.wait_for_selector("pre.log[data-follow]")
        wait_for(lambda: streams(url) >= 2, 10, "the page's streams")
        stop_server(proc)
        http.server.ThreadingHTTPServer.allow_reuse_address = True
        stub = http.server.ThreadingHTTPServer(("127.0.0.1", port), Refuse)
        threading.Thread(target=stub.serve_forever, daemon=True).start()
        # 20 s of 503s: htmx-ext-sse alone would now wait 16 s, then 32 s, then 64 s
        time.sleep(20)
        events = sorted(t for t, path in Refuse.hits if path.startswith("/events"))
        sockets = sorted(t for t, path in Refuse.hits if path.startswith("/ws/"))
        stub.shutdown()
        stub.server_close()
        stub = None
        assert len(events) >= 5 and len(sockets) >= 5, (len(events), len(sockets))
        gaps = [b - a for a, b in zip(events, events[1:])] + [b - a for a, b in zip(sockets, sockets[1:])]
        assert max(gaps) < 6.5, gaps  # capped at 5 s (plus the time a refused attempt takes)
        opens = pg.evaluate("() => window.__sseOpens")
        proc, url = serve(samples, port)
        back = time.monotonic()
        pg.wait_for_function("(n) => window.__sseOpens > n", arg=opens, timeout=10000)
        pg.wait_for_function("() => document.querySelector('.follow-state').textContent === 'following'", timeout=10000)
        took = time.monotonic() - back
        print(f"\nreconnected {took:.2f} s after the server returned (503s for 20 s before)")
        assert took < 6.5
        assert same_document(pg) and pg.errors == []
    finally:
        if stub is not None:
            stub.shutdown()
            stub.server_close()
        pg.context.close()
        stop_server(proc)


def test_the_top_bar_says_when_the_runs_folder_is_missing_and_the_runs_come_back_live(page, samples):
    port = free_port()
    proc, url = serve(samples, port)
    aside = str(samples) + ".aside"
    try:
        page.goto(url + "/")
        page.locator("tr.run-row").first.wait_for()
        page.evaluate("() => { window.__marker = 'kept'; }")
        assert page.locator(".watch-problem:visible").count() == 0
        os.rename(samples, aside)
        note = page.locator(".watch-problem")
        note.wait_for(state="visible", timeout=10000)
        assert note.inner_text() == f"the runs folder {samples} is missing"
        page.wait_for_function("() => document.querySelectorAll('tr.run-row').length === 0", timeout=10000)
        os.rename(aside, samples)
        note.wait_for(state="hidden", timeout=10000)
        page.wait_for_function("() => document.querySelectorAll('tr.run-row').length === 5", timeout=10000)
        assert same_document(page) and page.errors == []
    finally:
        if os.path.isdir(aside):
            os.rename(aside, samples)
        stop_server(proc)
