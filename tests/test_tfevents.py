"""TensorBoard event files: samples written by tensorboardX and tensorboard's own writer
(tests/data/make_samples.py), read as tensorboard's EventAccumulator reads them."""
from __future__ import annotations

import json
import os
import shutil
import struct
import time

import pytest

from conftest import REPO, scanned, series
from viewer.data.formats import tfevents, tfrecords
from viewer.data.formats.tfevents import EventSource, event_names, frame

DATA = os.path.join(REPO, "tests", "data", "tensorboard")


def accumulate(folder, purge=True):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(folder, size_guidance={"scalars": 0, "tensors": 0, "images": 0},
                          purge_orphaned_data=purge)
    ea.Reload()
    return ea


def source(folder):
    s = EventSource(str(folder), event_names(os.listdir(folder)))
    s.refresh()
    return s


def copy(tmp_path, name):
    dst = tmp_path / "runs" / name
    shutil.copytree(os.path.join(DATA, name), dst)
    return dst


def test_simple_values_equal_the_event_accumulators_points():
    folder = os.path.join(DATA, "scalars")
    s, ea = source(folder), accumulate(folder, purge=False)
    assert sorted(s.table.series) == sorted(ea.Tags()["scalars"])
    for tag in ea.Tags()["scalars"]:
        want = ea.Scalars(tag)
        got = s.table.series[tag]
        assert list(got.step) == [e.step for e in want]
        assert list(got.time) == [e.wall_time for e in want]
        assert list(got.y) == [e.value for e in want]
    assert s.problem is None


def test_scalar_tensors_equal_the_event_accumulators_tensors():
    from tensorboard.util import tensor_util

    folder = os.path.join(DATA, "tf2")
    s, ea = source(folder), accumulate(folder)
    assert sorted(s.table.series) == sorted(ea.Tags()["tensors"]) == ["loss", "lr"]
    for tag in ("loss", "lr"):
        want = ea.Tensors(tag)
        got = s.table.series[tag]
        assert list(got.step) == [e.step for e in want]
        assert list(got.time) == [e.wall_time for e in want]
        assert list(got.y) == [float(tensor_util.make_ndarray(e.tensor_proto)) for e in want]


def test_a_restart_is_shown_as_its_last_segment(tmp_path):
    # the accumulator purges orphans only for file_version brain.Event:1 or a SessionLog.START;
    # tensorboardX writes neither, so it keeps all 70 points; the store shows the last segment
    copy(tmp_path, "scalars")
    store = scanned(tmp_path / "runs")
    got = series(store, "scalars", points=100_000)["train/loss"]
    raw = accumulate(os.path.join(DATA, "scalars"), purge=False).Scalars("train/loss")
    assert [e.step for e in raw] == list(range(50)) + list(range(40, 60))
    want = raw[:40] + raw[50:]
    assert got["x"] == [e.step for e in want]
    assert got["y"] == pytest.approx([e.value for e in want], rel=1e-7)
    assert got["purged"] == 10


def test_run_json_has_hparams_text_and_the_tensorboard_format(tmp_path):
    copy(tmp_path, "scalars")
    store = scanned(tmp_path / "runs")
    run = store.get("scalars").to_json()
    assert run["format"] == "tensorboard" and run["error"] is None
    assert run["hparams"] == {"lr": 0.01, "optimizer": "adam", "bn": True}
    assert store.get("scalars").meta["text"] == {"notes/text_summary": "first **run** of the sample (step 0)"}
    assert set(run["metrics"]) == {"train/loss", "train/acc", "val/loss", "hparam/best"}
    assert run["created_at"] > 1.7e9
    from conftest import viewer_app

    copy(tmp_path, "tf2")
    with viewer_app(tmp_path / "runs") as app:
        page = app.test_client().get("/runs/scalars?tab=config").get_data(as_text=True)
        assert "Text summaries" in page and "first **run** of the sample (step 0)" in page
        assert "Text summaries" not in app.test_client().get("/runs/tf2?tab=config").get_data(as_text=True)


