"""DNS rebinding: with no token, only loopback host names (and ``VIEWER_ALLOWED_HOSTS``) get in.

The attack: a page of ``attacker.example`` rebinds its name to 127.0.0.1; the browser then
sends ``Host: attacker.example:<port>`` to the viewer and lets the page read the answers, the
websockets included (their ``Origin`` matched that ``Host``). Sent here as the browser would,
byte for byte, to ``flask run`` and ``gunicorn -k gevent``.
"""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from access_clients import STREAM, copy_samples, handshake, make_reports, raw_request
from conftest import SPT_ID
from live_clients import start_server, stop_server

TOKEN = "s3cret-token"
# every kind of route: pages, API, files, a folder listing, the event stream, health, assets,
# the login form, the live-reload client
HTTP_TARGETS = ["/", f"/runs/{SPT_ID}", "/api/runs", f"/api/runs/{SPT_ID}/logs/train.out",
                f"/files/{SPT_ID}/train.out", "/files/", "/files/reports/a/index.html", "/events",
                "/healthz", "/-/static/tailboard.js", "/login", "/-/livereload.js", "/compare"]
FOREIGN = ["attacker.example", "attacker.example.", "localhost.attacker.example", "127.0.0.1.nip.io",
           "192.168.1.10", "", "[::1", "localhost:x"]


@pytest.fixture(scope="module", params=["flask", "gunicorn"])
def open_server(request, tmp_path_factory):
    root = copy_samples(tmp_path_factory, "rebinding")
    make_reports(root)
    proc, url = start_server(request.param, root)
    yield url
    stop_server(proc)


def port_of(url):
    return urlsplit(url).port


@pytest.mark.parametrize("target", HTTP_TARGETS)
def test_a_foreign_host_name_gets_a_clear_403_on_every_route(open_server, target):
    port = port_of(open_server)
    status, _, body = raw_request(open_server, "GET", target, host=f"attacker.example:{port}")
    assert status == 403, f"{target} answered {status} to Host attacker.example"
    assert b"VIEWER_ALLOWED_HOSTS" in body and b"attacker.example" in body
    assert SPT_ID.encode() not in body and b"train" not in body


@pytest.mark.parametrize("host", FOREIGN)
def test_only_loopback_names_pass(open_server, host):
    port = port_of(open_server)
    status, _, body = raw_request(open_server, "GET", "/api/runs", host=f"{host}:{port}" if host else "")
    assert status in (400, 403), f"Host {host!r} answered {status}"
    assert SPT_ID.encode() not in body


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "127.0.0.1", "127.0.0.2", "[::1]", "localhost."])
def test_loopback_names_on_any_port_are_served(open_server, host):
    for port in (port_of(open_server), 80, 9999):  # behind a local proxy the port may be anything
        status, _, body = raw_request(open_server, "GET", "/api/runs", host=f"{host}:{port}")
        assert status == 200 and SPT_ID.encode() in body
    status, _, _ = raw_request(open_server, "GET", "/api/runs", host=host)  # no port at all
    assert status == 200


@pytest.mark.parametrize("path", [STREAM, "/livereload"])
def test_a_rebound_websocket_is_refused_before_the_upgrade(open_server, path):
    netloc = f"attacker.example:{port_of(open_server)}"
    status, body = handshake(open_server, path, origin=f"http://{netloc}", host=netloc)
    assert status == 403 and b"VIEWER_ALLOWED_HOSTS" in body
    status, _ = handshake(open_server, path, host=netloc)  # no Origin: still the Host check
    assert status == 403


def test_websocket_origin_is_checked_against_the_allowed_names_not_the_host(open_server):
    port = port_of(open_server)
    assert handshake(open_server, STREAM, origin=open_server)[0] == 101  # the viewer's own page
    assert handshake(open_server, STREAM, origin=f"http://localhost:{port}",
                     host=f"localhost:{port}")[0] == 101
    # another local server's page (another port): cookies do not tell ports apart
    assert handshake(open_server, STREAM, origin=f"http://localhost:{port + 1}",
                     host=f"localhost:{port}")[0] == 403
    assert handshake(open_server, STREAM, origin=f"http://attacker.example:{port}")[0] == 403


