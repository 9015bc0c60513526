"""stable-pretraining's submitit layout: per-rank logs of the run's task beside its output_dir,
``<output_dir>/../<sweep>_<task>/.submitit/<sweep>_<task>_<rank>_log.{out,err}``."""
from __future__ import annotations

import os

import pytest

from builders import sidecar, spt_run as spt_folder, write
from conftest import scanned


def spt_run(root, rel, sidecar_fields):
    """An spt run ``root/rel`` whose sidecar holds ``sidecar_fields`` (``run_id`` included)."""
    fields = dict(sidecar_fields)
    return spt_folder(root / rel, sidecar(fields.pop("run_id", "r"), **fields))


def sweep_tree(root):
    for job in ("7_3", "7_4", "7_30"):
        for rank in (1, 0, 10):
            write(root / "outputs" / job / ".submitit" / f"{job}_{rank}_log.out", f"{job} rank {rank} out\n")
            write(root / "outputs" / job / ".submitit" / f"{job}_{rank}_log.err", f"{job} rank {rank} err\n")
    write(root / "outputs" / "own" / ".submitit" / "9_9_0_log.out", "the output dir's own\n")


def names(root, rid="runs/r"):
    return [st["name"] for st in scanned(root).streams(rid)]


RANKS = ["7_3 rank 0 (out)", "7_3 rank 0 (err)", "7_3 rank 1 (out)", "7_3 rank 1 (err)",
         "7_3 rank 10 (out)", "7_3 rank 10 (err)"]


def test_task_from_slurm_task_id(tmp_path):
    sweep_tree(tmp_path)
    spt_run(tmp_path, "runs/r", {"tags": ["x", "sweep:7"], "run_id": "abc_4",
                                         "hparams": {"output_dir": "../../outputs/own", "slurm.task_id": 3}})
    assert names(tmp_path) == ["9_9 rank 0 (out)"] + RANKS  # the task id wins over the run id's _4


def test_task_from_nested_slurm_hparams(tmp_path):
    sweep_tree(tmp_path)
    spt_run(tmp_path, "runs/r", {"tags": ["sweep:7"],
                                         "hparams": {"output_dir": "../../outputs/own", "slurm": {"task_id": "3"}}})
    assert names(tmp_path)[1:] == RANKS


def test_task_from_the_trailing_number_of_the_run_id(tmp_path):
    sweep_tree(tmp_path)
    spt_run(tmp_path, "runs/r", {"tags": ["sweep:7"], "run_id": "1c80a3_3",
                                         "hparams": {"output_dir": "../../outputs/own"}})
    assert names(tmp_path)[1:] == RANKS
    spt_run(tmp_path, "runs/s_30", {"tags": ["sweep:7"], "run_id": None,
                                            "hparams": {"output_dir": "../../outputs/own"}})
    assert names(tmp_path, "runs/s_30")[1:] == [n.replace("7_3 ", "7_30 ") for n in RANKS]


@pytest.mark.parametrize("tags", [{"tags": []}, {"tags": ["sweep:x"]}, {"tags": "sweep:7"}])
def test_no_sweep_tag_no_sibling_logs(tmp_path, tags):
    sweep_tree(tmp_path)
    spt_run(tmp_path, "runs/r", {**tags, "run_id": "a_3",
                                         "hparams": {"output_dir": "../../outputs/own"}})
    assert names(tmp_path) == ["9_9 rank 0 (out)"]


def test_sibling_logs_stay_inside_the_root(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    write(outside / "7_3" / ".submitit" / "7_3_0_log.out", "secret\n")
    write(root / "outputs" / "own" / "x.log", "mine\n")
    os.symlink(outside / "7_3", root / "outputs" / "7_3")
    spt_run(root, "runs/r", {"tags": ["sweep:7"], "run_id": "a_3",
                                     "hparams": {"output_dir": "../../outputs/own"}})
    assert names(root) == ["x.log"]
    # and an output_dir outside the root gives nothing, whatever its siblings hold
    spt_run(root, "runs/q", {"tags": ["sweep:7"], "run_id": "a_3",
                                     "hparams": {"output_dir": str(outside / "own")}})
    assert names(root, "runs/q") == []


def test_rank_logs_are_served(tmp_path):
    from conftest import viewer_app

    sweep_tree(tmp_path)
    spt_run(tmp_path, "runs/r", {"tags": ["sweep:7"], "run_id": "a_3",
                                         "hparams": {"output_dir": "../../outputs/own"}})
    with viewer_app(tmp_path) as app:
        c = app.test_client()
        streams = c.get("/api/runs/runs/r/logs").get_json()["streams"]
        err = next(s for s in streams if s["name"] == "7_3 rank 10 (err)")
        assert err["kind"] == "err"
        assert c.get(f"/api/runs/runs/r/logs/{err['id']}").get_data(as_text=True) == "7_3 rank 10 err\n"
