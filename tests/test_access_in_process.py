"""The access rules answered by the app in process (the Flask test client): host names, the
cookie's attributes, logging out from another site, where the login form comes back to, and
what a report link opens. test_rebinding.py, test_access_budget.py and test_capability.py prove
the same on real servers; these twins are what mutation testing sees (mutmut maps tests to
code in the pytest process only). Written from the survivors of viewer/web/access/.
"""
from __future__ import annotations

import os
import time

import pytest

from access_clients import make_reports
from viewer.web.access import COOKIE, FailureBudget, make_capability

TOKEN = "s3cret-token-0123456789"


def make_client(root, **config):
    from app import create_app

    app = create_app({"VIEWER_ROOT": str(root), "VIEWER_BACKGROUND": False, **config})
    return app, app.test_client()


@pytest.fixture
def open_viewer(samples):
    app, client = make_client(samples)
    yield client
    app.extensions["tailboard"].stop()


@pytest.fixture
def listed_viewer(samples):
    app, client = make_client(samples, VIEWER_ALLOWED_HOSTS=["runs.example.org", ".lab.example"])
    yield client
    app.extensions["tailboard"].stop()


@pytest.fixture
def guarded(samples):
    make_reports(samples)
    app, client = make_client(samples, VIEWER_TOKEN=TOKEN)
    yield client
    app.extensions["tailboard"].stop()


def status_for_host(client, host):
    return client.get("/api/runs", headers={"Host": host}).status_code


# -- host names (DNS rebinding) -------------------------------------------------------------

@pytest.mark.parametrize("host", ["localhost", "localhost:5000", "LOCALHOST:80", "localhost.", "127.0.0.1",
                                  "127.0.0.2:8000", "[::1]", "[::1]:8000"])
def test_loopback_host_names_are_served(open_viewer, host):
    assert status_for_host(open_viewer, host) == 200


@pytest.mark.parametrize("host", ["attacker.example", "localhost:x", "localhost:", "[::1",
                                  "[::1]8000", "[::1]:x", "[::1]:", "[localhost]x", "local host",
                                  "localhost/x", "localhost\\x", "evil@localhost", "localhost?x",
                                  "localhost#x", "::1", "0.0.0.0", "128.0.0.1", "localhost.evil"])
def test_other_host_names_get_403_naming_the_setting(open_viewer, host):
    r = open_viewer.get("/api/runs", headers={"Host": host})
    assert r.status_code == 403 and "VIEWER_ALLOWED_HOSTS" in r.get_json()["error"]


@pytest.mark.parametrize("host, status", [
    ("runs.example.org", 200), ("RUNS.example.org.:443", 200), ("lab.example", 200),
    ("gpu1.lab.example", 200), ("a.b.lab.example:8080", 200), ("localhost:9", 200),
    ("example.org", 403), ("xruns.example.org", 403), ("evillab.example", 403), ("lab.example.evil", 403),
])
def test_allowed_hosts_list_names_and_dotted_domains(listed_viewer, host, status):
    assert status_for_host(listed_viewer, host) == status


