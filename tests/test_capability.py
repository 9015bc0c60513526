"""A report's capability opens its own folder, for 12 hours, and nothing else.

The attack: take the ``/files/~<capability>/`` URL of one report (its own script can read it
from ``location``) and use it, with no cookie, on other runs' files, the root listing, other
reports, or the live-reload socket; or keep it for ever. Against ``gunicorn -k gevent``.
"""
from __future__ import annotations

import base64
import json
import os
import time

import pytest
import requests

from access_clients import copy_samples, handshake, info, injected_query, livereload_client, make_reports, raw_request
from conftest import SPT_ID
from live_clients import start_server, stop_server

TOKEN = "s3cret-token"
AUTH = {"Authorization": "Bearer " + TOKEN}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = copy_samples(tmp_path_factory, "capability")
    make_reports(root)
    os.symlink(root / "reports" / "b", root / "reports" / "a" / "link-to-b")  # inside the root, outside a/
    proc, url = start_server("gunicorn", root, VIEWER_TOKEN=TOKEN)
    r = requests.get(url + "/files/reports/a/index.html", headers=AUTH, allow_redirects=False)
    assert r.status_code == 302 and "/files/~" in r.headers["Location"]
    cap = r.headers["Location"].split("/files/~")[1].split("/")[0]
    yield url, root, cap
    stop_server(proc)


def get(url, target):
    """No cookie, no token: what the sandboxed report (or whoever holds its link) can read."""
    return raw_request(url, "GET", target)


def test_the_capability_opens_its_own_report_and_files(served):
    url, _, cap = served
    status, hdrs, body = get(url, f"/files/~{cap}/reports/a/index.html")
    assert status == 200 and b'id="t">a<' in body
    for name in ("style.css", "plot.png"):
        assert get(url, f"/files/~{cap}/reports/a/{name}")[0] == 200
    assert get(url, f"/files/~{cap}/reports/a/")[0] == 200  # its own folder's listing


@pytest.mark.parametrize("target", [
    f"/files/~CAP/{SPT_ID}/train.out",              # another run's files
    "/files/~CAP/",                                 # the root listing
    "/files/~CAP/reports/",                         # the parent folder
    "/files/~CAP/reports/b/index.html",             # another report
    "/files/~CAP/reports/b/secret.txt",
    "/files/~CAP/reports/a/../b/secret.txt",        # climbing out, as sent
    "/files/~CAP/reports/a/%2e%2e/b/secret.txt",    # climbing out, encoded
    "/files/~CAP/reports/a/link-to-b/secret.txt",   # a symlink in the folder to another one
    "/files/~CAP/reports/a%2f..%2fb/secret.txt",
    "/files/~CAP/reports/ab/../b/secret.txt",
])
def test_the_capability_opens_nothing_outside_its_folder(served, target):
    url, _, cap = served
    status, _, body = get(url, target.replace("CAP", cap))
    assert status in (403, 404), f"{target}: {status}"
    assert b"private notes" not in body and b"train" not in body and b'id="t">b<' not in body
    if status == 403:
        assert b"reports/a/" in body  # says what the link opens


def test_a_forged_folder_or_mac_is_refused(served):
    url, _, cap = served
    expires, mac, _ = cap.split(".")
    other = base64.urlsafe_b64encode(b"reports/b").decode().rstrip("=")
    root = ""
    for forged in (f"{expires}.{mac}.{other}", f"{expires}.{mac}.{root}", f"{int(expires, 16) + 3600:x}.{mac}.{cap.split('.')[2]}",
                   f"{expires}.{'0' * 32}.{other}", "0" * 32, f"{expires}.{mac}.!!!", f"{expires}.{mac}.{other}==="):
        status, _, body = get(url, f"/files/~{forged}/reports/b/secret.txt")
        assert status == 401, f"{forged}: {status}"  # not a capability of ours: the token is asked for
        assert b"private notes" not in body


