"""MLflow file store: samples written by mlflow-skinny's MlflowClient (tests/data/make_samples.py),
read as MlflowClient.get_metric_history reads them."""
from __future__ import annotations

import json
import math
import os
import shutil
import time

import pytest

from conftest import REPO, scanned, viewer_app

DATA = os.path.join(REPO, "tests", "data", "mlruns")
EXP = "907619987802302282"
DONE, FAILED, RUNNING, DELETED = ("e8bb305af4d64190a26fa947ff3ec30e", "7f9a0b3e78974af2a05b0693be5336d5",
                                  "c209002e8996420a80566e1b049aea04", "0f2393af71914c64982e99ef56e549cf")


@pytest.fixture
def root(tmp_path):
    dst = tmp_path / "runs"
    shutil.copytree(DATA, dst / "mlruns")
    # git keeps no empty folder: give back the ones MLflow's store made (and its client expects)
    (dst / "mlruns" / ".trash").mkdir(exist_ok=True)
    for run in (DONE, FAILED, RUNNING, DELETED):
        for sub in ("artifacts", "metrics", "params", "tags"):
            (dst / "mlruns" / EXP / run / sub).mkdir(exist_ok=True)
    return dst


def rid(run):
    return f"mlruns/{EXP}/{run}"


def client(root, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri="file:" + str(root / "mlruns"))


def same(a, b):
    return all((x == y) or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True))


def test_series_equal_mlflows_metric_history(root, monkeypatch):
    c = client(root, monkeypatch)
    store = scanned(root)
    for run in (DONE, FAILED, RUNNING):
        series = store.get(rid(run)).series()
        names = sorted(m.key for m in c.get_run(run).data._metric_objs)
        assert sorted(series) == names
        for name in names:
            hist = c.get_metric_history(run, name)
            s = series[name]
            assert list(s.step) == [m.step for m in hist]
            assert list(s.time) == [m.timestamp / 1000 for m in hist]
            assert same(list(s.y), [m.value for m in hist])


def test_run_fields_and_hidden_deleted_runs(root):
    store = scanned(root)
    assert sorted(r.id for r in store.runs()) == sorted(rid(r) for r in (DONE, FAILED, RUNNING))
    done = store.get(rid(DONE)).to_json()
    assert done["format"] == "mlflow" and done["error"] is None
    assert done["name"] == "resnet-lr0.1" and done["notes"] == "baseline"
    assert done["status"] == "completed" and store.get(rid(FAILED)).to_json()["status"] == "failed"
    assert done["tags"] == ["experiment:vision-sweep", "team:vision"]
    assert done["hparams"] == {"lr": 0.1, "optim/name": "sgd", "mlflow.experiment": "vision-sweep"}
    assert done["created_at"] == 1796395822.414  # meta.yaml start_time (ms)


def test_a_running_run_with_no_write_is_stale(root):
    os.utime(root / "mlruns" / EXP / RUNNING / "metrics" / "loss")  # just written
    store = scanned(root)
    assert store.get(rid(RUNNING)).status() == "running"
    later = scanned(root, stale_after=60, clock=lambda: time.time() + 3600)
    assert later.get(rid(RUNNING)).status() == "stale"
    assert later.get(rid(DONE)).status() == "completed"


def test_runs_can_be_grouped_by_experiment(root):
    with viewer_app(root) as app:
        r = app.test_client().get("/api/runs?group=hp:mlflow.experiment").get_json()
        assert {x["hparams"]["mlflow.experiment"] for x in r["runs"]} == {"vision-sweep"}
        assert "vision-sweep" in app.test_client().get("/?group=hp:mlflow.experiment").get_data(as_text=True)


def test_artifacts_are_media_and_files(root):
    with viewer_app(root) as app:
        c = app.test_client()
        media = c.get(f"/api/runs/{rid(DONE)}/media").get_json()["media"]
        assert [(m["tag"], m["type"]) for m in media] == [("plots", "image")]
        img = c.get(media[0]["url"])
        assert img.status_code == 200 and img.data[:8] == b"\x89PNG\r\n\x1a\n"
        assert c.get(f"/files/{rid(DONE)}/artifacts/model.txt").data == b"resnet18\n"


