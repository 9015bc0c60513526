"""Every format reader, first against the real sample files, then against hostile variants."""
from __future__ import annotations

import json
import os
import shutil
import time

import pytest

from builders import spt_run, write
from conftest import LIGHTNING_ID, SPT_ID, scanned, series

SIDECAR = {"schema_version": 1, "run_id": "abc", "status": "running", "created_at": 1000.0,
           "updated_at": 1000.0, "tags": [], "hparams": {}, "summary": {}}


# -- helpers ----------------------------------------------------------------------------------

def one_file_run(tmp_path, name, data):
    """A root holding one run folder ``r`` with one file; returns the scanned store."""
    write(tmp_path / "root" / "r" / name, data)
    return scanned(tmp_path / "root")


def formats(store):
    return {r.id: r.format for r in store.runs()}


# -- the real samples -------------------------------------------------------------------------

def test_every_sample_is_one_run_with_the_right_format(samples):
    assert formats(scanned(samples)) == {SPT_ID: "spt", LIGHTNING_ID: "lightning", "keras": "keras",
                                         "hf": "hf", "jsonl/run1": "jsonl"}


def test_lightning_sparse_rows_give_one_point_per_logged_value(samples):
    s = series(scanned(samples), LIGHTNING_ID)
    assert set(s) == {"lr", "train/loss", "val/acc", "val/loss"}
    assert {k: v["count"] for k, v in s.items()} == {"lr": 20, "train/loss": 20, "val/acc": 5, "val/loss": 5}
    assert s["val/acc"]["x"] == [15, 31, 47, 63, 79]
    assert s["val/acc"]["y"] == [0.15625, 0.390625, 0.34375, 0.28125, 0.046875]
    assert s["train/loss"]["x"][:3] == [3, 7, 11]


def test_lightning_epoch_axis_and_nested_hparams(samples):
    store = scanned(samples)
    assert series(store, LIGHTNING_ID, x="epoch")["val/acc"]["x"] == [0, 1, 2, 3, 4]
    hp = store.get(LIGHTNING_ID).to_json()["hparams"]
    assert hp["optim.lr"] == 0.05 and hp["data.augment.0"] == "jitter" and hp["trainer.max_epochs"] == 5


def test_spt_metadata_comes_from_the_sidecar(samples):
    j = scanned(samples).get(SPT_ID).to_json()
    assert (j["format"], j["name"], j["status"]) == ("spt", "1c80a3b1799d", "completed")
    assert j["tags"] == ["mlp", "demo"] and j["notes"] == "sample run for the viewer docs"
    assert j["hparams"]["optim.lr"] == 0.05 and j["hparams"]["trainer.max_epochs"] == 3
    assert j["created_at"] == 1795271256.1056318
    assert j["summary"]["epoch"] == 2.0 and j["summary"]["val/loss"] == 0.47485044598579407
    assert j["error"] is None


def test_spt_metrics_media_and_logs(samples):
    store = scanned(samples)
    s = series(store, SPT_ID)
    assert {k: v["count"] for k, v in s.items()} == {"lr": 12, "train/loss": 12, "val/acc": 3, "val/loss": 3}
    media = store.media(SPT_ID)
    assert len(media) == 6
    assert {m["tag"] for m in media} == {"val/reconstruction", "samples"}
    assert sorted({m["step"] for m in media}) == [16, 32, 48]
    assert f"{SPT_ID}/media/val__reconstruction/00000016_0.png" in {m["path"] for m in media}
    assert {(st["name"], st["kind"]) for st in store.streams(SPT_ID)} == {("train.err", "err"), ("train.out", "out")}