def test_with_a_token_any_host_name_may_ask_unless_names_are_listed(samples):
    app, client = make_client(samples, VIEWER_TOKEN=TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/api/runs", headers={**auth, "Host": "box.lan:8000"}).status_code == 200
    app.extensions["tailboard"].stop()
    app, client = make_client(samples, VIEWER_TOKEN=TOKEN, VIEWER_ALLOWED_HOSTS="box.lan")
    assert client.get("/api/runs", headers={**auth, "Host": "box.lan:8000"}).status_code == 200
    assert client.get("/api/runs", headers={**auth, "Host": "other.lan"}).status_code == 403
    app.extensions["tailboard"].stop()


# -- the cookie -----------------------------------------------------------------------------

def set_cookie_of(resp):
    return [h for h in resp.headers.getlist("Set-Cookie") if h.startswith(COOKIE + "=")]


def test_the_login_cookie_is_httponly_lax_scoped_and_secure_over_https(samples):
    app, client = make_client(samples, VIEWER_TOKEN=TOKEN)
    r = client.post("/login", data={"token": TOKEN, "next": "/compare"})
    assert r.status_code == 303 and r.headers["Location"] == "/compare"
    (cookie,) = set_cookie_of(r)
    attrs = [a.strip().lower() for a in cookie.split(";")]
    assert "httponly" in attrs and "samesite=lax" in attrs and "path=/" in attrs and "secure" not in attrs
    (secure,) = set_cookie_of(client.post("/login", data={"token": TOKEN}, base_url="https://localhost"))
    assert "secure" in [a.strip().lower() for a in secure.split(";")]
    app.extensions["tailboard"].stop()


def test_under_a_prefix_the_cookie_is_scoped_to_the_mount(samples):
    from flask import Flask

    from viewer import Viewer

    host = Flask("host")
    host.config.update(VIEWER_TOKEN=TOKEN, VIEWER_BACKGROUND=False)
    v = Viewer(host, root=str(samples), url_prefix="/runs")
    client = host.test_client()
    r = client.get("/runs/?token=" + TOKEN)
    assert r.status_code == 302 and r.headers["Location"] == "/runs/"
    (cookie,) = set_cookie_of(r)
    assert "path=/runs" in [a.strip().lower() for a in cookie.split(";")]
    r = client.post("/runs/logout")
    assert r.status_code == 303 and r.headers["Location"] == "/runs/login"
    (gone,) = set_cookie_of(r)
    assert "path=/runs" in gone.lower() and "expires=thu, 01 jan 1970" in gone.lower()
    v.stop()


# -- logging out only from our own pages ----------------------------------------------------

@pytest.mark.parametrize("headers, status", [
    ({}, 303),                                                      # not a browser
    ({"Origin": "http://localhost"}, 303),
    ({"Referer": "http://localhost/runs/x"}, 303),
    ({"Origin": "https://evil.example"}, 403),
    ({"Origin": "null"}, 403),
    ({"Referer": "https://evil.example/page"}, 403),
    ({"Origin": "http://localhost", "Referer": "https://evil.example/"}, 303),  # Origin decides
    ({"Origin": "https://evil.example", "Referer": "http://localhost/"}, 403),
    ({"Origin": "http://localhost:5000"}, 403),                     # another local server's page
    ({"Origin": "ftp://localhost"}, 403),
    ({"Origin": "http://localhost", "Host": "localhost:80"}, 303),  # the default port, written out
    ({"Origin": "http://localhost:80"}, 303),
])
def test_logout_is_refused_to_other_sites(guarded, headers, status):
    guarded.set_cookie(COOKIE, "whatever")
    r = guarded.post("/logout", headers=headers)
    assert r.status_code == status
    if status == 303:
        (gone,) = set_cookie_of(r)
        assert "expires=thu, 01 jan 1970" in gone.lower() and "httponly" in gone.lower()
    else:
        assert set_cookie_of(r) == [] and "another site" in r.get_json()["error"]


@pytest.mark.parametrize("headers, status", [
    ({"Origin": "https://localhost"}, 303), ({"Origin": "https://localhost", "Host": "localhost:443"}, 303),
    ({"Origin": "https://localhost:8443"}, 403),
])
def test_over_https_the_origin_port_defaults_to_443(guarded, headers, status):
    assert guarded.post("/logout", headers=headers, base_url="https://localhost").status_code == status


def test_a_listed_host_name_may_log_out_from_any_port(listed_viewer):
    head = {"Host": "runs.example.org"}
    assert listed_viewer.post("/logout", headers={**head, "Origin": "http://runs.example.org:9999"}).status_code == 303
    assert listed_viewer.post("/logout", headers={**head, "Origin": "http://gpu1.lab.example"}).status_code == 303
    assert listed_viewer.post("/logout", headers={**head, "Origin": "http://evil.example"}).status_code == 403


# -- where the login form comes back to -----------------------------------------------------

def test_a_logged_out_page_comes_back_to_itself_exactly(guarded):
    html = guarded.get("/compare").get_data(as_text=True)
    assert 'name="next" value="/compare"' in html
    html = guarded.get("/compare?run=keras").get_data(as_text=True)
    assert 'name="next" value="/compare?run=keras"' in html


@pytest.mark.parametrize("header", [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER   {TOKEN}  "])
def test_the_bearer_scheme_is_case_insensitive(guarded, header):
    assert guarded.get("/api/runs", headers={"Authorization": header}).status_code == 200


@pytest.mark.parametrize("header", [TOKEN, f"Basic {TOKEN}", f"Bearer{TOKEN}", "Bearer "])
def test_anything_but_a_bearer_token_is_refused(guarded, header):
    assert guarded.get("/api/runs", headers={"Authorization": header}).status_code == 401


# -- report links ---------------------------------------------------------------------------

def cap(folder, **kw):
    return make_capability(TOKEN, folder, **kw)


@pytest.mark.parametrize("folder, path, status", [
    ("reports/a", "reports/a/index.html", 200),
    ("reports/a/", "reports/a/style.css", 200),          # a trailing slash names the same folder
    ("./reports//a", "reports/a/plot.png", 200),
    ("", "reports/b/secret.txt", 200),                   # the whole root
    ("reports/a", "reports/b/secret.txt", 403),
    ("reports/a", "reports/a/../b/secret.txt", 403),
    ("reports", "reports/a/index.html", 200),
    ("reports/a", "reports/ab/index.html", 403),          # a sibling sharing the prefix
    ("reports/a", "reports/a/missing.html", 404),
])
def test_a_report_link_opens_its_folder_and_nothing_else(guarded, samples, folder, path, status):
    (samples / "reports" / "ab").mkdir(exist_ok=True)
    (samples / "reports" / "ab" / "index.html").write_text("<p>ab</p>")
    r = guarded.get(f"/files/~{cap(folder)}/{path}")
    assert r.status_code == status, r.get_data(as_text=True)[:200]
    if status == 403:
        assert "opens only the files under" in r.get_json()["error"]


def test_the_refusals_say_what_the_link_opens(guarded):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = guarded.get(f"/files/~{cap('reports/a')}/reports/b/index.html")
    assert r.get_json()["error"] == ("this report link opens only the files under reports/a/; "
                                     "open other files from the viewer")
    r = guarded.get(f"/files/~{cap('')}/../outside")
    assert r.status_code in (403, 404)
    old = cap("reports/a", now=time.time() - 13 * 3600)
    r = guarded.get(f"/files/~{old}/reports/a/index.html")
    assert r.get_json()["error"] == ("this report link has expired (report links last 12 hours): "
                                     "open the report again from the viewer")
    # a forged capability with a valid token: no such file (nothing says a capability was close)
    expiry, mac, folder = cap("reports/a").split(".")
    r = guarded.get(f"/files/~{expiry}.{'0' * 32}.{folder}/reports/a/index.html", headers=auth)
    assert r.status_code == 404 and r.get_json()["error"] == "no such file"


def test_a_link_in_the_folder_leading_out_of_the_root_is_no_such_file(guarded, samples, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("not a run's file")
    os.symlink(outside, samples / "reports" / "a" / "out.txt")
    r = guarded.get(f"/files/~{cap('reports/a')}/reports/a/out.txt")
    assert r.status_code == 404 and r.get_json()["error"] == "no such file" and b"not a run" not in r.data


def test_a_report_opened_from_the_viewer_gets_a_working_link(guarded):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = guarded.get("/files/reports/a/index.html", headers=auth)
    assert r.status_code == 302 and "/files/~" in r.headers["Location"]
    target = r.headers["Location"].split("/files/", 1)[1]
    page = guarded.get("/files/" + target)            # no token: the capability alone opens it
    assert page.status_code == 200 and b"<h1" in page.data.lower()


def test_a_link_inside_the_folder_to_another_report_does_not_open_it(guarded, samples):
    os.symlink(samples / "reports" / "b" / "secret.txt", samples / "reports" / "a" / "notes.txt")
    r = guarded.get(f"/files/~{cap('reports/a')}/reports/a/notes.txt")
    assert r.status_code == 403 and b"private" not in r.data


def test_a_report_link_lasts_twelve_hours(guarded):
    assert guarded.get(f"/files/~{cap('reports/a', now=time.time() - 11.9 * 3600)}/reports/a/index.html").status_code == 200
    r = guarded.get(f"/files/~{cap('reports/a', now=time.time() - 12 * 3600 - 601)}/reports/a/index.html")
    assert r.status_code == 403 and "expired" in r.get_json()["error"]


def test_a_report_link_signed_otherwise_or_altered_opens_nothing(guarded):
    good = cap("reports/a")
    expiry, mac, folder = good.split(".")
    for forged in (make_capability("another-token", "reports/a"), f"{expiry}.{mac}.{folder}x",
                   f"{int(expiry, 16) + 1:x}.{mac}.{folder}", f"{expiry}.{mac[:-1]}0.{folder}",
                   f"{expiry}.{mac}", f"{expiry}.{mac}.Li4", f"{expiry}.{mac}.@@"):
        if forged == good:
            continue
        assert guarded.get(f"/files/~{forged}/reports/a/index.html").status_code in (401, 404), forged


# -- the failure budget ---------------------------------------------------------------------

def test_addresses_are_counted_per_host_not_per_port_or_zone():
    budget = FailureBudget(limit=2)
    for address in ("10.0.0.7", "::ffff:10.0.0.7"):   # the same IPv4 host, mapped into IPv6
        budget.fail(address)
    assert budget.retry_after("10.0.0.7") > 0 and budget.retry_after("10.0.0.8") == 0
    budget.fail("fe80::1%eth0")
    budget.fail("fe80::2%eth1")                        # the same /64, zones aside
    assert budget.retry_after("fe80::3") > 0 and budget.retry_after("fe81::1") == 0
    budget.fail("not an address")
    assert budget.retry_after("not an address") == 0 and budget.retry_after(None) == 0
    budget.fail(None)
    budget.fail("")
    assert budget.retry_after(None) > 0                # no address at all: one shared entry


# -- what the access logs may show ----------------------------------------------------------

@pytest.mark.parametrize("line, shown", [
    ("GET /livereload?v=17%7Eabc.def HTTP/1.1", "GET /livereload?v=17~[redacted] HTTP/1.1"),
    ("GET /livereload?v=17%7eabc.def HTTP/1.1", "GET /livereload?v=17~[redacted] HTTP/1.1"),
    ("GET /livereload?v=17~abc~def HTTP/1.1", "GET /livereload?v=17~[redacted] HTTP/1.1"),
    ("GET /files/%7Eabc/x.html?token=s3cret", "GET /files/~[redacted]/x.html?token=[redacted]"),
    ("", ""),
])
def test_capabilities_are_cut_from_log_lines_however_the_tilde_is_written(line, shown):
    from viewer.web.access import redact

    assert redact(line) == shown


# -- where the login form sends the browser (``next``) --------------------------------------

@pytest.mark.parametrize("next_url, lands", [
    ("/compare?q=a b", "/compare?q=a%20b"),         # a space is no control character
    ("/runs/" + "a" * 4090, "/runs/" + "a" * 4090),  # 4,096 characters: kept
    ("/runs/" + "a" * 4091, "/"),                    # 4,097: the overview
    ("/runs/x\x7f", "/"),                            # DEL, as the C0 controls
    ("/runs/x\x1f", "/"),
    ("/runs/./x", "/"), ("/runs/%2e/x", "/"), ("/runs/ ../x", "/"), ("/runs/../x", "/"),
])
def test_after_login_the_browser_goes_to_a_local_next_or_the_overview(guarded, next_url, lands):
    r = guarded.post("/login", data={"token": TOKEN, "next": next_url})
    assert r.status_code == 303 and r.headers["Location"] == lands


def test_retry_after_counts_from_the_oldest_of_the_last_limit_wrong_tokens():
    now = [1000.0]
    budget = FailureBudget(limit=2, window=60, clock=lambda: now[0])
    for t in (1000.0, 1010.0, 1020.0):
        now[0] = t
        budget.fail("10.0.0.9")
    assert budget.retry_after("10.0.0.9") == 50     # the 2 latest: 1010 and 1020; free at 1070
    now[0] = 1069.5
    assert budget.retry_after("10.0.0.9") == 1
    now[0] = 1070.0
    assert budget.retry_after("10.0.0.9") == 0


# -- refusals: JSON for machines, the login page for pages; the budget in the way ------------

UPGRADE = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
           "Sec-WebSocket-Version": "13"}   # a websocket route answers nothing else


@pytest.mark.parametrize("path", ["/api/runs", "/ws/logs/keras/training.log", "/livereload", "/healthz",
                                  "/-/static/tailboard.js", "/events", "/files/keras/training.log"])
def test_without_the_token_machine_routes_get_a_json_401(guarded, path):
    r = guarded.get(path, headers=UPGRADE if path in ("/livereload",) or path.startswith("/ws/") else {})
    assert r.status_code == 401 and "a token is required" in r.get_json()["error"]


def test_a_page_asked_for_json_gets_a_json_401_and_otherwise_the_login_form(guarded):
    r = guarded.get("/compare", headers={"Accept": "application/json"})
    assert r.status_code == 401 and "a token is required" in r.get_json()["error"]
    r = guarded.get("/compare", headers={"Accept": "text/html"})
    assert r.status_code == 401 and 'name="token"' in r.get_data(as_text=True)


def test_a_report_socket_needs_a_fresh_capability(guarded):
    fresh, old = cap("reports/a"), cap("reports/a", now=time.time() - 13 * 3600)
    assert guarded.get(f"/livereload?v=3~{fresh}", headers=UPGRADE).status_code != 401  # on to the socket's checks
    assert guarded.get(f"/livereload?v=3~{old}", headers=UPGRADE).status_code == 401
    assert guarded.get(f"/livereload?x=3~{fresh}", headers=UPGRADE).status_code == 401


def test_past_the_budget_pages_get_a_429_form_and_machines_json_and_the_right_token_waits(guarded, monkeypatch):
    monkeypatch.setattr("viewer.web.access.tokens.FAILED_LOGIN_DELAY", 0)
    for i in range(10):
        assert guarded.get("/api/runs", headers={"Authorization": f"Bearer wrong-{i}"}).status_code == 401
    r = guarded.get("/compare?run=keras&token=another-guess")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    html = r.get_data(as_text=True)
    assert "too many wrong tokens" in html and 'name="next" value="/compare?run=keras"' in html
    r = guarded.get("/api/runs", headers={"Authorization": f"Bearer {TOKEN}"})   # not even compared
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert "too many wrong tokens" in r.get_json()["error"]
    r = guarded.get(f"/compare?token={TOKEN}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 429 and r.is_json                                   # a bearer is a machine
    r = guarded.post("/login", data={"token": TOKEN})
    assert r.status_code == 429 and "Too many wrong tokens" in r.get_data(as_text=True)


def test_a_wrong_token_to_a_machine_route_gets_a_json_401_however_it_is_given(guarded, monkeypatch):
    monkeypatch.setattr("viewer.web.access.tokens.FAILED_LOGIN_DELAY", 0)
    for r in (guarded.get("/api/runs?token=wrong"), guarded.get("/api/runs", headers={"Authorization": "Bearer wrong"}),
              guarded.get("/compare", headers={"Authorization": "Bearer wrong"})):
        assert r.status_code == 401 and r.get_json() == {"error": "that token is not right"}
    r = guarded.get("/compare?token=wrong")                       # a page: the form again, with a word
    assert r.status_code == 401 and "That token is not right." in r.get_data(as_text=True)
