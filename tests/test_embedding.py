"""Tailboard mounted under a prefix inside a host Flask app leaves the host's routes and templates alone."""
from __future__ import annotations

import os

from flask import Flask, render_template

from conftest import SPT_ID


def make_host(tmp_path, samples):
    tpl = tmp_path / "host_templates"
    tpl.mkdir()
    # a host template named like ours must not shadow ours, nor ours theirs
    (tpl / "index.html").write_text("<h1>host index {{ who }}</h1>")
    host = Flask("host", template_folder=str(tpl))

    @host.get("/")
    def home():
        return render_template("index.html", who="page")

    @host.get("/api/runs")
    def host_api():
        return {"host": True}

    from viewer import Viewer

    viewer = Viewer(host, root=str(samples), url_prefix="/runs", background=False)
    return host, viewer


def test_mounted_viewer_serves_under_its_prefix(tmp_path, samples):
    host, viewer = make_host(tmp_path, samples)
    c = host.test_client()
    body = c.get("/runs/api/runs").get_json()
    assert len(body["runs"]) == 5
    page = c.get("/runs/").get_data(as_text=True)
    assert f'href="/runs/runs/{SPT_ID}"' in page
    assert "/runs/-/static/vendor/htmx-2.0.11.min.js" in page
    assert c.get("/runs/-/static/vendor/htmx-2.0.11.min.js").status_code == 200
    media = c.get(f"/runs/api/runs/{SPT_ID}/media").get_json()["media"]
    assert media[0]["url"].startswith("/runs/files/")
    assert c.get(media[0]["url"]).status_code == 200
    assert c.get("/runs/healthz").get_json()["ok"] is True
    viewer.stop()


def test_host_routes_and_templates_keep_working(tmp_path, samples):
    host, viewer = make_host(tmp_path, samples)
    c = host.test_client()
    assert c.get("/").get_data(as_text=True) == "<h1>host index page</h1>"
    assert c.get("/api/runs").get_json() == {"host": True}
    viewer.stop()


def test_init_app_style_and_env_root(tmp_path, samples, monkeypatch):
    from viewer import Viewer

    monkeypatch.setenv("VIEWER_ROOT", str(samples))
    app = Flask("other")
    v = Viewer(background=False)
    v.init_app(app)
    assert app.config["VIEWER_ROOT"] == str(samples)
    assert app.test_client().get("/api/runs/keras").get_json()["format"] == "keras"
    v.stop()


def test_bad_root_is_a_clear_error(tmp_path):
    import pytest

    from viewer import Viewer

    with pytest.raises(ValueError, match="not a directory"):
        Viewer(Flask("x"), root=os.path.join(tmp_path, "missing"))
