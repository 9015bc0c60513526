"""The JSON API answers as the HTTP contract says, for every format in the samples."""
from __future__ import annotations

import csv
import io
import math

import pytest

from conftest import LIGHTNING_ID, SPT_ID

RUN_KEYS = {"id", "name", "status", "format", "created_at", "updated_at", "tags", "hparams",
            "summary", "metrics"}
ALL_IDS = {SPT_ID: "spt", LIGHTNING_ID: "lightning", "keras": "keras", "hf": "hf", "jsonl/run1": "jsonl"}


def test_runs_list_has_every_sample_run_with_contract_fields(client):
    body = client.get("/api/runs").get_json()
    assert body["scan"] == {"phase": "done", "total": 5, "done": 5}
    by_id = {r["id"]: r for r in body["runs"]}
    assert {i: by_id[i]["format"] for i in ALL_IDS} == ALL_IDS
    for run in body["runs"]:
        assert RUN_KEYS <= set(run)
        assert run["status"] in {"running", "completed", "failed", "stale", "unknown"}
        assert run["metrics"], run["id"]


@pytest.mark.parametrize("run_id", sorted(ALL_IDS))
def test_one_run_matches_its_entry_in_the_list(client, run_id):
    one = client.get(f"/api/runs/{run_id}").get_json()
    assert one["id"] == run_id and one["format"] == ALL_IDS[run_id]
    assert RUN_KEYS <= set(one)
    assert "logs" in one and "reports" in one


def test_unknown_run_and_stream_are_404_json(client):
    for url in ("/api/runs/nope", "/api/runs/nope/metrics", f"/api/runs/{SPT_ID}/logs/nope.out",
                "/api/runs/nope/logs/train.out", f"/api/runs/{SPT_ID}/nothing"):
        r = client.get(url)
        assert r.status_code == 404, url
        assert r.is_json and "error" in r.get_json(), url


@pytest.mark.parametrize("run_id", sorted(ALL_IDS))
def test_metrics_shape_for_every_format(client, run_id):
    body = client.get(f"/api/runs/{run_id}/metrics").get_json()
    assert body["run"] == run_id and body["x"] == "step"
    assert body["series"]
    for name, s in body["series"].items():
        assert len(s["x"]) == len(s["y"]) == len(s["ymin"]) == len(s["ymax"]) == s["count"], name
        assert s["x"] == sorted(s["x"]), name


def test_metrics_query_names_points_axis_and_range(client):
    url = f"/api/runs/{LIGHTNING_ID}/metrics"
    only = client.get(url + "?names=train/loss,val/acc").get_json()["series"]
    assert set(only) == {"train/loss", "val/acc"}
    small = client.get(url + "?names=train/loss&points=4").get_json()["series"]["train/loss"]
    assert len(small["x"]) == 4 and small["count"] == 20
    # the bucket extremes keep the biggest value of the whole series
    full = client.get(url + "?names=train/loss").get_json()["series"]["train/loss"]
    assert max(small["ymax"]) == max(full["y"])
    assert min(small["ymin"]) == min(full["y"])
    by_epoch = client.get(url + "?names=val/acc&x=epoch").get_json()
    assert by_epoch["x"] == "epoch" and by_epoch["series"]["val/acc"]["x"] == [0, 1, 2, 3, 4]
    ranged = client.get(url + "?names=train/loss&start=20&end=40").get_json()["series"]["train/loss"]
    assert ranged["x"] == [23, 27, 31, 35, 39]


def test_metrics_time_axis_uses_logged_wall_time(client):
    body = client.get("/api/runs/jsonl/run1/metrics?names=loss&x=time").get_json()
    xs = body["series"]["loss"]["x"]
    assert xs[0] == 1767225600.0 and len(xs) == 40


@pytest.mark.parametrize("query", ["x=wall", "points=0", "points=abc", "start=abc", "end=nan"])
def test_bad_metrics_queries_are_400_with_a_message(client, query):
    r = client.get(f"/api/runs/{LIGHTNING_ID}/metrics?{query}")
    assert r.status_code == 400 and r.get_json()["error"]