def test_media_index_keeps_odd_captions_and_waits_for_a_partial_line(tmp_path):
    item = {"step": 1, "tag": "a/b", "type": "image", "path": "media/a__b/00000001_0.png", "caption": "x\u2028y"}
    line = json.dumps(item, ensure_ascii=False) + "\n"
    d = spt_run(tmp_path / "run", SIDECAR,
                files={"media.jsonl": line + '{"step": 2, "tag": "c", "path": "../../etc/passwd"}\n' + line[:30]})
    store = scanned(tmp_path)
    assert [(m["tag"], m["caption"]) for m in store.media("run")] == [("a/b", "x\u2028y")]
    with open(d / "media.jsonl", "a", encoding="utf-8") as f:
        f.write(line[30:])
    assert [m["path"] for m in store.media("run")] == ["run/media/a__b/00000001_0.png"] * 2


def test_sidecar_hparams_win_over_hparams_yaml(tmp_path):
    spt_run(tmp_path / "run", {**SIDECAR, "hparams": {"seed": 7}}, metrics="epoch,step,loss\n0,1,0.5\n",
            files={"hparams.yaml": "seed: 1\nother: 2\n"})
    hp = scanned(tmp_path).get("run").to_json()["hparams"]
    assert hp["seed"] == 7 and hp["other"] == 2


def test_keras_uses_epoch_as_x(samples):
    s = series(scanned(samples), "keras")
    assert set(s) == {"accuracy", "auc", "loss", "val_accuracy", "val_auc", "val_loss"}
    assert all(v["x"] == [0, 1, 2] for v in s.values())
    assert s["val_accuracy"]["y"] == [0.59375, 0.53125, 0.484375]


def test_hf_reads_the_most_complete_state_and_keeps_the_summary_out_of_series(samples):
    store = scanned(samples)
    s = series(store, "hf")
    assert s["loss"]["x"] == [2, 4, 6, 8, 10, 12]
    assert s["eval_loss"]["x"] == [4, 8, 12]
    assert not {"train_runtime", "train_loss", "total_flos"} & set(s)
    j = store.get("hf").to_json()
    assert j["status"] == "completed" and j["summary"]["train_loss"] == 0.6942693690458933
    assert j["hparams"]["global_step"] == 12 and j["hparams"]["max_steps"] == 12


@pytest.mark.parametrize("top", ["missing", "stale"])
def test_hf_falls_back_to_the_newest_checkpoint(samples, top):
    hf = samples / "hf"
    if top == "missing":
        os.remove(hf / "trainer_state.json")
    else:
        shutil.copy(hf / "checkpoint-4" / "trainer_state.json", hf / "trainer_state.json")
    s = series(scanned(samples), "hf")
    assert s["loss"]["x"] == [2, 4, 6, 8, 10, 12] and s["eval_loss"]["count"] == 3


def test_jsonl_nested_dicts_flatten_and_axes_work(samples):
    store = scanned(samples)
    s = series(store, "jsonl/run1")
    assert {k: v["count"] for k, v in s.items()} == {"loss": 40, "acc": 40, "val/loss": 4, "val/acc": 4}
    assert s["val/loss"]["x"] == [90, 190, 290, 390]
    assert series(store, "jsonl/run1", x="time")["loss"]["x"][0] == 1767225600
    assert series(store, "jsonl/run1", x="epoch")["val/loss"]["x"] == [0, 1, 2, 3]


# -- hostile CSV and JSONL --------------------------------------------------------------------

@pytest.mark.parametrize("name,data", [
    ("metrics.csv", "step,loss\n0,1.0\n1,nan\n2,inf\n3,-inf\n4,2.0\n"),
    ("metrics.jsonl", '{"step":0,"loss":1.0}\n{"step":1,"loss":NaN}\n{"step":2,"loss":Infinity}\n'
                      '{"step":3,"loss":-Infinity}\n{"step":4,"loss":2.0}\n'),
])
def test_non_finite_values_come_back_as_null(tmp_path, name, data):
    m = one_file_run(tmp_path, name, data).metrics("r")
    assert m["series"]["loss"]["y"] == [1.0, None, None, None, 2.0]
    assert m["series"]["loss"]["count"] == 5
    json.dumps(m, allow_nan=False)  # valid JSON for the browser


