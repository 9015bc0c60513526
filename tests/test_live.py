"""The live path with real clients against the real servers (flask dev server and gunicorn -k gevent)."""
from __future__ import annotations

import json
import os
import re
import signal
import time

import pytest
import requests

from builders import append
from conftest import LIGHTNING_ID, SPT_ID
from live_clients import SSE, start_server, stop_server, wait_for, ws_connect, ws_next


def descendants(pid):
    """Every live process below ``pid`` (from /proc)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    out, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        out += kids
        frontier += kids
    return out


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def status(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return f.read().lower()
    except OSError:
        return ""


@pytest.fixture(params=["flask", "gunicorn"])
def server(request, samples):
    proc, url = start_server(request.param, samples)
    yield url
    stop_server(proc)


def csv_path(samples):
    return samples / "lightning" / "lightning_logs" / "version_0" / "metrics.csv"


def test_an_appended_row_reaches_the_run_page_stream_as_a_delta(server, samples):
    sse = SSE(server, f"/events?run={LIGHTNING_ID}")
    append(csv_path(samples), "5,0.05,83,1.5,,\r\n")
    ev = sse.next("metrics")
    data = json.loads(ev["data"])
    assert data["run"] == LIGHTNING_ID and data["reset"] is False
    loss = data["series"]["train/loss"]
    assert (loss["from"], loss["step"], loss["y"]) == (20, [83], [1.5])
    assert ev["id"]
    head = sse.next("run")  # and the page header (status, update time) is re-rendered
    assert 'id="run-head"' in head["data"] and 'hx-swap-oob="true"' in head["data"]
    sse.close()


def test_lightning_rewrite_on_a_new_column_resets_the_charts(server, samples):
    sse = SSE(server, f"/events?run={LIGHTNING_ID}")
    path = csv_path(samples)
    lines = path.read_text().splitlines()
    header = lines[0] + ",zz/new"
    rows = [line + "," for line in lines[1:]] + ["5,,83,,,,0.25"]
    path.write_text("\r\n".join([header] + rows) + "\r\n")  # what Lightning does on a new name
    data = json.loads(sse.next("metrics")["data"])
    assert data["reset"] is True
    series = requests.get(f"{server}/api/runs/{LIGHTNING_ID}/metrics").json()["series"]
    assert series["zz/new"]["y"] == [0.25]
    assert series["train/loss"]["count"] == 20  # no duplicated points after the re-read
    sse.close()


def test_overview_stream_pushes_rows_counts_and_new_runs(server, samples):
    sse = SSE(server, "/events")
    sidecar = samples / "spt" / "runs" / "20261121" / "142732" / "1c80a3b1799d" / "sidecar.json"
    data = json.loads(sidecar.read_text())
    data["status"] = "failed"
    tmp = sidecar.with_name(".sidecar.json.x.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, sidecar)  # spt rewrites it atomically
    row = sse.next("row", where=lambda e: f'data-run="{SPT_ID}"' in e["data"])
    assert "badge-failed" in row["data"] and 'hx-swap-oob="true"' in row["data"]
    counts = sse.next("counts")
    assert 'id="count-failed" data-n="1"' in counts["data"]
    new = samples / "fresh" / "run1"
    new.mkdir(parents=True)
    (new / "metrics.jsonl").write_text('{"step": 1, "loss": 0.5}\n')
    runset = sse.next("runset", where=lambda e: "fresh/run1" in e["data"])
    assert json.loads(runset["data"])["added"] == ["fresh/run1"]
    assert requests.get(f"{server}/api/runs/fresh/run1").json()["metrics"] == ["loss"]
    sse.close()


def drawn_event_id(server):
    """The event id a page drawn now resumes its stream from (``data-event-id`` on <body>)."""
    return re.search(r'data-event-id="([^"]*)"', requests.get(f"{server}/runs/{LIGHTNING_ID}").text).group(1)


def first_of(sse, names, timeout):
    """(name, event) of the first event called one of ``names``; fails after ``timeout`` s."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for name in names:
            try:
                return name, sse.next(name, timeout=0.1)
            except AssertionError:
                continue
    raise AssertionError(f"neither of {names} within {timeout} s: the page would miss the row for good")