def test_lightning_version_folder_gets_its_hparams_yaml(tmp_path):
    d = tmp_path / "runs" / "tb_logs" / "my_model" / "version_0"
    shutil.copytree(os.path.join(DATA, "tf2"), d)
    (d / "hparams.yaml").write_text("lr: 0.5\nmodel:\n  depth: 18\n")
    run = scanned(tmp_path / "runs").get("tb_logs/my_model/version_0").to_json()
    assert run["format"] == "tensorboard"
    assert run["hparams"] == {"lr": 0.5, "model.depth": 18}
    assert set(run["metrics"]) == {"loss", "lr"}


def test_hf_logging_dir_belongs_to_its_output_dir(tmp_path):
    out = tmp_path / "runs" / "hf-out"
    shutil.copytree(os.path.join(DATA, "tf2"), out / "runs" / "Dec04_14-43-54_vm")
    (out / "trainer_state.json").write_text(json.dumps(
        {"global_step": 2, "max_steps": 10, "log_history": [{"loss": 1.5, "step": 1, "epoch": 0.1}]}))
    store = scanned(tmp_path / "runs")
    assert [r.id for r in store.runs()] == ["hf-out"]
    run = store.get("hf-out").to_json()
    assert run["format"] == "hf"
    assert {"loss", "lr"} <= set(run["metrics"])  # the event file's series beside trainer_state's
    assert len(store.get("hf-out").series()) == 3


def scalar_event(tag, value, step, wall=1_700_000_000.0):
    from tensorboardX.proto import event_pb2, summary_pb2

    ev = event_pb2.Event(wall_time=wall, step=step,
                         summary=summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)]))
    return ev.SerializeToString()


def write(path, data, mode="ab"):
    with open(path, mode) as f:
        f.write(data)


def test_appended_records_are_read_incrementally_and_a_torn_one_waits(tmp_path):
    d = tmp_path / "r"
    d.mkdir()
    p = d / "events.out.tfevents.1.host"
    write(p, frame(scalar_event("x", 1.0, 0)))
    s = source(d)
    assert list(s.table.series["x"].y) == [1.0]
    rec = frame(scalar_event("x", 2.0, 1))
    write(p, rec[:7])                      # not even a whole header
    assert s.refresh() is False
    write(p, rec[7:20])                    # header and part of the data
    assert s.refresh() is False and s.readers[p.name].offset == len(frame(scalar_event("x", 1.0, 0)))
    write(p, rec[20:])
    assert s.refresh() is True
    assert list(s.table.series["x"].y) == [1.0, 2.0] and list(s.table.series["x"].step) == [0.0, 1.0]
    assert s.refresh() is False


def test_wrong_crcs_are_skipped_and_shown(tmp_path):
    d = tmp_path / "r"
    d.mkdir()
    p = d / "events.out.tfevents.1.host"
    good = [frame(scalar_event("x", float(i), i)) for i in range(4)]
    bad_data = bytearray(good[1])
    bad_data[-1] ^= 0xFF                   # data CRC wrong
    bad_len = bytearray(good[2])
    bad_len[9] ^= 0xFF                     # length CRC wrong: resynchronised on the next header
    write(p, good[0] + bytes(bad_data) + bytes(bad_len) + good[3])
    s = source(d)
    assert list(s.table.series["x"].y) == [0.0, 3.0]
    assert "1 record(s) with a wrong data CRC" in s.problem and "wrong length CRC" in s.problem


def test_a_gigantic_length_prefix_is_never_allocated(tmp_path):
    d = tmp_path / "r"
    d.mkdir()
    p = d / "events.out.tfevents.1.host"
    head = struct.pack("<Q", 1 << 62)
    write(p, frame(scalar_event("x", 1.0, 0)) + head + struct.pack("<I", tfevents.masked_crc(head)) + b"z" * 100)
    s = source(d)
    assert list(s.table.series["x"].y) == [1.0]   # and no MemoryError: it waits for bytes that never come
    assert s.refresh() is False
    assert f"announces {1 << 62:,} bytes" in s.problem


def test_a_record_over_the_limit_is_skipped_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(tfrecords, "MAX_RECORD", 100)
    d = tmp_path / "r"
    d.mkdir()
    p = d / "events.out.tfevents.1.host"
    big = frame(b"\0" * 500)
    write(p, frame(scalar_event("x", 1.0, 0)) + big + frame(scalar_event("x", 2.0, 1)))
    s = source(d)
    assert list(s.table.series["x"].y) == [1.0, 2.0]
    assert "1 record(s) over" in s.problem


