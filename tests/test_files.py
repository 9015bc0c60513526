"""/files/: folder listings (sorted, live), opt-in CORS with preflights, read-only answers."""
from __future__ import annotations

import json
import os
import time

import pytest

from live_clients import SSE, start_server, stop_server


def make_folder(root):
    d = root / "plots"
    d.mkdir()
    (d / "b.png").write_bytes(b"x" * 300)
    (d / "a.png").write_bytes(b"x" * 10)
    (d / "c.png").write_bytes(b"x" * 2000)
    for name, t in (("c.png", 1_700_000_000), ("a.png", 1_700_000_100), ("b.png", 1_700_000_200)):
        os.utime(d / name, (t, t))
    (d / "sub").mkdir()
    return d


def names(resp):
    return [e["name"] for e in resp.get_json()["entries"]]


def test_a_folder_gets_a_listing_sorted_as_asked(client, samples):
    make_folder(samples)
    assert client.get("/files/plots").status_code == 308  # so the listing's relative links work
    html = client.get("/files/plots/").get_data(as_text=True)
    assert 'href="a.png"' in html and 'href="sub/"' in html and ">2.0 KiB<" in html
    assert names(client.get("/files/plots/?format=json")) == ["sub", "a.png", "b.png", "c.png"]
    assert names(client.get("/files/plots/?format=json&sort=size&order=desc")) == ["sub", "c.png", "b.png", "a.png"]
    assert names(client.get("/files/plots/?format=json&sort=mtime")) == ["sub", "c.png", "a.png", "b.png"]
    root = client.get("/files/").get_data(as_text=True)
    assert 'href="plots/"' in root and 'href="lightning/"' in root


def test_the_listing_fragment_is_what_htmx_swaps(client, samples):
    make_folder(samples)
    resp = client.get("/files/plots/?sort=size&order=desc", headers={"HX-Request": "true"})
    html = resp.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="listing"') and "<html" not in html
    assert resp.headers["Vary"] == "HX-Request"
    assert 'aria-sort="descending"' in html


def test_symlinks_leading_out_of_the_root_are_not_listed(client, samples, tmp_path):
    d = make_folder(samples)
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink(tmp_path / "secret.txt", d / "out.txt")
    os.symlink(d / "a.png", d / "in.png")
    os.mkfifo(d / "pipe")
    listed = names(client.get("/files/plots/?format=json"))
    assert "in.png" in listed and "out.txt" not in listed and "pipe" not in listed
    assert client.get("/files/plots/out.txt").status_code == 404


def test_files_are_read_only(client, samples):
    make_folder(samples)
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert client.open("/files/plots/a.png", method=method).status_code == 405
    assert (samples / "plots" / "a.png").read_bytes() == b"x" * 10


# -- CORS -----------------------------------------------------------------------------------

def test_cors_is_off_by_default(client, samples):
    make_folder(samples)
    resp = client.get("/files/plots/a.png", headers={"Origin": "https://viewer.example"})
    assert "Access-Control-Allow-Origin" not in resp.headers
    pre = client.open("/files/plots/a.png", method="OPTIONS", headers={
        "Origin": "https://viewer.example", "Access-Control-Request-Method": "GET"})
    assert "Access-Control-Allow-Origin" not in pre.headers


@pytest.fixture
def cors_app(samples):
    from app import create_app

    app = create_app({"VIEWER_ROOT": str(samples), "VIEWER_BACKGROUND": False, "TESTING": True,
                      "VIEWER_CORS": "https://viewer.example, http://localhost:8000",
                      "VIEWER_TOKEN": "s3cret"})
    yield app
    app.extensions["tailboard"].stop()


def test_cors_opt_in_allows_the_listed_origins_and_answers_preflights(cors_app, samples):
    make_folder(samples)
    c = cors_app.test_client()
    auth = {"Authorization": "Bearer s3cret"}
    resp = c.get("/files/plots/b.png", headers={"Origin": "https://viewer.example", "Range": "bytes=0-9", **auth})
    assert resp.status_code == 206
    assert resp.headers["Access-Control-Allow-Origin"] == "https://viewer.example"
    assert "Content-Range" in resp.headers["Access-Control-Expose-Headers"]
    assert "Origin" in resp.headers["Vary"]
    other = c.get("/files/plots/b.png", headers={"Origin": "https://evil.example", **auth})
    assert "Access-Control-Allow-Origin" not in other.headers
    # a preflight carries no credentials: it passes the token check, and says what is allowed
    pre = c.open("/files/plots/b.png", method="OPTIONS", headers={
        "Origin": "http://localhost:8000", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "range, authorization"})
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == "http://localhost:8000"
    assert "Range" in pre.headers["Access-Control-Allow-Headers"]
    assert "GET" in pre.headers["Access-Control-Allow-Methods"]
    refused = c.open("/files/plots/b.png", method="OPTIONS", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert refused.status_code == 403 and "VIEWER_CORS" in refused.get_json()["error"]
    assert c.get("/files/plots/b.png").status_code == 401  # the token still guards the bytes


# -- a listing updates live (real server, real SSE client) ----------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("kind,env", [("flask", {}), ("gunicorn", {}), ("gunicorn", {"VIEWER_POLL": "0.2"})],
                         ids=["flask", "gunicorn", "gunicorn-polling"])
def test_a_listing_stream_says_when_the_folder_changes_once_per_burst(samples, kind, env):
    make_folder(samples)
    proc, url = start_server(kind, samples, **env)
    try:
        sse = SSE(url, "/events?dir=plots")
        time.sleep(0.3)
        for i in range(10):  # a burst: one event, not ten
            (samples / "plots" / f"new{i}.png").write_bytes(b"y" * i)
        sse.next("listing")
        time.sleep(0.6)
        assert [e for e in sse.events.queue if e.get("event") == "listing"] == []
        (samples / "lightning" / "x.txt").write_text("a file of another folder")
        with pytest.raises(AssertionError):
            sse.next("listing", timeout=1.0)
        (samples / "plots" / "a.png").unlink()
        sse.next("listing")
        sse.close()
        import requests

        resp = requests.get(url + "/events?dir=nope/../..", timeout=5)  # not a stream: a 404
        assert resp.status_code == 404 and "error" in json.loads(resp.text)
    finally:
        stop_server(proc)
