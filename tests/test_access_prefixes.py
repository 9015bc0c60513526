"""A secret that is nearly right opens nothing: a prefix of the token (or of the cookie, or of a
report's file capability), and the token with something after it, are refused on every way in:
the ``Authorization: Bearer`` header, the cookie, a ``?token=`` link, the login form, and the
``/files/~<capability>/`` path a sandboxed report loads its own files from.

The mutation audit found that a comparison accepting a prefix survived every existing test:
a guessing script would then open the viewer with the token's first letter.
"""
from __future__ import annotations

import pytest

from conftest import SPT_ID
from viewer.web.access import COOKIE, cookie_value, make_capability

TOKEN = "s3cret-token-0123456789"
REPORT = f"/files/~{{cap}}/spt/runs/20261121/142732/1c80a3b1799d/sidecar.json"


def near_misses(secret):
    """Strings a user must never get in with, for a secret: its prefixes, and it extended."""
    return {"prefix of one char": secret[:1], "all but the last char": secret[:-1],
            "half": secret[: len(secret) // 2], "empty": "", "with a char after it": secret + "x"}


@pytest.fixture
def guarded(samples):
    from app import create_app

    app = create_app({"VIEWER_ROOT": str(samples), "VIEWER_BACKGROUND": False, "VIEWER_TOKEN": TOKEN})
    yield app.test_client()
    app.extensions["tailboard"].stop()


def test_the_real_secrets_do_open(guarded):
    """The other half of every refusal below: the exact secret, on the same way in, opens."""
    assert guarded.get("/api/runs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    r = guarded.get(f"/api/runs?token={TOKEN}")
    assert r.status_code == 302 and COOKIE in r.headers["Set-Cookie"]
    guarded.set_cookie(COOKIE, cookie_value(TOKEN))
    assert guarded.get("/api/runs").status_code == 200
    guarded.delete_cookie(COOKIE)
    assert guarded.get(REPORT.format(cap=make_capability(TOKEN, ""))).status_code == 200
    r = guarded.post("/login", data={"token": TOKEN, "next": "/compare"})
    assert r.status_code == 303 and r.headers["Location"] == "/compare"


@pytest.mark.parametrize("miss", near_misses(TOKEN).keys())
def test_a_bearer_header_with_a_near_miss_is_refused(guarded, miss):
    r = guarded.get("/api/runs", headers={"Authorization": f"Bearer {near_misses(TOKEN)[miss]}"})
    assert r.status_code == 401 and "runs" not in r.get_json()


@pytest.mark.parametrize("miss", near_misses(TOKEN).keys())
def test_a_token_link_with_a_near_miss_sets_no_cookie(guarded, miss, monkeypatch):
    monkeypatch.setattr("viewer.web.access.tokens.FAILED_LOGIN_DELAY", 0)
    r = guarded.get(f"/runs/{SPT_ID}", query_string={"token": near_misses(TOKEN)[miss]})
    assert r.status_code == 401 and "Set-Cookie" not in r.headers
    assert guarded.get("/api/runs").status_code == 401


@pytest.mark.parametrize("miss", near_misses(TOKEN).keys())
def test_the_login_form_with_a_near_miss_sets_no_cookie(guarded, miss, monkeypatch):
    monkeypatch.setattr("viewer.web.access.tokens.FAILED_LOGIN_DELAY", 0)
    r = guarded.post("/login", data={"token": near_misses(TOKEN)[miss], "next": "/compare"})
    assert r.status_code == 401 and "That token is not right." in r.get_data(as_text=True)
    assert "Set-Cookie" not in r.headers
    assert guarded.get("/api/runs").status_code == 401


@pytest.mark.parametrize("miss", near_misses(cookie_value(TOKEN)).keys())
def test_a_cookie_with_a_near_miss_of_the_real_cookie_is_refused(guarded, miss):
    guarded.set_cookie(COOKIE, near_misses(cookie_value(TOKEN))[miss])
    assert guarded.get("/api/runs").status_code == 401
    assert guarded.get(f"/runs/{SPT_ID}").status_code == 401


@pytest.mark.parametrize("miss", near_misses(TOKEN).keys())
def test_a_cookie_holding_a_near_miss_of_the_token_itself_is_refused(guarded, miss):
    guarded.set_cookie(COOKIE, near_misses(TOKEN)[miss])
    assert guarded.get("/api/runs").status_code == 401


@pytest.mark.parametrize("miss", near_misses(make_capability(TOKEN, "")).keys())
def test_a_report_link_with_a_near_miss_capability_serves_nothing(guarded, miss):
    r = guarded.get(REPORT.format(cap=near_misses(make_capability(TOKEN, ""))[miss]))
    assert r.status_code in (401, 404) and b"schema_version" not in r.data