@pytest.mark.parametrize("data", ["", "step,loss\n", "step,loss"])
def test_empty_and_header_only_csv_is_a_run_without_points(tmp_path, data):
    store = one_file_run(tmp_path, "metrics.csv", data)
    assert formats(store) == {"r": "csv"}
    assert series(store, "r") == {}
    assert store.get("r").to_json()["error"] is None


def test_ragged_rows_keep_the_cells_that_have_a_column(tmp_path):
    s = series(one_file_run(tmp_path, "metrics.csv", "step,a,b\n0,1,2,99\n1,3\n2,5,6\n"), "r")
    assert (s["a"]["x"], s["a"]["y"]) == ([0, 1, 2], [1.0, 3.0, 5.0])
    assert (s["b"]["x"], s["b"]["y"]) == ([0, 2], [2.0, 6.0])


def test_non_numeric_column_is_not_a_metric(tmp_path):
    s = series(one_file_run(tmp_path, "metrics.csv", "step,name,loss\n0,foo,1\n1,bar,2\n"), "r")
    assert set(s) == {"loss"} and s["loss"]["y"] == [1.0, 2.0]


@pytest.mark.parametrize("name,head,tail", [
    ("metrics.csv", "step,loss\n0,1\n1,2", "5\n"),
    ("metrics.jsonl", '{"step":0,"loss":1}\n{"step":1,"loss":2', '5}\n'),
])
def test_partial_last_line_counts_only_once_complete(tmp_path, name, head, tail):
    store = one_file_run(tmp_path, name, head)
    assert series(store, "r")["loss"]["y"] == [1.0]
    with open(tmp_path / "root" / "r" / name, "a") as f:
        f.write(tail)
    assert series(store, "r")["loss"]["y"] == [1.0, 25.0]


@pytest.mark.parametrize("data", ["step,loss\r\n10,1\r\n20,2\r\n", "\ufeffstep,loss\n10,1\n20,2\n",
                                  "\ufeffstep,loss\r\n10,1\r\n20,2\r\n"])
def test_crlf_and_bom_do_not_leak_into_names_or_axes(tmp_path, data):
    s = series(one_file_run(tmp_path, "metrics.csv", data), "r")
    assert set(s) == {"loss"} and s["loss"]["x"] == [10, 20] and s["loss"]["y"] == [1.0, 2.0]


@pytest.mark.parametrize("sep", [";", "\t", ","])
@pytest.mark.parametrize("bom", ["", "\ufeff"])
def test_keras_separators_na_cells_and_bom(tmp_path, sep, bom):
    rows = [bom + "epoch,loss,val_loss", "0,0.5,NA", "1,0.4,0.3"]
    store = one_file_run(tmp_path, "training.log", "\r\n".join(r.replace(",", sep) for r in rows) + "\r\n")
    assert formats(store) == {"r": "keras"}
    s = series(store, "r")
    assert set(s) == {"loss", "val_loss"}
    assert (s["loss"]["x"], s["val_loss"]["x"], s["val_loss"]["y"]) == ([0, 1], [1], [0.3])
    assert store.streams("r") == []  # the Keras file is metrics, not a log


def test_jsonl_skips_lines_that_are_not_json_objects(tmp_path):
    data = '{"step":0,"loss":1}\nnot json\n[1, 2, 3]\n"text"\n\n{"step":2,"loss":3,"name":"x","ok":true}\n'
    store = one_file_run(tmp_path, "metrics.jsonl", data)
    s = series(store, "r")
    assert set(s) == {"loss"} and s["loss"]["x"] == [0, 2]
    assert store.get("r").to_json()["error"] is None


def test_jsonl_bom_and_raw_line_separator_in_strings_keep_every_line(tmp_path):
    data = '\ufeff{"step":1,"loss":1}\n{"step":2,"loss":2,"note":"a\u2028b\x85c"}\n{"step":3,"loss":3}\n'
    assert series(one_file_run(tmp_path, "metrics.jsonl", data), "r")["loss"]["x"] == [1, 2, 3]


