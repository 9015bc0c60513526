"""Requests made the way an attacker made them against ``gunicorn -k gevent`` (issue 17):
a backtracking regex, a bare CR in run data, a forged ``Last-Event-ID``, run ids no header can
carry raw. Each answers at once with a clear message, and the worker keeps serving the others."""
from __future__ import annotations

import http.client
import json
import re
import threading
import time
from urllib.parse import quote, unquote, urlparse

import pytest
import requests

from live_clients import start_server, stop_server, wait_for

EVIL = "^(.|.)*!"  # exponential in the length of a line with no "!" under a backtracking engine


def spt_run(root, rel, tags=(), hparams=None, rows=3, name=None):
    d = root / rel
    d.mkdir(parents=True, exist_ok=True)
    side = {"run_id": d.name, "status": "running", "created_at": time.time(), "tags": list(tags),
            "hparams": hparams or {}}
    if name:
        side["name"] = name
    (d / "sidecar.json").write_text(json.dumps(side))
    (d / "metrics.csv").write_text("step,loss\n" + "".join(f"{i},{1.0 / (i + 1)}\n" for i in range(rows)))
    (d / "train.out").write_text("epoch 0\n")
    return d


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-requests")
    for i in range(12):  # long single-line fields: 2^40 steps each for a backtracking engine
        spt_run(root, f"runs/r{i:02d}", tags=["a" * 40], hparams={"model.name": "b" * 40 + str(i)})
    for rid in ("ünïcødé run", 'quo"te\'s', "per%20cent", "spa ce/inner", "日本語"):
        spt_run(root, rid)
    return root


@pytest.fixture(scope="module")
def server(tree):
    proc, url = start_server("gunicorn", tree)
    yield url
    stop_server(proc)


def healthz_latency(url):
    t = time.monotonic()
    requests.get(url + "/healthz", timeout=10).raise_for_status()
    return time.monotonic() - t


@pytest.mark.parametrize("path", ["/api/runs", "/", "/-/partials/columns", "/-/partials/rows"])
def test_a_backtracking_regex_answers_at_once_and_the_worker_keeps_serving(server, path):
    done, answers = threading.Event(), []

    def attack():
        try:
            answers.append(requests.get(server + path, params={"regex": "1", "q": EVIL}, timeout=8))
        finally:
            done.set()

    threading.Thread(target=attack, daemon=True).start()
    assert healthz_latency(server) < 2.0  # another client is served meanwhile
    assert done.wait(8), "the regex request held the worker"
    assert answers and answers[0].status_code in (200, 400)


def test_a_regex_engine_limit_is_explained_not_a_500(server):
    r = requests.get(server + "/api/runs", params={"regex": "1", "q": r"(a)\1"}, timeout=10)
    assert r.status_code == 400
    assert "backreferences" in r.json()["error"]
    # an ordinary pattern still filters, case-insensitively, anchored at each field
    r = requests.get(server + "/api/runs", params={"regex": "1", "q": "^RUNS/R0[0-2]$"}, timeout=10)
    assert sorted(run["id"] for run in r.json()["runs"]) == ["runs/r00", "runs/r01", "runs/r02"]


# -- SSE framing ------------------------------------------------------------------------------


def browser_events(raw):
    """Parse an event stream the way the HTML standard tells a browser to: lines end at CRLF,
    LF or a bare CR. Returns the dispatched events and every ``retry`` value seen."""
    events, retries, ev = [], [], {}
    for line in re.split(r"\r\n|\r|\n", raw):
        if line == "":
            if "data" in ev:
                events.append(ev)
            ev = {}
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            ev["data"] = ev["data"] + "\n" + value if "data" in ev else value
        elif field == "retry":
            retries.append(value)
        elif field in ("event", "id"):
            ev[field] = value
    return events, retries


def read_raw(url, path, seconds, until=None, headers=None):
    """The decoded body of an event stream, read for ``seconds`` or until ``until(text)``."""
    u = urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=seconds + 5)
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    assert resp.status == 200, resp.status
    chunks, changed = [], threading.Event()

    def reader():
        try:
            while b := resp.read1(65536):
                chunks.append(b)
                changed.set()
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            pass  # closed under us below

    threading.Thread(target=reader, daemon=True).start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        changed.wait(max(0.0, deadline - time.monotonic()))
        changed.clear()
        if until and until(b"".join(chunks).decode("utf-8", "replace")):
            break
    try:
        resp.fp.raw._sock.shutdown(2)
    except (AttributeError, OSError):
        pass
    conn.close()
    return b"".join(chunks).decode("utf-8", "replace")


def test_the_sse_encoder_keeps_any_line_break_inside_one_data_field():
    from viewer.web.blueprints.stream import sse

    data = "a\r\rb\rc\r\nd\ne"
    events, retries = browser_events(sse("x-1", "row", data))
    assert retries == []
    assert [(e["event"], e["data"]) for e in events] == [("row", "a\n\nb\nc\nd\ne")]


