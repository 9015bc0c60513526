"""Who gets in: VIEWER_TOKEN guards every route; the login form; websocket Origin checks.

Every route needs the bearer header or the cookie that the login form or a ``?token=`` visit
sets; the form never redirects off the mount; a page of another site cannot open a socket.
"""
from __future__ import annotations

import re
import socket
from urllib.parse import urlsplit

import pytest
import requests

from conftest import SPT_ID
from live_clients import start_server, stop_server

TOKEN = "s3cret-token"
STREAM = f"/ws/logs/{SPT_ID}/train.out"


@pytest.fixture
def guarded(samples):
    from app import create_app

    app = create_app({"VIEWER_ROOT": str(samples), "VIEWER_BACKGROUND": False, "VIEWER_TOKEN": TOKEN})
    yield app.test_client()
    app.extensions["tailboard"].stop()


@pytest.fixture
def mounted(samples):
    """Tailboard inside a host site under /tb, with a token; the host has its own /admin."""
    from flask import Flask

    from viewer import Viewer

    host = Flask("host")
    host.add_url_rule("/admin", "admin", lambda: "host admin")
    v = Viewer(host, root=str(samples), url_prefix="/tb", token=TOKEN, background=False)
    yield host.test_client()
    v.stop()


def cookie_header(resp):
    return resp.headers.get("Set-Cookie", "")


# -- every route ------------------------------------------------------------------------------

OPEN_ROUTES = {"/login", "/logout", "/-/livereload.js"}


def test_every_route_refuses_without_the_token(guarded):
    """Walks the real URL map: a route added later is covered without touching this test."""
    app = guarded.application
    checked = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("tailboard.") or rule.rule in OPEN_ROUTES:
            continue
        url = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: SPT_ID if m.group(1) != "filename" else "tailboard.js",
                     rule.rule)
        for method in sorted((rule.methods or {"GET"}) - {"HEAD", "OPTIONS"}) or ["OPTIONS"]:
            if method == "OPTIONS":
                continue  # CORS preflights: no credentials by design, and they reveal nothing
            upgrade = {"Upgrade": "websocket", "Connection": "Upgrade"} if rule.websocket else {}
            r = guarded.open(url, method=method, headers=upgrade)
            assert r.status_code == 401, f"{method} {url} answered {r.status_code} without a token"
            assert SPT_ID.encode() not in r.data or url.endswith(SPT_ID)  # nothing of the runs leaks
            checked.append(url)
    assert {"/events", "/healthz", "/api/runs", "/livereload"} <= set(checked)
    assert any(u.startswith("/ws/logs/") for u in checked)


@pytest.mark.parametrize("url", ["/api/runs", f"/api/runs/{SPT_ID}/metrics", "/healthz",
                                 f"/files/{SPT_ID}/media/samples/00000016_0.png",
                                 "/-/static/tailboard.js", "/events", f"/events?run={SPT_ID}"])
def test_api_files_streams_and_assets_refuse_with_json(guarded, url):
    r = guarded.get(url)
    assert r.status_code == 401 and "token" in r.get_json()["error"]


def test_pages_show_the_login_form_that_comes_back_to_the_page(guarded):
    r = guarded.get(f"/runs/{SPT_ID}?tab=logs")
    html = r.get_data(as_text=True)
    assert r.status_code == 401 and "needs its access token" in html
    assert 'method="post"' in html and 'action="/login"' in html
    assert f'name="next" value="/runs/{SPT_ID}?tab=logs"' in html
    assert "/-/static" in html and "sse-connect" not in html  # no event stream to get 401s from
    assert "spt/runs" not in html.replace(f"/runs/{SPT_ID}", "")  # the runs folder is not shown


def test_login_page_has_no_inline_script_or_style(guarded):
    html = guarded.get("/login").get_data(as_text=True)
    assert " style=" not in html and "<style" not in html
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", html))
    assert not re.search(r"\son\w+=", html)