def test_csv_and_jsonl_in_one_folder_merge(tmp_path):
    write(tmp_path / "r" / "metrics.csv", "step,acc\n0,0.5\n1,0.6\n")
    write(tmp_path / "r" / "metrics.jsonl", '{"step":0,"loss":2}\n')
    s = series(scanned(tmp_path), "r")
    assert {k: v["count"] for k, v in s.items()} == {"loss": 1, "acc": 2}


# -- broken metadata files ------------------------------------------------------------------

@pytest.mark.parametrize("sidecar,msg", [("{not json", "invalid JSON"), ("[1, 2]", "expected a JSON object")])
def test_broken_sidecar_flags_only_that_run(samples, sidecar, msg):
    spt_run(samples / "bad", sidecar, metrics="epoch,step,loss\n0,1,0.5\n")
    store = scanned(samples)
    assert store.get("bad").to_json()["error"].startswith("sidecar.json")
    assert msg in store.get("bad").to_json()["error"]
    assert series(store, "bad")["loss"]["y"] == [0.5]
    assert all(r.to_json()["error"] is None for r in store.runs() if r.id != "bad")
    assert len(store.runs()) == 6


def test_empty_hparams_yaml_is_no_hparams(tmp_path):
    write(tmp_path / "version_0" / "metrics.csv", "epoch,step,loss\n0,1,0.5\n")
    write(tmp_path / "version_0" / "hparams.yaml", "")
    j = scanned(tmp_path).get("version_0").to_json()
    assert (j["format"], j["hparams"], j["error"]) == ("lightning", {}, None)


def test_invalid_hparams_yaml_is_reported_but_metrics_still_shown(tmp_path):
    write(tmp_path / "version_0" / "metrics.csv", "epoch,step,loss\n0,1,0.5\n")
    write(tmp_path / "version_0" / "hparams.yaml", "a: [1, 2\nb: !!python/object:foo {}\n")
    store = scanned(tmp_path)
    assert "hparams.yaml" in store.get("version_0").to_json()["error"]
    assert series(store, "version_0")["loss"]["y"] == [0.5]


def test_invalid_trainer_state_stays_reported(samples):
    write(samples / "hf2" / "trainer_state.json", '{"log_history": [{"loss": 1')
    store = scanned(samples)
    for _ in range(2):  # still there on the next refresh, while the file is unchanged
        assert "trainer_state.json" in store.get("hf2").to_json()["error"]
    assert store.get("hf").to_json()["error"] is None


# -- status ---------------------------------------------------------------------------------

def set_mtime(path, t):
    os.utime(path, (t, t))


@pytest.mark.parametrize("age,expected", [(10, "running"), (301, "stale")])
def test_running_spt_run_with_an_old_heartbeat_is_stale(tmp_path, age, expected):
    t = 1_800_000_000
    d = spt_run(tmp_path / "run", {**SIDECAR, "updated_at": t}, files={"heartbeat": ""})
    set_mtime(d / "heartbeat", t)
    store = scanned(tmp_path, stale_after=300, clock=lambda: t + age)
    assert store.get("run").to_json()["status"] == expected


def test_orphaned_spt_run_is_stale(tmp_path):
    spt_run(tmp_path / "run", {**SIDECAR, "status": "orphaned"})
    assert scanned(tmp_path).get("run").to_json()["status"] == "stale"


@pytest.mark.parametrize("err,expected", [("Traceback (most recent call last):\n  x\nValueError: y\n", "failed"),
                                          ("all good\n", "unknown")])
def test_log_only_folder_is_a_run_and_a_traceback_means_failed(tmp_path, err, expected):
    now = time.time()
    for name, data in (("job.out", "epoch 1\n"), ("job.err", err)):
        set_mtime(write(tmp_path / "job" / name, data), now - 3600)
    j = scanned(tmp_path, clock=lambda: now).get("job").to_json()
    assert (j["format"], j["status"]) == ("logs", expected)


# -- discovery ------------------------------------------------------------------------------