def test_a_reconnecting_client_resumes_from_last_event_id(server, samples):
    path = csv_path(samples)
    # another page stays open meanwhile (an overview tab): the server keeps publishing, so what
    # the run's page misses while away is in the ring to replay (alone, it gets a resync: below)
    other = SSE(server, "/events")
    first = SSE(server, f"/events?run={LIGHTNING_ID}")
    append(path, "5,0.05,83,1.5,,\r\n")
    last_id = first.next("metrics")["id"]
    first.close()
    append(path, "5,0.05,87,1.25,,\r\n")
    wait_for(lambda: requests.get(f"{server}/api/runs/{LIGHTNING_ID}/metrics?names=train/loss").json()
             ["series"]["train/loss"]["count"] == 22, what="the server to read the second row")
    # replayed from the ring, or (published after it subscribed) sent live: the row either way
    again = SSE(server, f"/events?run={LIGHTNING_ID}", headers={"Last-Event-ID": last_id})
    missed = json.loads(again.next("metrics")["data"])
    assert missed["series"]["train/loss"]["y"] == [1.25] and missed["series"]["train/loss"]["from"] == 21
    again.close()
    other.close()
    lost = SSE(server, f"/events?run={LIGHTNING_ID}", headers={"Last-Event-ID": "0000-1"})
    assert lost.next("resync")["data"] == "{}"  # unknown history: reload instead of guessing
    lost.close()


def test_a_client_back_after_a_change_nobody_heard_gets_it_or_a_resync(server, samples):
    """The run's only page loses its stream and the server lets it go; a row is written while
    nobody listens (nothing is rendered for nobody). Back with its Last-Event-ID, the page must
    get the row or a ``resync`` (it reloads), never a resumed stream with the row missing.
    (Under load the flask server noticed the closed stream before the change: the row was lost.)"""
    path = csv_path(samples)
    first = SSE(server, f"/events?run={LIGHTNING_ID}")
    append(path, "5,0.05,83,1.5,,\r\n")
    last_id = first.next("metrics")["id"]
    first.close()
    wait_for(lambda: requests.get(f"{server}/healthz").json()["streams"] == 0, timeout=20,
             what="the server to let the closed stream go")
    before = drawn_event_id(server)
    append(path, "5,0.05,87,1.25,,\r\n")
    wait_for(lambda: drawn_event_id(server) != before, timeout=20, what="the server to handle the change")
    again = SSE(server, f"/events?run={LIGHTNING_ID}", headers={"Last-Event-ID": last_id})
    name, ev = first_of(again, ("resync", "metrics"), timeout=10)
    again.close()
    if name == "metrics":
        assert json.loads(ev["data"])["series"]["train/loss"]["y"] == [1.25]


def test_heartbeat_and_stream_headers(server):
    sse = SSE(server, "/events")
    assert sse.resp.getheader("Content-Type").startswith("text/event-stream")
    assert sse.resp.getheader("X-Accel-Buffering") == "no"
    assert sse.resp.getheader("Cache-Control") == "no-cache"
    wait_for(lambda: ": ping" in sse.comments, timeout=5, what="a heartbeat comment")
    sse.close()


def test_subscribers_are_released_when_clients_go_away(server):
    def streams():
        return requests.get(server + "/healthz").json()["streams"]

    clients = [SSE(server, "/events") for _ in range(4)]
    sockets = [ws_connect(server, f"/ws/logs/{SPT_ID}/train.out") for _ in range(2)]
    for ws in sockets:
        assert ws_next(ws)["type"] == "tail"
    assert streams() == 6
    for c in clients:
        c.close()
    for ws in sockets:
        ws.close()
    wait_for(lambda: streams() == 0, timeout=15, what="the stream count to return to zero")


def test_log_socket_sends_the_tail_then_appends_and_collapses_progress_bars(server, samples):
    log = samples / "spt" / "runs" / "20261121" / "142732" / "1c80a3b1799d" / "train.out"
    ws = ws_connect(server, f"/ws/logs/{SPT_ID}/train.out")
    tail = ws_next(ws)
    assert tail["type"] == "tail" and len(tail["lines"]) == 3 and "Epoch   2" in tail["lines"][-1]
    append(log, "\rtraining  10%\rtraining  50%")
    msg = ws_next(ws)
    while msg["partial"] != "training  50%":
        msg = ws_next(ws)  # a write may arrive in two events; the last state is what matters
    append(log, "\rtraining 100%\nEpoch   3 | done\n")
    msg = ws_next(ws)
    got = list(msg["lines"])
    while "Epoch   3 | done" not in got:
        got += ws_next(ws)["lines"]
    assert got[-2:] == ["training 100%", "Epoch   3 | done"]
    ws.close()