def test_bearer_header_opens_everything(guarded):
    r = guarded.get("/api/runs", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and len(r.get_json()["runs"]) == 5
    assert guarded.get("/api/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert guarded.get("/api/runs", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401


def test_token_link_sets_a_cookie_and_drops_the_token_from_the_url(guarded):
    r = guarded.get(f"/?q=keras&token={TOKEN}")
    assert r.status_code == 302 and r.headers["Location"] == "/?q=keras"
    assert TOKEN not in cookie_header(r) and "HttpOnly" in cookie_header(r)
    assert guarded.get("/?q=keras").status_code == 200  # the cookie now opens pages...
    assert guarded.get("/api/runs").status_code == 200  # ...and the API
    guarded.delete_cookie("tailboard_auth")
    r = guarded.get("/?token=wrong")
    assert r.status_code == 401 and "not right" in r.get_data(as_text=True)


def test_login_form_sets_the_cookie_and_goes_to_next(guarded):
    r = guarded.post("/login", data={"token": TOKEN, "next": f"/runs/{SPT_ID}?tab=logs"})
    assert r.status_code == 303 and r.headers["Location"] == f"/runs/{SPT_ID}?tab=logs"
    cookie = cookie_header(r)
    assert cookie.startswith("tailboard_auth=") and TOKEN not in cookie
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP: a Secure cookie would never come back
    assert guarded.get(f"/runs/{SPT_ID}?tab=logs").status_code == 200


def test_login_over_https_sets_a_secure_cookie(guarded):
    r = guarded.post("/login", data={"token": TOKEN}, base_url="https://localhost")
    assert r.status_code == 303 and "Secure" in cookie_header(r)


def test_wrong_token_is_a_401_with_a_message_and_no_cookie(guarded):
    r = guarded.post("/login", data={"token": "guess", "next": "/compare"})
    html = r.get_data(as_text=True)
    assert r.status_code == 401 and "That token is not right." in html
    assert 'name="next" value="/compare"' in html  # a second try still goes back there
    assert "Set-Cookie" not in r.headers
    assert guarded.get("/").status_code == 401


@pytest.mark.parametrize("target", [
    "//evil.example/x", "https://evil.example/", "http:evil.example", "/\\evil.example", "\\\\evil.example",
    "/\t/evil.example", "/\n/evil.example", "javascript:alert(1)", "evil.example", "///evil.example",
    "/x/../..//evil.example", " //evil.example", "", "/\x00/evil",
])
def test_login_never_redirects_off_the_site(guarded, target):
    r = guarded.post("/login", data={"token": TOKEN, "next": target})
    assert r.status_code == 303 and r.headers["Location"] == "/"
    assert urlsplit(r.headers["Location"]).netloc == ""


def test_login_and_cookie_stay_under_the_mount(mounted):
    r = mounted.post("/tb/login", data={"token": TOKEN, "next": "/admin"})
    assert r.status_code == 303 and r.headers["Location"] == "/tb/"  # outside the mount: refused
    assert "Path=/tb" in cookie_header(r)
    r = mounted.post("/tb/login", data={"token": TOKEN, "next": "/tb/runs/x/../../../admin"})
    assert r.headers["Location"] == "/tb/"
    r = mounted.post("/tb/login", data={"token": TOKEN, "next": "/tb/compare?run=a"})
    assert r.headers["Location"] == "/tb/compare?run=a"
    assert mounted.get("/tb/api/runs").status_code == 200
    assert mounted.get("/admin").get_data(as_text=True) == "host admin"  # the host is untouched


def test_logout_clears_the_cookie(guarded):
    guarded.post("/login", data={"token": TOKEN})
    assert guarded.get("/api/runs").status_code == 200
    r = guarded.post("/logout")
    assert r.status_code == 303 and r.headers["Location"] == "/login"
    assert "tailboard_auth=;" in cookie_header(r)
    assert guarded.get("/api/runs").status_code == 401


def test_a_cookie_of_another_token_does_not_open(samples):
    from app import create_app

    apps = [create_app({"VIEWER_ROOT": str(samples), "VIEWER_BACKGROUND": False, "VIEWER_TOKEN": t})
            for t in (TOKEN, TOKEN + "-rotated")]
    try:
        old, new = (a.test_client() for a in apps)
        old.post("/login", data={"token": TOKEN})
        cookie = old.get_cookie("tailboard_auth").value
        new.set_cookie("tailboard_auth", cookie)
        assert new.get("/api/runs").status_code == 401  # rotating the token logs everyone out
        again = apps[0].test_client()  # the same token (a restart, another worker): still in
        again.set_cookie("tailboard_auth", cookie)
        assert again.get("/api/runs").status_code == 200
    finally:
        for a in apps:
            a.extensions["tailboard"].stop()


@pytest.mark.parametrize("where", ["bearer", "cookie", "query", "form"])
def test_non_ascii_guesses_are_refused_not_crashed(guarded, where):
    guess = "tökén-\u2603"
    if where == "bearer":
        r = guarded.get("/api/runs", headers={"Authorization": "Bearer t\xf6ken"})
    elif where == "cookie":
        guarded.set_cookie("tailboard_auth", "caf\xe9")
        r = guarded.get("/api/runs")
    elif where == "query":
        r = guarded.get("/api/runs", query_string={"token": guess})
    else:
        r = guarded.post("/login", data={"token": guess})
    assert r.status_code == 401


def test_no_token_configured_means_open(client):
    assert client.get("/api/runs").status_code == 200
    assert client.post("/login", data={"next": "/compare"}).headers["Location"] == "/compare"


def test_comparisons_are_constant_time():
    """No ``==`` on a secret: every comparison in viewer/web/access/ goes through hmac.compare_digest."""
    import importlib
    import inspect
    import pkgutil

    from viewer.web import access

    names = [m.name for m in pkgutil.iter_modules(access.__path__)]
    assert {"secret", "tokens", "capabilities", "login"} <= set(names)
    src = "\n".join(inspect.getsource(importlib.import_module(f"viewer.web.access.{n}")) for n in names)
    assert "compare_digest" in src
    assert not re.search(r"(token|cookie|given|capability)\w*\s*[!=]=\s*\w", src)


# -- websocket Origin, against a real server ---------------------------------------------------

def handshake(base, path, origin=None, headers=None):
    """The status code of a websocket upgrade sent by hand (101: accepted)."""
    u = urlsplit(base)
    lines = [f"GET {path} HTTP/1.1", f"Host: {u.netloc}", "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    with socket.create_connection((u.hostname, u.port), timeout=10) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                break
            head += chunk
    return int(head.split()[1])


@pytest.fixture(scope="module")
def open_server(tmp_path_factory):
    """flask run over the samples, no token (the loopback default), one listed CORS origin."""
    from conftest import copy_samples, free_port

    root = copy_samples(tmp_path_factory.mktemp("access") / "samples")

    listed = f"http://localhost:{free_port()}"
    proc, url = start_server("flask", root, VIEWER_CORS=listed + ",*")
    yield url, listed
    stop_server(proc)


@pytest.mark.parametrize("origin,expected", [
    (None, 101),                          # not a browser
    ("SAME", 101),                        # the viewer's own pages
    ("LISTED", 101),                      # VIEWER_CORS lists it
    ("http://evil.example", 403),
    ("http://localhost:1", 403),          # same host name, another port
    ("http://SAMEHOST", 403),             # same host name, no port: port 80
    ("http://SAMEHOST.evil.example", 403),
    ("null", 403),                        # a sandboxed report may not read logs
    ("file://", 403),
    ("garbage", 403),
])
def test_log_socket_checks_the_origin(open_server, origin, expected):
    url, listed = open_server
    netloc = urlsplit(url).netloc
    host = urlsplit(url).hostname
    origin = {"SAME": url, "LISTED": listed, "http://SAMEHOST": f"http://{host}",
              "http://SAMEHOST.evil.example": f"http://{netloc}.evil.example"}.get(origin, origin)
    assert handshake(url, STREAM, origin) == expected


@pytest.mark.parametrize("origin,expected", [
    (None, 101), ("SAME", 101), ("http://evil.example", 403),
    ("null", 403),  # any site can send null (a sandboxed iframe): only with a report's capability
])
def test_livereload_socket_takes_reports_and_same_origin_only(open_server, origin, expected):
    url, _ = open_server
    assert handshake(url, "/livereload", url if origin == "SAME" else origin) == expected


def test_refused_origin_gets_nothing_even_with_a_valid_cookie(samples):
    proc, url = start_server("flask", samples, VIEWER_TOKEN=TOKEN)
    try:
        login = requests.post(url + "/login", data={"token": TOKEN}, allow_redirects=False)
        cookie = {"Cookie": "tailboard_auth=" + login.cookies["tailboard_auth"]}
        assert handshake(url, STREAM, url, cookie) == 101
        assert handshake(url, STREAM, "http://evil.example", cookie) == 403
        assert handshake(url, STREAM, url) == 401  # same origin, no cookie
    finally:
        stop_server(proc)


def test_same_origin_websocket_client_gets_the_tail(open_server):
    import json

    import simple_websocket

    url, _ = open_server
    ws = simple_websocket.Client.connect(url.replace("http://", "ws://") + STREAM)  # no Origin: not a browser
    try:
        msg = json.loads(ws.receive(timeout=10))
        assert msg["type"] == "tail" and msg["lines"]
    finally:
        ws.close()
    with pytest.raises(simple_websocket.ConnectionError, match="403"):
        simple_websocket.Client.connect(url.replace("http://", "ws://") + STREAM,
                                        headers={"Origin": "http://evil.example"})


# -- in a real browser ----------------------------------------------------------------------

OPEN_SOCKET = """async (url) => await new Promise((done) => {
  const ws = new WebSocket(url);
  const t = setTimeout(() => done('timeout'), 8000);
  ws.onmessage = (e) => { clearTimeout(t); ws.close(); done('message:' + JSON.parse(e.data).type); };
  ws.onerror = () => { clearTimeout(t); done('refused'); };
})"""


class ForeignSite:
    """Another site on this machine: a bare page at ``http://localhost:<its own port>``.

    A real server, not ``page.route``: chromium refuses (by itself) a socket to 127.0.0.1
    from a page whose address it does not know, which would hide what our check does.
    """

    def __init__(self):
        import http.server
        import threading

        class Page(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(b"<!doctype html><p>another site</p>")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
        self.url = f"http://localhost:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_browser_page_of_another_origin_cannot_open_the_log_socket(page, samples):
    stranger, friend = ForeignSite(), ForeignSite()
    proc, url = start_server("flask", samples, VIEWER_CORS=friend.url)
    try:
        ws_url = url.replace("http://", "ws://") + STREAM
        page.goto(stranger.url + "/")
        assert page.evaluate(OPEN_SOCKET, ws_url) == "refused"
        page.goto(friend.url + "/")  # control: the same kind of page, listed, does connect
        assert page.evaluate(OPEN_SOCKET, ws_url) == "message:tail"
        page.goto(url + "/")
        assert page.evaluate(OPEN_SOCKET, ws_url) == "message:tail"
    finally:
        stop_server(proc)
        stranger.close()
        friend.close()


def test_browser_login_form_returns_to_the_shared_link(page, samples):
    proc, url = start_server("flask", samples, VIEWER_TOKEN=TOKEN)
    try:
        page.goto(f"{url}/runs/{SPT_ID}?tab=logs")  # a link pasted in a chat
        page.wait_for_selector("form.login-form")
        page.fill("input[name=token]", "wrong")
        page.click("button.login-open")
        page.wait_for_selector(".login-error")
        assert "not right" in page.inner_text(".login-error")
        page.fill("input[name=token]", TOKEN)
        page.click("button.login-open")
        page.wait_for_url(f"{url}/runs/{SPT_ID}?tab=logs")
        page.wait_for_selector("article.log-stream pre.log", timeout=10000)
        assert "needs its access token" not in page.content()
        cookie = next(c for c in page.context.cookies() if c["name"] == "tailboard_auth")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["value"] != TOKEN
        assert page.errors == []
    finally:
        stop_server(proc)


def test_a_logged_in_page_offers_log_out_and_an_open_viewer_does_not(guarded, client):
    guarded.post("/login", data={"token": TOKEN})
    page = guarded.get("/").get_data(as_text=True)
    assert '<form class="logout" method="post" action="/logout">' in page
    assert 'class="logout"' not in client.get("/").get_data(as_text=True)
