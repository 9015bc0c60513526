"""A folder listing never shows, and ``/files/`` never serves, a symlink into a sibling folder
whose name merely starts with the root's (``/data/runs`` beside ``/data/runs2``).

The mutation audit found that checking a link's target with ``startswith(root)`` instead of
``startswith(root + "/")`` survived every existing test for listings: the listing would then
offer ``runs2``'s files to whoever may browse ``runs``.
"""
from __future__ import annotations

import os

import pytest

from conftest import viewer_app

CANARY = "canary: a file of the sibling folder runs2"


@pytest.fixture
def tree(tmp_path):
    """``runs`` (the root) with a run folder holding links out to ``runs2`` and one link inside."""
    root, sibling = tmp_path / "runs", tmp_path / "runs2"
    run = root / "exp"
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text('{"step": 0, "loss": 1.0}\n')
    (run / "train.log").write_text("epoch 1\n")
    (sibling / "sub").mkdir(parents=True)
    (sibling / "secret.txt").write_text(CANARY + "\n")
    (sibling / "sub" / "deeper.txt").write_text(CANARY + "\n")
    os.symlink(sibling, run / "to_runs2")                         # a folder link out
    os.symlink(sibling / "secret.txt", run / "secret_link.txt")   # a file link out
    os.symlink(sibling, root / "top_runs2")                       # at the root's own top
    os.symlink(run / "train.log", run / "log_link.txt")           # a link that stays inside
    with viewer_app(root) as app:
        yield app.test_client()


def names(client, folder):
    r = client.get(f"/files/{folder}?format=json")
    assert r.status_code == 200, r.status_code
    return {e["name"] for e in r.get_json()["entries"]}


def test_a_listing_leaves_out_links_into_a_prefix_sibling(tree):
    assert names(tree, "exp/") == {"metrics.jsonl", "train.log", "log_link.txt"}
    assert names(tree, "") == {"exp"}


def test_the_listing_page_shows_no_link_into_a_prefix_sibling(tree):
    for folder in ("exp/", ""):
        html = tree.get(f"/files/{folder}").get_data(as_text=True)
        assert "train.log" in html or "exp" in html
        for leaked in ("to_runs2", "secret_link.txt", "top_runs2"):
            assert leaked not in html, f"/files/{folder} lists {leaked}"


@pytest.mark.parametrize("path", ["exp/secret_link.txt", "exp/to_runs2/secret.txt", "exp/to_runs2/sub/deeper.txt",
                                  "top_runs2/secret.txt", "exp/to_runs2/", "top_runs2/"])
def test_nothing_of_the_prefix_sibling_is_served(tree, path):
    r = tree.get(f"/files/{path}")
    assert r.status_code == 404 and CANARY.encode() not in r.data
    assert b"deeper.txt" not in r.data and b"secret.txt" not in r.data


def test_a_link_that_stays_inside_the_root_is_listed_and_served(tree):
    r = tree.get("/files/exp/log_link.txt")
    assert r.status_code == 200 and r.data == b"epoch 1\n"