def test_hostile_files_show_on_the_runs_row_and_the_server_answers(tmp_path):
    from conftest import viewer_app

    root = tmp_path / "runs"
    (root / "csv").mkdir(parents=True)
    (root / "csv" / "events.out.tfevents.1.host").write_text("step,loss\n1,0.5\n2,0.4\n")
    (root / "truncated").mkdir()
    data = open(os.path.join(DATA, "tf2", os.listdir(os.path.join(DATA, "tf2"))[0]), "rb").read()
    (root / "truncated" / "events.out.tfevents.1.host").write_bytes(data[: len(data) // 2])
    (root / "crc").mkdir()
    rec = bytearray(frame(scalar_event("x", 1.0, 0)))
    rec[-2] ^= 1
    (root / "crc" / "events.out.tfevents.1.host").write_bytes(bytes(rec) + frame(scalar_event("x", 2.0, 1)))
    with viewer_app(root) as app:
        c = app.test_client()
        runs = {r["id"]: r for r in c.get("/api/runs").get_json()["runs"]}
        assert "not a TensorBoard event file" in runs["csv"]["error"]
        assert runs["truncated"]["error"] is None and 0 < len(runs["truncated"]["metrics"])
        assert "wrong data CRC" in runs["crc"]["error"]
        for rid in runs:
            for route in (f"/runs/{rid}", f"/api/runs/{rid}/metrics", f"/api/runs/{rid}/metrics.csv"):
                assert c.get(route).status_code == 200, route
        m = c.get("/api/runs/truncated/metrics?points=100000").get_json()["series"]["loss"]
        from tensorboard.util import tensor_util  # the accumulator reads the same prefix
        ea = accumulate(str(root / "truncated"))
        assert m["x"] == [e.step for e in ea.Tensors("loss")]
        assert m["y"] == pytest.approx([float(tensor_util.make_ndarray(e.tensor_proto)) for e in ea.Tensors("loss")])


def test_records_appended_while_an_sse_client_listens_arrive_as_deltas(tmp_path):
    from live_clients import SSE, start_server, stop_server

    root = tmp_path / "runs"
    d = root / "live"
    d.mkdir(parents=True)
    p = d / "events.out.tfevents.1.host"
    write(p, frame(scalar_event("loss", 1.0, 0)))
    proc, url = start_server("flask", root)
    try:
        sse = SSE(url, "/events?run=live")
        rec = frame(scalar_event("loss", 0.5, 1))
        write(p, rec[:15])                 # a torn record: nothing to send yet
        time.sleep(0.5)
        write(p, rec[15:])
        ev = sse.next("metrics", where=lambda e: "loss" in e["data"])
        data = json.loads(ev["data"])
        assert data["series"]["loss"]["step"] == [1] and data["series"]["loss"]["y"] == [0.5]
        write(p, frame(scalar_event("loss", 0.25, 2)) + frame(scalar_event("acc", 0.9, 2)))
        ev = sse.next("metrics", where=lambda e: "acc" in e["data"])
        data = json.loads(ev["data"])
        assert data["series"]["acc"]["y"] == [pytest.approx(0.9)]
        sse.close()
    finally:
        stop_server(proc)


def test_images_are_media_items_served_from_the_event_file(tmp_path):
    from conftest import viewer_app

    copy(tmp_path, "scalars")
    want = accumulate(os.path.join(DATA, "scalars")).Images("samples/red")
    with viewer_app(tmp_path / "runs") as app:
        c = app.test_client()
        media = c.get("/api/runs/scalars/media").get_json()["media"]
        assert [(m["tag"], m["step"], m["type"]) for m in media] == [("samples/red", e.step, "image") for e in want]
        r = c.get(media[0]["url"])
        assert r.status_code == 200 and r.mimetype == "image/png"
        assert r.data == want[0].encoded_image_string
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert c.get("/api/runs/scalars/media/1").status_code == 404
        assert c.get("/api/runs/scalars/media/99999999999").status_code == 404
        page = c.get("/runs/scalars?tab=media").get_data(as_text=True)
        assert media[0]["url"] in page and "/files/scalars/events.out" not in page  # the tab shows the API URL
