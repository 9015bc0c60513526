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


def ranked_run(root, ranks=3):
    """An spt run whose task 7_3 has ``ranks`` ranks (an out and an err each) and its own train.out."""
    for rank in range(ranks):
        for kind in ("out", "err"):
            write(root / "outputs" / "7_3" / ".submitit" / f"7_3_{rank}_log.{kind}", f"rank-{rank}-{kind}-line\n")
    write(root / "outputs" / "own" / "train.out", "plain-train-line\n")
    spt_run(root, "runs/r", {"tags": ["sweep:7"], "run_id": "a_3", "hparams": {"output_dir": "../../outputs/own"}})


def shown(html):
    """The rank lines and plain lines the page's log tails hold."""
    import re

    return sorted(set(re.findall(r"(rank-\d+-(?:out|err)-line|plain-train-line)", html)))


def test_streams_carry_their_rank(tmp_path):
    ranked_run(tmp_path, 2)
    assert [(st["name"], st["rank"]) for st in scanned(tmp_path).streams("runs/r")] == [
        ("train.out", None), ("7_3 rank 0 (out)", 0), ("7_3 rank 0 (err)", 0),
        ("7_3 rank 1 (out)", 1), ("7_3 rank 1 (err)", 1)]


def test_the_logs_tab_renders_only_the_chosen_rank(tmp_path):
    from conftest import viewer_app

    ranked_run(tmp_path, 3)
    with viewer_app(tmp_path) as app:
        c = app.test_client()
        html = c.get("/runs/runs/r?tab=logs&rank=1&x=epoch").get_data(as_text=True)
        assert shown(html) == ["plain-train-line", "rank-1-err-line", "rank-1-out-line"]
        assert html.count('data-follow="') == 3  # no follower for a hidden rank's stream
        assert '<option value="1" selected>rank 1</option>' in html
        assert 'name="x" value="epoch"' in html  # the chart state rides along with the choice
        assert "tab=charts&amp;rank=1&amp;x=epoch" in html  # and the tab links keep the rank
        # three ranks: every tail by default; rank=all says so explicitly
        for q in ("", "&rank=all"):
            html = c.get("/runs/runs/r?tab=logs" + q).get_data(as_text=True)
            assert shown(html) == ["plain-train-line"] + [f"rank-{r}-{k}-line" for r in range(3) for k in ("err", "out")]
            assert '<option value="all" selected>' in html
        # the API says each stream's rank
        assert {s["name"]: s["rank"] for s in c.get("/api/runs/runs/r/logs").get_json()["streams"]}[
            "7_3 rank 2 (err)"] == 2


@pytest.mark.parametrize("rank", ["7", "-1", "x", "1.0", "", "٣", "9" * 5000, "0%00"])
def test_a_bad_rank_is_ignored(tmp_path, rank):
    from conftest import viewer_app

    ranked_run(tmp_path, 3)
    with viewer_app(tmp_path) as app:
        r = app.test_client().get("/runs/runs/r", query_string={"tab": "logs", "rank": rank})
        assert r.status_code == 200
        html = r.get_data(as_text=True)
        assert len(shown(html)) == 7 and '<option value="all" selected>' in html  # the default: all three ranks


def test_many_ranks_open_on_rank_0(tmp_path):
    from conftest import viewer_app

    ranked_run(tmp_path, 8)
    with viewer_app(tmp_path) as app:
        c = app.test_client()
        html = c.get("/runs/runs/r?tab=logs").get_data(as_text=True)
        assert shown(html) == ["plain-train-line", "rank-0-err-line", "rank-0-out-line"]
        assert '<option value="0" selected>rank 0</option>' in html
        assert len(shown(c.get("/runs/runs/r?tab=logs&rank=all").get_data(as_text=True))) == 17
        assert shown(c.get("/runs/runs/r?tab=logs&rank=bad").get_data(as_text=True))[1:] == [
            "rank-0-err-line", "rank-0-out-line"]


def test_one_rank_has_no_selector(tmp_path):
    from conftest import viewer_app

    ranked_run(tmp_path, 1)
    with viewer_app(tmp_path) as app:
        html = app.test_client().get("/runs/runs/r?tab=logs&rank=5").get_data(as_text=True)
        assert 'name="rank"' not in html and len(shown(html)) == 3
