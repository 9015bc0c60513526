"""The live-reload socket is no file oracle and no way to make the server re-read big files.

The attacks, with no token (the loopback default), against ``gunicorn -k gevent``:
- any site opens the socket from a sandboxed iframe (``Origin: null``) and sends ``info`` for a
  guessed ``/files/<path>`` with a bogus ``v``: a ``reload`` came back only if the file existed;
- a few clients repeat ``info`` for a large page: each one re-read the whole file.
"""
from __future__ import annotations

import json
import time

import pytest
import requests

from access_clients import copy_samples, handshake, info, injected_query, livereload_client, make_reports
from conftest import SPT_ID
from live_clients import start_server, stop_server

BIG = 20 << 20  # bytes of the large report


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = copy_samples(tmp_path_factory, "oracle")
    make_reports(root)
    big = root / "reports" / "big"
    big.mkdir()
    with open(big / "index.html", "w") as f:  # a report with inlined plots
        f.write("<!doctype html><body>")
        f.write(("<p>" + "x" * 1020 + "</p>\n") * (BIG // 1024))
        f.write('<img src="plot.png"></body>')
    proc, url = start_server("gunicorn", root)
    yield url, root, proc
    stop_server(proc)


def worker_pid(master):
    with open(f"/proc/{master.pid}/task/{master.pid}/children") as f:
        children = f.read().split()
    assert len(children) == 1, children
    return int(children[0])


def bytes_read(pid):
    with open(f"/proc/{pid}/io") as f:
        return int(next(line for line in f if line.startswith("rchar:")).split()[1])


@pytest.mark.parametrize("query", ["", "?v=1-1", "?v=1-1~0123", "?v=1-1~6b13.0123456789abcdef0123456789abcdef."])
def test_origin_null_without_the_page_capability_is_refused(served, query):
    url, _, _ = served
    status, body = handshake(url, "/livereload" + query, origin="null")
    assert status == 403 and b"origin" in body


@pytest.mark.parametrize("origin", ["http://evil.example", "http://localhost:1", "file://", "null "])
def test_foreign_origins_are_refused(served, origin):
    url, _, _ = served
    assert handshake(url, "/livereload", origin=origin)[0] == 403


def test_a_served_report_still_live_reloads_from_its_sandbox(served):
    url, root, _ = served
    page = requests.get(url + "/files/reports/a/index.html").text
    query = injected_query(page)
    ws = livereload_client(url, query, headers={"Origin": "null"})  # what the sandboxed report sends
    try:
        info(ws, url, "/files/reports/a/index.html")
        time.sleep(0.5)
        (root / "reports" / "a" / "style.css").write_text("h1 { color: blue }\n")
        msg = json.loads(ws.receive(timeout=5))
        assert msg["command"] == "reload" and msg["path"] == "/files/reports/a/style.css"
    finally:
        ws.close()


@pytest.mark.parametrize("target", [f"/files/{SPT_ID}/train.out", f"/files/{SPT_ID}/hparams.yaml",
                                    "/files/reports/b/secret.txt", "/files/reports/a/style.css"])
def test_info_for_a_file_that_is_not_a_page_answers_nothing(served, target):
    """Even an accepted client (here one with no Origin) learns nothing from a bogus ``v``."""
    url, _, _ = served
    for path in (target, target + ".missing"):
        ws = livereload_client(url, "?v=1-1")
        try:
            info(ws, url, path)
            assert ws.receive(timeout=1.0) is None, f"{path}: the socket answered"
        finally:
            ws.close()


def test_a_capability_socket_learns_nothing_of_other_folders(served):
    url, _, _ = served
    query = injected_query(requests.get(url + "/files/reports/a/index.html").text)
    stamp, _, cap = query[3:].partition("~")
    ws = livereload_client(url, f"?v=1-1~{cap}", headers={"Origin": "null"})  # a bogus stamp
    try:
        info(ws, url, "/files/reports/b/index.html")  # exists, is HTML, another folder
        assert ws.receive(timeout=1.0) is None
        info(ws, url, "/files/reports/a/index.html")  # its own page, "changed" since: reload
        assert json.loads(ws.receive(timeout=5))["command"] == "reload"
    finally:
        ws.close()


def test_info_is_rate_limited_per_connection(served):
    from simple_websocket import ConnectionClosed

    url, _, _ = served
    ws = livereload_client(url)
    closed = None
    try:
        for _ in range(40):
            info(ws, url, "/files/reports/a/index.html")
            time.sleep(0.01)
        deadline = time.time() + 10
        while time.time() < deadline:
            ws.receive(timeout=1)
    except ConnectionClosed as e:
        closed = e
    else:
        ws.close()
    assert closed is not None, "40 info messages in 0.4 s were all served"
    assert closed.reason == 1008 and "too many" in closed.message
    assert requests.get(url + "/healthz", timeout=5).ok


def test_a_large_page_is_read_once_however_many_clients_ask(served):
    url, _, master = served
    pid = worker_pid(master)
    sockets = [livereload_client(url) for _ in range(4)]
    try:
        before = bytes_read(pid)
        started = time.time()
        for _ in range(3):  # within the per-connection allowance
            for ws in sockets:
                info(ws, url, "/files/reports/big/index.html")
            time.sleep(0.3)
        # while they ask, the worker still answers at once
        slowest = max(requests.get(url + "/healthz", timeout=10).elapsed.total_seconds() for _ in range(5))
        time.sleep(1.0)
        read = bytes_read(pid) - before
    finally:
        for ws in sockets:
            ws.close()
    assert read < 2 * BIG, f"{read / BIG:.1f} times the page read for 12 info messages in {time.time() - started:.1f} s"
    assert slowest < 0.5, f"/healthz took {slowest:.2f} s"