def test_log_socket_survives_truncation_and_rotation(server, samples):
    log = samples / "spt" / "runs" / "20261121" / "142732" / "1c80a3b1799d" / "train.err"
    ws = ws_connect(server, f"/ws/logs/{SPT_ID}/train.err")
    assert ws_next(ws)["type"] == "tail"
    log.write_text("restarted\n")  # truncated in place
    msg = ws_next(ws)
    assert (msg["type"], msg["reason"], msg["lines"]) == ("reset", "truncated", ["restarted"])
    os.rename(log, str(log) + ".1")  # logrotate: move away, start a new file
    log.write_text("fresh file\n")
    msg = ws_next(ws)
    assert (msg["type"], msg["reason"], msg["lines"]) == ("reset", "rotated", ["fresh file"])
    append(log, "and more\n")
    assert ws_next(ws)["lines"] == ["and more"]
    ws.close()


def test_unknown_log_stream_gets_an_error_message(server):
    from simple_websocket import ConnectionClosed

    ws = ws_connect(server, f"/ws/logs/{SPT_ID}/nope.out")
    try:
        said = ws_next(ws)["error"]
    except ConnectionClosed as closed:  # the close frame can overtake the message in this client
        assert closed.reason == 1008
        said = closed.message
    assert "unknown log stream" in said


@pytest.mark.parametrize("kind", ["flask", "gunicorn"])
def test_sigterm_closes_every_stream_within_two_seconds(samples, kind):
    proc, url = start_server(kind, samples)
    try:
        clients = [SSE(url, "/events") for _ in range(3)]
        ws = ws_connect(url, f"/ws/logs/{SPT_ID}/train.out")
        assert ws_next(ws)["type"] == "tail"
        children = descendants(proc.pid)
        assert any("watchproc.py" in cmdline(p) for p in children)  # inotify's watch process
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM if kind == "gunicorn" else signal.SIGINT)
        for c in clients:
            assert c.ended.wait(2.0), "an event stream stayed open after the signal"
        assert time.monotonic() - t0 < 2.0
        proc.wait(10)
        assert proc.returncode is not None
        wait_for(lambda: not any(os.path.exists(f"/proc/{p}") and "zombie" not in status(p)
                                 for p in children), timeout=5, what="every child process to exit")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.log.close()


def test_run_header_pushes_the_new_last_values(server, samples):
    sse = SSE(server, f"/events?run={LIGHTNING_ID}")
    append(csv_path(samples), "5,0.05,83,0.125,,\r\n")
    head = sse.next("run", where=lambda e: "0.125" in e["data"])
    assert 'class="last-values"' in head["data"] and "train/loss" in head["data"]
    sse.close()


@pytest.mark.slow
def test_with_two_workers_every_client_gets_every_update(samples):
    proc, url = start_server("gunicorn", samples, WEB_CONCURRENCY="2")
    try:
        workers = [p for p in descendants(proc.pid) if "gunicorn" in cmdline(p)]
        assert len(workers) == 2
        clients, boots = [], set()
        deadline = time.time() + 30
        while len(boots) < 2 and time.time() < deadline:  # each worker's bus names itself in the preamble
            c = SSE(url, f"/events?run={LIGHTNING_ID}")
            clients.append(c)
            boots.add(c.comments[0].split()[-1])
            time.sleep(0.05)  # the kernel hands a burst of connects to whichever worker is awake
        assert len(boots) == 2, "every client landed on the same worker"
        append(csv_path(samples), "5,0.05,83,1.5,,\r\n")
        def has_row(e):  # a worker still on its first scan sends the whole series (from 0)
            loss = json.loads(e["data"])["series"].get("train/loss")
            return loss is not None and 83 in loss["step"]

        for c in clients:  # whichever worker accepted it, each client sees the row
            loss = json.loads(c.next("metrics", where=has_row)["data"])["series"]["train/loss"]
            assert loss["from"] + len(loss["y"]) == 21 and loss["y"][-1] == 1.5
            c.close()
    finally:
        stop_server(proc)
