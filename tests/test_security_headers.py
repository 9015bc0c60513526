"""Every Tailboard response carries the security headers, pages hold no inline script or style,
reports keep their own sandbox, and a host site's own routes are left alone."""
from __future__ import annotations

from html.parser import HTMLParser

import pytest
from flask import Flask

from conftest import LIGHTNING_ID, SPT_ID
from viewer.web.security import PAGE_CSP


def directives(csp):
    """{directive: [sources]} of a Content-Security-Policy value."""
    out = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            out[words[0].lower()] = words[1:]
    return out


def assert_page_headers(resp):
    h = resp.headers
    assert h["Content-Security-Policy"] == PAGE_CSP, resp.request.path
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Referrer-Policy"] == "same-origin"
    assert h["X-Frame-Options"] == "SAMEORIGIN"


def test_the_page_policy_allows_no_inline_script_style_nor_eval():
    d = directives(PAGE_CSP)
    assert d["script-src"] == ["'self'"]
    assert "script-src-attr" not in d and "script-src-elem" not in d
    assert d["style-src"] == ["'self'"]            # no <style> blocks either
    assert d["object-src"] == ["'none'"]
    assert d["frame-ancestors"] == ["'self'"] and d["base-uri"] == ["'self'"]
    assert d["default-src"] == ["'self'"] and d["connect-src"] == ["'self'"]
    assert not any("unsafe-eval" in s for srcs in d.values() for s in srcs)
    # not even for log colours: they are classes and CSSOM properties (viewer/views/terminal.py)
    assert not any("unsafe-inline" in s for srcs in d.values() for s in srcs)
    assert "style-src-attr" not in d and "style-src-elem" not in d


ROUTES = [
    "/",
    f"/runs/{SPT_ID}",
    f"/runs/{SPT_ID}?tab=logs",
    f"/runs/{SPT_ID}?tab=media",
    f"/runs/{SPT_ID}?tab=config",
    f"/compare?run={SPT_ID}&run={LIGHTNING_ID}",
    f"/compare?run={SPT_ID}&run={LIGHTNING_ID}&tab=table",
    f"/compare?run={SPT_ID}&run={LIGHTNING_ID}&tab=scatter",
    "/files/",
    "/api/runs",
    f"/api/runs/{SPT_ID}",
    f"/api/runs/{SPT_ID}/metrics",
    f"/api/compare?run={SPT_ID}",
    "/healthz",
    "/-/static/tailboard.css",
    "/-/static/vendor/htmx-2.0.11.min.js",
    "/-/partials/activity",
    f"/-/partials/hparams?run={SPT_ID}",
]


@pytest.mark.parametrize("url", ROUTES)
def test_pages_api_and_assets_carry_the_headers(client, url):
    resp = client.get(url)
    assert resp.status_code == 200, url
    assert_page_headers(resp)


@pytest.mark.parametrize("url", ["/", f"/runs/{SPT_ID}?tab=charts", f"/compare?run={SPT_ID}&tab=table"])
def test_htmx_fragments_carry_the_headers(client, url):
    resp = client.get(url, headers={"HX-Request": "true"})
    assert resp.status_code == 200 and "<html" not in resp.get_data(as_text=True)
    assert_page_headers(resp)


@pytest.mark.parametrize("url,code", [
    ("/runs/no/such/run", 404),
    ("/api/runs/no-such-run", 404),
    ("/api/runs?regex=1&q=(", 400),
    (f"/api/runs/{SPT_ID}/metrics?start=5&end=1", 400),
    ("/compare", 200),
    ("/api/compare", 400),
    ("/files/no-such-file.txt", 404),
])
def test_errors_carry_the_headers(client, url, code):
    resp = client.get(url)
    assert resp.status_code == code, url
    assert_page_headers(resp)


def test_the_event_stream_carries_the_headers(client):
    resp = client.get("/events", buffered=False)
    try:
        assert resp.mimetype == "text/event-stream"
        assert_page_headers(resp)
    finally:
        resp.close()