def test_an_expired_capability_is_refused_with_a_clear_message(served):
    from viewer.web import access

    url, _, _ = served
    old = access.make_capability(TOKEN, "reports/a", now=time.time() - 12 * 3600 - 601)
    status, _, body = get(url, f"/files/~{old}/reports/a/index.html")
    assert status == 403 and b"expired" in body
    fresh = access.make_capability(TOKEN, "reports/a", now=time.time() - 11 * 3600)
    assert get(url, f"/files/~{fresh}/reports/a/index.html")[0] == 200
    assert handshake(url, "/livereload?v=1-1~" + old, origin="null")[0] == 401


def test_a_cookie_holder_is_bound_by_the_capability_too(served):
    url, _, cap = served
    status, _, body = raw_request(url, "GET", f"/files/~{cap}/reports/b/secret.txt", headers=AUTH)
    assert status == 403 and b"private notes" not in body
    assert raw_request(url, "GET", "/files/reports/b/secret.txt", headers=AUTH)[0] == 200


def test_each_report_gets_a_capability_for_its_own_folder(served):
    url, _, cap_a = served
    r = requests.get(url + "/files/reports/b/index.html", headers=AUTH, allow_redirects=False)
    cap_b = r.headers["Location"].split("/files/~")[1].split("/")[0]
    assert cap_b != cap_a
    assert get(url, f"/files/~{cap_b}/reports/b/secret.txt")[0] == 200
    assert get(url, f"/files/~{cap_b}/reports/a/index.html")[0] == 403


def test_the_report_socket_follows_its_own_folder_only(served):
    url, root, cap = served
    status, _, page = get(url, f"/files/~{cap}/reports/a/index.html")
    query = injected_query(page.decode())
    assert query.rpartition(".")[2] == cap.rpartition(".")[2]  # the socket's capability: the same folder
    assert handshake(url, "/livereload" + query, origin="null")[0] == 101
    assert handshake(url, "/livereload", origin="null")[0] == 401
    ws = livereload_client(url, query, headers={"Origin": "null"})
    try:
        info(ws, url, f"/files/~{cap}/reports/b/index.html")  # another report's page: not followed
        time.sleep(0.5)
        (root / "reports" / "b" / "index.html").write_text("<p>b changed</p>")
        assert ws.receive(timeout=1.5) is None
        info(ws, url, f"/files/~{cap}/reports/a/index.html")  # its own page
        time.sleep(0.5)
        (root / "reports" / "a" / "index.html").write_text("<p>a changed</p>")
        msg = json.loads(ws.receive(timeout=5))
        assert msg["command"] == "reload" and msg["path"].endswith("/reports/a/index.html")
    finally:
        ws.close()


def test_a_report_page_keeps_its_bytes_and_etag_between_requests(samples, monkeypatch):
    """The live-reload snippet of a report carries a capability; minted to the second it made
    every request's page (and ETag) differ, so a browser's If-None-Match never got a 304 and two
    reads of one report disagreed. It is rounded up to 10 minutes, and still lasts 12 hours."""
    from conftest import viewer_app
    from viewer.web import access
    from viewer.web.access import capabilities

    (samples / "reports").mkdir(exist_ok=True)
    (samples / "reports" / "r.html").write_text("<!doctype html><title>r</title><body><p>report</p></body>\n")
    clock = [1_800_000_000.0 + 5]  # 5 s into a 10-minute step
    monkeypatch.setattr(capabilities.time, "time", lambda: clock[0])
    with viewer_app(samples) as app:
        client = app.test_client()
        first = client.get("/files/reports/r.html")
        assert first.status_code == 200 and b"livereload" in first.data
        clock[0] += 3  # a reload 3 s later
        again = client.get("/files/reports/r.html")
        assert again.data == first.data and again.headers["ETag"] == first.headers["ETag"]
        assert client.get("/files/reports/r.html", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    cap = access.make_capability(TOKEN, "reports", now=clock[0])
    expires = int(cap.split(".")[0], 16)
    assert clock[0] + 12 * 3600 <= expires <= clock[0] + 12 * 3600 + 600