def test_two_field_lines_read_as_mlflow_does_and_four_field_lines_are_skipped(root, monkeypatch):
    path = root / "mlruns" / EXP / FAILED / "metrics" / "loss"
    with open(path, "a") as f:
        f.write("1700000000000 7.5\n")         # an old MLflow line: no step (MLflow: step 0)
    c = client(root, monkeypatch)
    hist = c.get_metric_history(FAILED, "loss")
    store = scanned(root)
    s = store.get(rid(FAILED)).series()["loss"]
    assert list(s.step) == [m.step for m in hist] and same(list(s.y), [m.value for m in hist])
    with open(path, "a") as f:
        f.write("1700000000000 8.5 3 extra\n")  # MLflow itself refuses the file
    with pytest.raises(Exception, match="malformed|fields"):
        c.get_metric_history(FAILED, "loss")
    run = store.get(rid(FAILED))
    run.refresh(force=True)
    assert len(run.series()["loss"]) == len(hist)
    assert "1 line(s) not `timestamp value [step]`" in run.to_json()["error"]
    with viewer_app(root) as app:
        assert app.test_client().get(f"/api/runs/{rid(FAILED)}/metrics").status_code == 200


def test_a_partial_line_waits_and_new_metric_files_join(root):
    store = scanned(root)
    run = store.get(rid(RUNNING))
    path = root / "mlruns" / EXP / RUNNING / "metrics" / "loss"
    with open(path, "a") as f:
        f.write("1700000005000 0.6")
    run.refresh(force=True)
    assert list(run.series()["loss"].y) == [0.7]
    with open(path, "a") as f:
        f.write(" 1\n")
    run.refresh()
    assert list(run.series()["loss"].y) == [0.7, 0.6]
    os.makedirs(path.parent / "val")
    (path.parent / "val" / "acc").write_text("1700000005000 0.25 1\n")
    run.refresh()
    assert list(run.series()["val/acc"].y) == [0.25]
    with open(path.parent / "val" / "acc", "a") as f:
        f.write("1700000006000 0.5 2\n")
    assert run.refresh() is True  # polling sees an append to a file created after discovery
    assert list(run.series()["val/acc"].y) == [0.25, 0.5]


def test_metric_lines_appended_while_an_sse_client_listens_arrive(root):
    from live_clients import SSE, start_server, stop_server

    proc, url = start_server("flask", root)
    try:
        sse = SSE(url, f"/events?run={rid(RUNNING)}")
        path = root / "mlruns" / EXP / RUNNING / "metrics" / "loss"
        with open(path, "a") as f:
            f.write("1700000005000 0.")
            f.flush()
            time.sleep(0.4)
            f.write("5 1\n")
        ev = sse.next("metrics", where=lambda e: "loss" in e["data"])
        data = json.loads(ev["data"])
        assert data["series"]["loss"]["step"] == [1] and data["series"]["loss"]["y"] == [0.5]
        sse.close()
    finally:
        stop_server(proc)


def test_trash_and_deleted_experiments_are_not_shown(root):
    exp = root / "mlruns" / EXP
    shutil.copytree(exp / DONE, root / "mlruns" / ".trash" / DONE)   # a deleted experiment's runs
    other = root / "mlruns" / "42"
    shutil.copytree(exp / DONE, other / DONE)
    (other / "meta.yaml").write_text((exp / "meta.yaml").read_text().replace("lifecycle_stage: active",
                                                                            "lifecycle_stage: deleted"))
    store = scanned(root)
    assert sorted(r.id for r in store.runs()) == sorted(rid(r) for r in (DONE, FAILED, RUNNING))
    (other / "meta.yaml").write_text((exp / "meta.yaml").read_text())  # restored
    assert rid(DONE).replace(EXP, "42") in {r.id for r in scanned(root).runs()}