def test_a_carriage_return_in_a_tag_cannot_forge_events_on_open_pages(server, tree):
    payload = "x\r\revent: scan\rdata: FORGED\rretry: 2000000000\r\r"
    rid = "runs/r03"
    results = {}

    def listen():
        results["raw"] = read_raw(server, "/events", 8, until=lambda text: "r03" in text and "FORGED" in text)

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    time.sleep(1.0)  # the stream is open before the change
    side = json.loads((tree / rid / "sidecar.json").read_text())
    side["tags"] = [payload]
    (tree / rid / "sidecar.json").write_text(json.dumps(side))
    with open(tree / rid / "metrics.csv", "a") as f:
        f.write("99,0.5\n")
    t.join(12)
    raw = results["raw"]
    assert "FORGED" in raw, "the changed row never reached the page"
    events, retries = browser_events(raw)
    assert retries == ["1000"]  # ours, sent once at connect; no attacker's retry
    assert not any(e.get("event") == "scan" and "FORGED" in e["data"] for e in events)
    assert all(not e["data"].startswith("FORGED") for e in events)


# -- Last-Event-ID ----------------------------------------------------------------------------


def boot_id(url):
    raw = read_raw(url, "/events", 3, until=lambda text: ": tailboard" in text)
    return re.search(r": tailboard (\w+)", raw).group(1)


def streams(url):
    return requests.get(url + "/healthz", timeout=10).json()["streams"]


def test_a_forged_last_event_id_gets_a_resync_and_leaves_no_stream_behind(server):
    boot = boot_id(server)
    wait_for(lambda: streams(server) == 0, what="no stream open")
    forged = [f"{boot}-%C2%B2", f"{boot}-%D9%A3", "zz-1", f"{boot}-", "-1", f"{boot}-12-3"]
    for last in forged:
        raw = read_raw(server, f"/events?last_event_id={last}", 2, until=lambda text: "resync" in text)
        events, _ = browser_events(raw)
        assert any(e.get("event") == "resync" for e in events), (last, raw[:200])
    # 4,400 digits (past int()'s limit) as the header a browser resends; a URL that long is a 414
    for last in (f"{boot}-" + "9" * 4400, f"{boot}-²"):
        raw = read_raw(server, "/events", 2, until=lambda text: "resync" in text,
                       headers={"Last-Event-ID": last.encode().decode("latin-1")})
        assert "event: resync" in raw
    wait_for(lambda: streams(server) == 0, timeout=10, what="every forged stream released")


# -- run ids no header can carry raw ----------------------------------------------------------


RUN_IDS = ["ünïcødé run", 'quo"te\'s', "per%20cent", "spa ce/inner", "日本語"]


@pytest.mark.parametrize("rid", RUN_IDS)
def test_metrics_csv_downloads_under_the_run_s_own_name(server, rid):
    r = requests.get(server + "/api/runs/" + quote(rid) + "/metrics.csv", timeout=10)
    assert r.status_code == 200
    assert r.text.startswith("metric,step,epoch,time,value\n")
    disposition = r.headers["Content-Disposition"]
    star = re.search(r"filename\*=UTF-8''([^;\s]+)", disposition).group(1)
    assert unquote(star) == rid.replace("/", "_") + "-metrics.csv"
    plain = re.search(r'filename="([^"]*)"', disposition).group(1)
    assert plain.isascii() and plain.endswith("-metrics.csv")


@pytest.mark.parametrize("rid", RUN_IDS)
def test_every_route_of_an_oddly_named_run_answers_without_a_server_error(server, rid):
    q = quote(rid)
    urls = [f"/runs/{q}", f"/runs/{q}?tab=logs", f"/runs/{q}?tab=media", f"/runs/{q}?tab=config",
            f"/api/runs/{q}", f"/api/runs/{q}/metrics", f"/api/runs/{q}/metrics.csv", f"/api/runs/{q}/logs",
            f"/api/runs/{q}/media", f"/-/partials/hparams?run={quote(rid, safe='')}",
            f"/-/partials/media?run={quote(rid, safe='')}", f"/compare?run={quote(rid, safe='')}",
            f"/api/compare?run={quote(rid, safe='')}", f"/files/{q}/", f"/files/{q}/metrics.csv"]
    logs = requests.get(server + f"/api/runs/{q}/logs", timeout=10).json()["streams"]
    assert logs, "the run's train.out is listed"
    for st in logs:
        urls += [f"/api/runs/{q}/logs/{quote(st['id'], safe='')}",
                 f"/-/partials/log?run={quote(rid, safe='')}&stream={quote(st['id'], safe='')}"]
    for url in urls:
        r = requests.get(server + url, timeout=10)
        assert r.status_code == 200, (url, r.status_code, r.text[:200])
    raw = read_raw(server, "/events?run=" + quote(rid, safe=""), 2, until=lambda text: "watch" in text)
    assert "event: watch" in raw
