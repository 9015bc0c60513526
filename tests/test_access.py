"""VIEWER_TOKEN: every route needs the bearer header or the cookie a ?token= visit sets."""
from __future__ import annotations

import pytest

from conftest import SPT_ID

TOKEN = "s3cret-token"


@pytest.fixture
def guarded(samples):
    from app import create_app

    app = create_app({"VIEWER_ROOT": str(samples), "VIEWER_BACKGROUND": False, "VIEWER_TOKEN": TOKEN})
    return app.test_client()


@pytest.mark.parametrize("url", ["/api/runs", f"/api/runs/{SPT_ID}/metrics", "/healthz",
                                 f"/files/{SPT_ID}/media/samples/00000016_0.png",
                                 "/-/static/tailboard.js"])
def test_api_files_and_assets_refuse_without_token(guarded, url):
    r = guarded.get(url)
    assert r.status_code == 401 and "token" in r.get_json()["error"]


def test_pages_show_the_login_page(guarded):
    r = guarded.get("/")
    assert r.status_code == 401 and "needs its access token" in r.get_data(as_text=True)


def test_bearer_header_opens_everything(guarded):
    r = guarded.get("/api/runs", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and len(r.get_json()["runs"]) == 5
    assert guarded.get("/api/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_token_link_sets_a_cookie_and_drops_the_token_from_the_url(guarded):
    r = guarded.get(f"/?q=keras&token={TOKEN}")
    assert r.status_code == 302 and r.headers["Location"] == "/?q=keras"
    assert TOKEN not in r.headers["Set-Cookie"] and "HttpOnly" in r.headers["Set-Cookie"]
    assert guarded.get("/?q=keras").status_code == 200  # the cookie now opens pages...
    assert guarded.get("/api/runs").status_code == 200  # ...and the API
    guarded.delete_cookie("tailboard_auth")
    assert guarded.get("/?token=wrong").status_code == 401


def test_no_token_configured_means_open(client):
    assert client.get("/api/runs").status_code == 200