def test_allowed_hosts_setting_adds_names(tmp_path_factory):
    root = copy_samples(tmp_path_factory, "allowed")
    proc, url = start_server("gunicorn", root, VIEWER_ALLOWED_HOSTS="tb.lab.example, .corp.example")
    port = port_of(url)
    try:
        for host, expected in (("tb.lab.example", 200), ("TB.LAB.EXAMPLE", 200), ("x.corp.example", 200),
                               ("corp.example", 200), ("localhost", 200), ("evil-corp.example", 403),
                               ("tb.lab.example.attacker.example", 403), ("attacker.example", 403)):
            status, _, _ = raw_request(url, "GET", "/api/runs", host=f"{host}:{port}")
            assert status == expected, f"{host}: {status}"
        # a page served under a listed name may open the sockets, whatever Host a proxy passes on
        assert handshake(url, STREAM, origin="https://tb.lab.example")[0] == 101
        assert handshake(url, STREAM, origin="https://tb.lab.example.attacker.example")[0] == 403
    finally:
        stop_server(proc)


def test_with_a_token_the_host_is_free_and_the_token_protects(tmp_path_factory):
    root = copy_samples(tmp_path_factory, "token")
    proc, url = start_server("gunicorn", root, VIEWER_TOKEN=TOKEN)
    netloc = f"attacker.example:{port_of(url)}"
    try:
        status, _, body = raw_request(url, "GET", "/api/runs", host=netloc)
        assert status == 401 and SPT_ID.encode() not in body  # a rebound page knows no token
        status, _, body = raw_request(url, "GET", "/api/runs", host="tb.lan:8000",
                                      headers={"Authorization": "Bearer " + TOKEN})
        assert status == 200  # a LAN name the user typed: the token is the protection
        auth = {"Authorization": "Bearer " + TOKEN}
        assert handshake(url, STREAM, origin=f"http://{netloc}", host=netloc)[0] == 401
        assert handshake(url, STREAM, origin="http://tb.lan:8000", host="tb.lan:8000", headers=auth)[0] == 101
        assert handshake(url, STREAM, origin="http://other.lan:8000", host="tb.lan:8000", headers=auth)[0] == 403
    finally:
        stop_server(proc)


def test_with_a_token_and_allowed_hosts_both_hold(tmp_path_factory):
    root = copy_samples(tmp_path_factory, "both")
    proc, url = start_server("flask", root, VIEWER_TOKEN=TOKEN, VIEWER_ALLOWED_HOSTS="tb.lan")
    port = port_of(url)
    auth = {"Authorization": "Bearer " + TOKEN}
    try:
        assert raw_request(url, "GET", "/api/runs", host=f"tb.lan:{port}", headers=auth)[0] == 200
        assert raw_request(url, "GET", "/api/runs", host=f"other.lan:{port}", headers=auth)[0] == 403
        assert raw_request(url, "GET", "/api/runs", host=f"tb.lan:{port}")[0] == 401
    finally:
        stop_server(proc)


# -- in a real browser whose DNS says attacker.example is 127.0.0.1 ---------------------------

READ_EVERYTHING = """async () => {
  const out = {};
  for (const path of ['/api/runs', '/files/', '/healthz']) {
    try { const r = await fetch(path); out[path] = r.status + ' ' + (await r.text()).slice(0, 4000); }
    catch (e) { out[path] = 'error'; }
  }
  out.ws = await new Promise((done) => {
    const ws = new WebSocket(location.origin.replace('http', 'ws') + '/ws/logs/' + RUN + '/train.out');
    const t = setTimeout(() => done('timeout'), 8000);
    ws.onmessage = (e) => { clearTimeout(t); ws.close(); done('message'); };
    ws.onerror = () => { clearTimeout(t); done('refused'); };
  });
  return out;
}"""


def test_browser_on_a_rebound_name_reads_nothing(tmp_path_factory):
    """The attack as a browser makes it: the page's own origin is attacker.example, its name
    now resolves to 127.0.0.1, and its script reads same-origin URLs (CORS allows them)."""
    from playwright.sync_api import sync_playwright

    from conftest import CHROMIUM, CHROMIUM_ARGS

    root = copy_samples(tmp_path_factory, "browser")
    proc, url = start_server("gunicorn", root)
    port = port_of(url)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                *CHROMIUM_ARGS, "--host-resolver-rules=MAP attacker.example 127.0.0.1"])
            try:
                page = browser.new_page()
                resp = page.goto(f"http://attacker.example:{port}/")
                assert resp.status == 403 and "VIEWER_ALLOWED_HOSTS" in page.content()
                got = page.evaluate(READ_EVERYTHING.replace("RUN", repr(SPT_ID)))
                assert all(v.startswith("403 ") for k, v in got.items() if k != "ws"), got
                assert got["ws"] == "refused" and SPT_ID not in str(got)
                page.goto(f"http://localhost:{port}/")  # control: the same browser, our own name
                got = page.evaluate(READ_EVERYTHING.replace("RUN", repr(SPT_ID)))
                assert got["/api/runs"].startswith("200 ") and SPT_ID in got["/api/runs"]
                assert got["ws"] == "message"
            finally:
                browser.close()
    finally:
        stop_server(proc)