def test_non_finite_values_are_null(client, samples):
    path = samples / "jsonl" / "run1" / "metrics.jsonl"
    with open(path, "a") as f:
        f.write('{"step": 400, "loss": NaN, "acc": Infinity}\n')
    series = client.get("/api/runs/jsonl/run1/metrics").get_json()["series"]
    assert series["loss"]["y"][-1] is None and series["acc"]["y"][-1] is None
    assert series["loss"]["count"] == 41


def test_metrics_csv_has_every_point_at_full_resolution(client):
    r = client.get(f"/api/runs/{LIGHTNING_ID}/metrics.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    per = {}
    for row in rows:
        per[row["metric"]] = per.get(row["metric"], 0) + 1
    assert per == {"lr": 20, "train/loss": 20, "val/acc": 5, "val/loss": 5}
    first = next(row for row in rows if row["metric"] == "train/loss")
    assert (first["step"], first["epoch"]) == ("3", "0")
    assert math.isclose(float(first["value"]), 2.879664897918701)


def test_log_streams_and_tail_from_a_line_boundary(client):
    streams = client.get(f"/api/runs/{SPT_ID}/logs").get_json()["streams"]
    assert {(s["id"], s["kind"]) for s in streams} == {("train.out", "out"), ("train.err", "err")}
    assert all(s["size"] > 0 for s in streams)
    full = client.get(f"/api/runs/{SPT_ID}/logs/train.out")
    assert full.mimetype == "text/plain" and full.data.count(b"\n") == 3
    tail = client.get(f"/api/runs/{SPT_ID}/logs/train.out?bytes=120").data
    assert 0 < len(tail) <= 120
    assert full.data.endswith(tail) and tail.startswith(b"Epoch")


def test_media_listing_with_urls_that_serve_the_images(client):
    media = client.get(f"/api/runs/{SPT_ID}/media").get_json()["media"]
    assert len(media) == 6
    assert {m["tag"] for m in media} == {"samples", "val/reconstruction"}
    assert {"tag", "step", "type", "url", "caption"} <= set(media[0])
    r = client.get(media[0]["url"])
    assert r.status_code == 200 and r.mimetype == "image/png" and r.data[:4] == b"\x89PNG"


def test_healthz(client):
    body = client.get("/healthz").get_json()
    assert body["ok"] is True and body["runs"] == 5 and body["watcher"] in ("inotify", "polling")


def test_a_run_id_containing_logs_is_not_mistaken_for_a_stream(tmp_path):
    from app import create_app

    run = tmp_path / "exp" / "logs" / "r1"
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text('{"step": 1, "loss": 0.5}\n')
    (run / "train.out").write_text("hello\n")
    app = create_app({"VIEWER_ROOT": str(tmp_path), "VIEWER_BACKGROUND": False})
    c = app.test_client()
    assert c.get("/api/runs/exp/logs/r1").get_json()["id"] == "exp/logs/r1"
    assert c.get("/api/runs/exp/logs/r1/logs/train.out").data == b"hello\n"


@pytest.mark.parametrize("path", ["../../etc/passwd", "%2e%2e/%2e%2e/etc/passwd", "/etc/passwd",
                                  "..%5c..%5cetc%5cpasswd", "spt/../../x"])
def test_files_outside_the_root_are_refused(client, path):
    r = client.get("/files/" + path, follow_redirects=True)
    assert r.status_code in (403, 404)
    assert b"root:" not in r.data


def test_html_reports_are_sandboxed(client, samples):
    (samples / "jsonl" / "run1" / "report.html").write_text("<html><body><h1>r</h1></body></html>")
    r = client.get("/files/jsonl/run1/report.html")
    assert r.status_code == 200 and "sandbox" in r.headers["Content-Security-Policy"]
    reports = client.get("/api/runs/jsonl/run1").get_json()["reports"]
    assert reports == [{"path": "jsonl/run1/report.html", "url": "/files/jsonl/run1/report.html"}]
