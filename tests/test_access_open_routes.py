"""With a token set, exactly the routes that must answer without it do, and no more: the login
form, logging out, the published livereload client, CORS preflights of files, and a report's
own files and live-reload socket by its capability (which opens nothing else).

Written from mutmut's survivors in viewer/web/access: the allow-list was only exercised by
tests that run a server in a subprocess, so a capability opening every route, or a preflight,
the livereload client or the socket refused, survived the in-process tests.
"""
from __future__ import annotations

import pytest

from viewer.web.access import make_capability

TOKEN = "s3cret-token-0123456789"
CAP = make_capability(TOKEN, "")


@pytest.fixture
def guarded(samples):
    from app import create_app

    app = create_app({"VIEWER_ROOT": str(samples), "VIEWER_BACKGROUND": False, "VIEWER_TOKEN": TOKEN,
                      "VIEWER_CORS": "https://dash.example"})
    yield app.test_client()
    app.extensions["tailboard"].stop()


def test_the_login_form_logging_out_and_the_livereload_client_need_no_token(guarded):
    assert guarded.get("/login").status_code == 200
    assert guarded.post("/logout").status_code == 303
    r = guarded.get("/-/livereload.js")
    assert r.status_code == 200 and b"LiveReload" in r.data


def test_a_cors_preflight_of_a_file_needs_no_token_and_of_the_api_it_does(guarded):
    head = {"Origin": "https://dash.example", "Access-Control-Request-Method": "GET"}
    r = guarded.options("/files/keras/training.log", headers=head)
    assert r.status_code != 401 and r.headers.get("Access-Control-Allow-Origin") == "https://dash.example"
    assert guarded.options("/api/runs", headers=head).status_code == 401


def test_the_livereload_capability_opens_no_other_route(guarded):
    for path in ("/api/runs", "/", "/events", "/files/keras/training.log"):
        r = guarded.get(f"{path}?v=3~{CAP}")
        assert r.status_code == 401, f"{path} opened by a report's capability"


def test_a_report_capability_opens_files_and_nothing_shaped_like_them(guarded):
    assert guarded.get(f"/files/~{CAP}/keras/training.log").status_code == 200
    for path in (f"/runs/ab{CAP}", f"/files/a{CAP}/keras/training.log"):  # the capability at /files/~'s offset
        assert guarded.get(path).status_code == 401, f"{path} opened by a report's capability"


def test_the_login_form_comes_back_to_a_compare_link_with_every_run(guarded, monkeypatch):
    """A shared link to a comparison of two runs, opened logged out: after the form, the same
    two runs (repeated parameters kept, the token dropped)."""
    monkeypatch.setattr("viewer.web.access.tokens.FAILED_LOGIN_DELAY", 0)
    r = guarded.get("/compare?run=keras&run=hf&token=wrong-guess")
    assert r.status_code == 401
    assert 'name="next" value="/compare?run=keras&amp;run=hf"' in r.get_data(as_text=True)
