"""What leaves with the selected runs: ``/api/paths`` (absolute folders, for the clipboard),
``/api/export.csv`` (every point of every run, one long CSV) and ``/api/compare/params`` (the
parallel coordinates' hparams with each metric's last and best value)."""
from __future__ import annotations

import csv
import io
import math

import pytest

from builders import csv_text, lightning_run
from conftest import viewer_app

# three Lightning runs of a sweep; "b,c" holds a comma in its id (the CSV must quote it)
RUNS = {
    "sweep/a": ({"lr": 0.001, "opt": "adam", "depth": 2},
                [(0, 0, 2.0, 0.1, 1000.0), (0, 1, 1.5, None, 1001.0), (1, 2, 1.25, 0.5, 1002.5)]),
    "sweep/b,c": ({"lr": 0.1, "opt": "sgd", "depth": 2},
                  [(0, 0, 3.0, 0.2, 2000.0), (0, 1, float("nan"), 0.9, 2001.0), (1, 2, 2.5, 0.4, 2002.0)]),
    "other/d": ({"lr": 10.0, "opt": "adam", "depth": 2},
                [(0, 5, 0.75, 0.3, 3000.0)]),
}


@pytest.fixture
def ex(tmp_path):
    root = tmp_path / "runs"
    for rid, (hp, rows) in RUNS.items():
        lightning_run(root, rid, rows, hparams=hp)
    with viewer_app(root) as app:
        yield app.test_client(), root


def test_paths_are_the_absolute_run_folders_in_the_order_asked(ex):
    client, root = ex
    r = client.get("/api/paths", query_string={"run": ["other/d", "sweep/b,c"]})
    assert r.status_code == 200
    assert r.get_json()["paths"] == [{"id": "other/d", "path": str(root / "other/d")},
                                     {"id": "sweep/b,c", "path": str(root / "sweep/b,c")}]
    assert client.get("/api/paths?runs=sweep/a").get_json()["paths"][0]["path"] == str(root / "sweep/a")


def test_paths_and_export_refuse_no_runs_and_name_unknown_ones(ex):
    client, _ = ex
    for route in ("/api/paths", "/api/export.csv"):
        assert client.get(route).status_code == 400
        r = client.get(route, query_string={"run": ["sweep/a", "nope/x"]})
        assert r.status_code == 404 and "nope/x" in r.get_json()["error"]


def test_export_csv_holds_every_point_of_every_run(ex):
    client, _ = ex
    r = client.get("/api/export.csv", query_string={"run": ["sweep/a", "sweep/b,c", "other/d"]})
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.headers["Content-Disposition"].startswith('attachment; filename="3-runs-metrics.csv"')
    lines = list(csv.reader(io.StringIO(r.get_data(as_text=True))))
    assert lines[0] == ["run", "metric", "step", "epoch", "time", "value"]
    got = {(run, metric, step): value for run, metric, step, _e, _t, value in lines[1:]}
    want = {}
    for rid, (_hp, rows) in RUNS.items():
        for epoch, step, loss, acc, _t in rows:
            want[(rid, "train/loss", str(step))] = loss
            if acc is not None:
                want[(rid, "val/acc", str(step))] = acc
    assert len(lines) - 1 == len(want)   # no point twice, none missing
    assert got.keys() == want.keys()
    for k, v in want.items():
        assert (math.isnan(v) and got[k] == "nan") or float(got[k]) == v, k
    # the axes, as in metrics.csv: whole numbers without ".0"
    assert ["sweep/a", "train/loss", "2", "1", "1002.5", "1.25"] in lines


def test_export_of_one_run_matches_its_metrics_csv(ex):
    client, _ = ex
    one = client.get("/api/export.csv?run=sweep/a").get_data(as_text=True).splitlines()
    own = client.get("/api/runs/sweep/a/metrics.csv").get_data(as_text=True).splitlines()
    assert one[1:] == ["sweep/a," + line for line in own[1:]]


def test_params_give_hparams_and_last_and_best_values(ex):
    client, _ = ex
    r = client.get("/api/compare/params", query_string={"run": ["sweep/a", "sweep/b,c", "other/d"]})
    assert r.status_code == 200
    body = r.get_json()
    assert [run["id"] for run in body["runs"]] == ["sweep/a", "sweep/b,c", "other/d"]
    axes = {a["key"]: a for a in body["axes"]}
    assert axes["hp:lr"]["values"] == [0.001, 0.1, 10.0] and axes["hp:lr"]["differs"]
    assert axes["hp:opt"]["values"] == ["adam", "sgd", "adam"]
    assert not axes["hp:depth"]["differs"]
    loss = axes["m:train/loss"]
    assert loss["better"] == "min" and loss["best"] == [1.25, 2.5, 0.75]   # the NaN is no best
    acc = axes["m:val/acc"]
    assert acc["better"] == "max" and acc["best"] == [0.5, 0.9, 0.3]
    assert acc["values"] == [0.5, 0.4, 0.3]   # last values
    # better= overrides the guess, as on the charts
    flipped = client.get("/api/compare/params?runs=sweep/a,other/d&better=val/acc:min").get_json()
    assert {a["key"]: a for a in flipped["axes"]}["m:val/acc"]["best"] == [0.1, 0.3]
    assert client.get("/api/compare/params").status_code == 400
    assert client.get("/api/compare/params?run=nope").status_code == 404