def test_reports_keep_their_sandbox_and_not_the_page_policy(client, samples):
    (samples / "report.html").write_text("<html><body><p>report</p></body></html>")
    (samples / "plot.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    for name in ("report.html", "plot.svg"):
        resp = client.get("/files/" + name)
        assert resp.status_code == 200
        d = directives(resp.headers["Content-Security-Policy"])
        assert d["sandbox"] == ["allow-scripts", "allow-popups", "allow-forms"], name
        assert "default-src" not in d and "script-src" not in d      # scripts run, sandboxed
        # a sandboxed report's origin is opaque: any frame-ancestors would block its own frames
        assert "frame-ancestors" not in d and "X-Frame-Options" not in resp.headers
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "same-origin"


def test_a_plain_file_gets_no_page_policy(client, samples):
    (samples / "notes.txt").write_text("hello")
    resp = client.get("/files/notes.txt")
    assert resp.status_code == 200 and resp.get_data(as_text=True) == "hello"
    assert "Content-Security-Policy" not in resp.headers and "X-Frame-Options" not in resp.headers
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_a_folder_listing_is_a_tailboard_page(client):
    resp = client.get("/files/spt/")
    assert resp.status_code == 200 and "listing" in resp.get_data(as_text=True)
    assert_page_headers(resp)


def test_a_host_sites_own_routes_do_not_get_the_headers(samples):
    host = Flask("host")

    @host.get("/")
    def home():
        return "<h1>host</h1><script>window.hostInline = 1</script>"

    from viewer import Viewer

    v = Viewer(host, root=str(samples), url_prefix="/runs", background=False)
    try:
        c = host.test_client()
        own = c.get("/")
        assert own.status_code == 200
        for name in ("Content-Security-Policy", "X-Frame-Options", "Referrer-Policy", "X-Content-Type-Options"):
            assert name not in own.headers, name
        for url in ("/runs/", "/runs/api/runs", "/runs/-/static/tailboard.js"):
            resp = c.get(url)
            assert resp.status_code == 200, url
            assert_page_headers(resp)
    finally:
        v.stop()


# -- the markup itself: nothing the CSP would block ----------------------------------------

class InlineFinder(HTMLParser):
    """Collects inline script, event-handler attributes and style attributes/blocks."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found, self.stack = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        in_log = any(t == "pre" and "log" in (c or "").split() for t, c in self.stack)
        if tag not in ("br", "img", "input", "meta", "link", "source", "hr", "col", "wbr"):
            self.stack.append((tag, a.get("class")))
        if tag == "script" and not a.get("src") and a.get("type") != "application/json":
            self.found.append("inline <script>")
        if tag == "style":
            self.found.append("<style> block")
        for name, value in attrs:
            if name.startswith("on") or name.startswith("hx-on") or name.startswith("data-hx-on"):
                self.found.append(f"{tag} {name}={value!r}")
            if name == "style" and not (in_log and tag == "span"):  # log ANSI colours: see security.py
                self.found.append(f"{tag} style={value!r}")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"{tag} {name}={value!r}")

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break


MARKUP = ROUTES[:9] + [
    f"/runs/{LIGHTNING_ID}",
    "/files/spt/",
    f"/-/partials/media?run={SPT_ID}",
    "/-/partials/columns",
    f"/-/partials/rows?run={SPT_ID}",
    "/runs/no/such/run",
]


@pytest.mark.parametrize("url", MARKUP)
def test_pages_hold_no_inline_script_handler_or_style(client, url):
    for headers in ({}, {"HX-Request": "true"}):
        resp = client.get(url, headers=headers)
        finder = InlineFinder()
        finder.feed(resp.get_data(as_text=True))
        assert finder.found == [], (url, headers)


def test_htmx_is_told_not_to_eval_nor_inject_styles(client):
    page = client.get("/").get_data(as_text=True)
    assert '"includeIndicatorStyles": false' in page and '"allowEval": false' in page
    assert ".htmx-indicator" in client.get("/-/static/tailboard.css").get_data(as_text=True)


@pytest.mark.parametrize("dest", ["script", "style", "worker"])
def test_a_viewer_page_cannot_load_a_runs_file_as_code(client, samples, dest):
    # script-src 'self' covers /files/ too: even injected markup could not run a run's .js
    (samples / "evil.js").write_text("window.__xss = 1")
    own_page = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Dest": dest}
    resp = client.get("/files/evil.js", headers=own_page)
    assert resp.status_code == 403 and "not loaded as code" in resp.get_json()["error"]
    # a sandboxed report (opaque origin: cross-site) loads its scripts; a link opens the file
    assert client.get("/files/evil.js", headers={**own_page, "Sec-Fetch-Site": "cross-site"}).status_code == 200
    assert client.get("/files/evil.js", headers={**own_page, "Sec-Fetch-Dest": "document"}).status_code == 200
    assert client.get("/files/evil.js").status_code == 200