def test_symlink_loops_and_links_out_of_the_root_are_not_followed(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    write(outside / "metrics.jsonl", '{"step":0,"loss":1}\n')
    write(outside / "secret.out", "secret\n")
    write(root / "a" / "metrics.jsonl", '{"step":0,"loss":1}\n')
    os.symlink(root / "a", root / "a" / "loop")
    os.symlink(root, root / "a" / "up")
    os.symlink(outside, root / "ext")
    os.symlink(outside / "metrics.jsonl", root / "b.jsonl")
    os.makedirs(root / "c")
    os.symlink(outside / "secret.out", root / "c" / "stolen.out")
    assert formats(scanned(root)) == {"a": "jsonl"}


def test_spt_output_dir_logs_never_lead_out_of_the_root(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    write(outside / "x.out", "secret\n")
    write(outside / ".submitit" / "sweep_0_0_log.out", "secret\n")
    write(root / "exp" / "out" / "own.log", "mine\n")
    write(root / "exp" / "out" / ".submitit" / "sweep_1_0_log.err", "rank 0\n")
    write(root / "exp" / "sweep_2" / ".submitit" / "sweep_2_0_log.err", "another task's log\n")
    os.symlink(outside / "x.out", root / "exp" / "out" / "leak.out")
    os.symlink(outside / ".submitit" / "sweep_0_0_log.out", root / "exp" / "out" / ".submitit" / "sweep_0_0_log.out")
    spt_run(root / "exp" / "run", {**SIDECAR, "hparams": {"output_dir": "../out"}})
    names = {st["name"] for st in scanned(root).streams("exp/run")}
    # the run's own task folder only: a sibling task's per-rank logs are not this run's
    assert names == {"own.log", "sweep_1 rank 0 (err)"}


@pytest.mark.parametrize("inside", [".hidden", "run/checkpoints", "version_0/checkpoints", "run/media"])
def test_hidden_and_bulky_subfolders_are_not_entered(tmp_path, inside):
    spt_run(tmp_path / "run", SIDECAR)
    write(tmp_path / "version_0" / "metrics.csv", "epoch,step,loss\n0,1,0.5\n")
    write(tmp_path / inside / "metrics.jsonl", '{"step":0,"loss":1}\n')
    write(tmp_path / inside / "train.log", "x\n")
    assert formats(scanned(tmp_path)) == {"run": "spt", "version_0": "lightning"}


# -- run-wide rules are a format's hooks, not Run's -------------------------------------------

def test_a_new_formats_hooks_decide_status_logs_and_watched_files(tmp_path, monkeypatch):
    """A format added as one module brings its run-wide rules with it: Run names no format."""
    from viewer.data import discovery
    from viewer.data.formats import jsonl
    from viewer.data.formats.base import Part, RunHooks

    class Hooks(RunHooks):
        watched = ("STATE",)

        def logs(self, run_dir, root):
            return [os.path.join(root, "shared.log")]

        def status(self, meta, now, stale_after):
            with open(os.path.join(self.run_dir, "STATE")) as f:
                return f.read().strip() or None

    def detect(dirpath, files, subdirs):
        if "STATE" not in files:
            return None
        hooks = Hooks()
        hooks.run_dir = dirpath
        return Part("toy", 200, metrics=jsonl.detect(dirpath, files, subdirs).metrics, hooks=hooks)

    toy = type("toy", (), {"detect": staticmethod(detect)})
    monkeypatch.setattr(discovery, "READERS", (toy, *discovery.READERS))
    root = tmp_path / "root"
    write(root / "r" / "metrics.jsonl", '{"step": 1, "loss": 1}\n')
    write(root / "r" / "STATE", "failed")
    write(root / "shared.log", "hello\n")
    store = scanned(root)
    run = store.get("r")
    assert run.format == "toy" and run.status() == "failed"
    assert [s["name"] for s in run.streams()] == ["shared.log"]
    os.utime(root / "r", (1, 1))  # the folder listing unchanged: only the watched file tells
    write(root / "r" / "STATE", "completed")
    os.utime(root / "r", (1, 1))
    assert run.refresh() and run.status() == "completed"
