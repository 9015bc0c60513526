"""Logout only from our own pages; wrong tokens spend a per-address budget, however presented.

The findings: a cross-site form POST to ``/logout`` cleared the cookie; guesses through
``Authorization: Bearer`` had no delay at all, and the 0.5 s delay on pages did not limit
guesses sent in parallel. Against ``gunicorn -k gevent``, with parallel real clients.
"""
from __future__ import annotations

import concurrent.futures

import pytest
import requests

from access_clients import STREAM, copy_samples, handshake, raw_request
from live_clients import start_server, stop_server

TOKEN = "s3cret-token"
LIMIT = 10


@pytest.fixture
def server(tmp_path_factory):
    root = copy_samples(tmp_path_factory, "budget")
    proc, url = start_server("gunicorn", root, VIEWER_TOKEN=TOKEN)
    yield url
    stop_server(proc)


def cookie_of(url):
    r = requests.post(url + "/login", data={"token": TOKEN}, allow_redirects=False)
    return r.cookies["tailboard_auth"]


# -- logout -----------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"},
    {"Origin": "null"},                                       # a no-referrer or sandboxed form
    {"Referer": "http://evil.example/page.html"},             # an old browser: no Origin
    {"Origin": "http://127.0.0.1:1"},                         # another local server's page
    {"Origin": "http://attacker.example:PORT"},
])
def test_a_cross_site_logout_is_refused(server, headers):
    cookie = cookie_of(server)
    port = server.rsplit(":", 1)[1]
    headers = {k: v.replace("PORT", port) for k, v in headers.items()}
    status, hdrs, body = raw_request(server, "POST", "/logout",
                                     headers={"Cookie": "tailboard_auth=" + cookie, **headers})
    assert status == 403 and b"another site" in body
    assert "set-cookie" not in hdrs
    assert requests.get(server + "/api/runs", cookies={"tailboard_auth": cookie}).ok


@pytest.mark.parametrize("headers", [{"Origin": "SAME"}, {"Referer": "SAME/runs/x"}, {}])
def test_logout_from_our_own_page_clears_the_cookie(server, headers):
    cookie = cookie_of(server)
    headers = {k: v.replace("SAME", server) for k, v in headers.items()}
    status, hdrs, _ = raw_request(server, "POST", "/logout", headers={"Cookie": "tailboard_auth=" + cookie, **headers})
    assert status == 303 and "tailboard_auth=;" in hdrs["set-cookie"]


# -- the failure budget -----------------------------------------------------------------------

def wrong(url, how, i):
    guess = f"guess-{i}"
    if how == "bearer":
        return requests.get(url + "/api/runs", headers={"Authorization": "Bearer " + guess})
    if how == "query":
        return requests.get(url + f"/?token={guess}", allow_redirects=False)
    if how == "form":
        return requests.post(url + "/login", data={"token": guess}, allow_redirects=False)
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["bearer", "query", "form"])
def test_parallel_guesses_are_cut_at_the_budget(server, how):
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        statuses = [r.status_code for r in pool.map(lambda i: wrong(server, how, i), range(40))]
    assert statuses.count(401) <= LIMIT and statuses.count(429) >= 40 - LIMIT, statuses
    r = wrong(server, how, 99)
    assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 60
    assert "too many wrong tokens" in r.text.lower()


def test_past_the_budget_even_the_right_token_is_not_compared(server):
    for i in range(LIMIT):
        assert wrong(server, "bearer", i).status_code == 401
    assert requests.post(server + "/login", data={"token": TOKEN}, allow_redirects=False).status_code == 429
    assert requests.get(server + "/api/runs", headers={"Authorization": "Bearer " + TOKEN}).status_code == 429
    assert requests.get(server + f"/?token={TOKEN}", allow_redirects=False).status_code == 429
    status, _ = handshake(server, STREAM, headers={"Authorization": "Bearer " + TOKEN})
    assert status == 429


def test_a_logged_in_browser_is_not_locked_out_by_guesses_from_its_address(server):
    cookie = cookie_of(server)
    for i in range(LIMIT + 5):
        wrong(server, "query", i)
    assert requests.get(server + "/api/runs", cookies={"tailboard_auth": cookie}).ok
    assert handshake(server, STREAM, origin=server, headers={"Cookie": "tailboard_auth=" + cookie})[0] == 101


def test_websocket_guesses_count_too(server):
    for i in range(LIMIT):
        assert handshake(server, STREAM, headers={"Authorization": f"Bearer guess-{i}"})[0] == 401
    assert handshake(server, STREAM, headers={"Authorization": "Bearer guess-x"})[0] == 429
    assert wrong(server, "bearer", 0).status_code == 429


# -- the budget itself (its clock and size) ---------------------------------------------------

class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_the_budget_refills_after_its_window():
    from viewer.web.access import FailureBudget

    clock = Clock()
    b = FailureBudget(limit=3, window=60, clock=clock)
    for _ in range(3):
        assert b.retry_after("10.0.0.1") == 0
        b.fail("10.0.0.1")
        clock.now += 1
    assert b.retry_after("10.0.0.1") == 57 and b.retry_after("10.0.0.2") == 0
    clock.now += 57
    assert b.retry_after("10.0.0.1") == 0


def test_the_budget_is_bounded_in_memory_and_not_reset_by_a_flood():
    from viewer.web.access import FailureBudget

    clock = Clock()
    b = FailureBudget(limit=3, window=60, max_clients=100, clock=clock)
    for _ in range(3):
        b.fail("10.0.0.1")
    for i in range(5000):  # a flood of other addresses
        b.fail(f"10.1.{i // 250}.{i % 250}")
    assert len(b._fails) <= 101
    assert b.retry_after("10.0.0.1") > 0           # the flood did not evict its failures
    assert b.retry_after("10.9.9.9") > 0           # new addresses share the spent overflow entry
    clock.now += 61
    assert b.retry_after("10.0.0.1") == 0 and b.retry_after("10.9.9.9") == 0


def test_ipv6_addresses_count_per_64():
    from viewer.web.access import FailureBudget

    b = FailureBudget(limit=3, window=60, clock=Clock())
    for i in range(3):
        b.fail(f"2001:db8:1:2::{i + 1}")             # one host, three addresses of its /64
    assert b.retry_after("2001:db8:1:2:ffff::9") > 0
    assert b.retry_after("2001:db8:1:3::1") == 0
    assert FailureBudget.client("::ffff:10.0.0.1") == "10.0.0.1"
