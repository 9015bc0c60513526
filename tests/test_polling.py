"""Issue 13 item 7: polling whose cost follows the changes (NFS, Lustre).

A real tree written "days ago", a RunStore and the Poller the watcher runs, one pass at a time
(no sleep, no thread): every kind of change is still seen, and an idle pass lists no folder."""
from __future__ import annotations

import os
import shutil
import time

import pytest

from builders import append, lightning_run, sidecar, spt_run, write
from viewer.data import discovery, polling
from viewer.data.polling import Poller
from viewer.data.store import RunStore

DAYS_AGO = time.time() - 3 * 86400
ROWS = [(0, i, 1.0 / (i + 1), None, 1000.0 + i) for i in range(10)]


def age(root, when=DAYS_AGO):
    """Every file and folder of ``root`` as if written at ``when``."""
    for folder, _dirs, files in os.walk(root, topdown=False):
        for name in files:
            os.utime(os.path.join(folder, name), (when, when))
        os.utime(folder, (when, when))


@pytest.fixture
def tree(tmp_path):
    """Forty finished Lightning runs in date folders, one running spt run; a store that has
    walked it once and a Poller (1 s passes) over it."""
    root = tmp_path / "runs"
    for day in range(4):
        for i in range(10):
            lightning_run(root, f"proj/2026110{day}/v{i}", ROWS)
    spt_run(root / "spt" / "live", sidecar("live", status="completed", now=DAYS_AGO),
            metrics="step,loss\n1,0.5\n")
    age(root)
    store = RunStore(str(root))
    poller = Poller(store, interval=1.0)
    store.scan()
    return root, store, poller


def passes(poller, n):
    """Changes of ``n`` passes, merged: (added, removed, changed) as sets."""
    added, removed, changed = set(), set(), set()
    for _ in range(n):
        c = poller.poll()
        added |= set(c.added)
        removed |= set(c.removed)
        changed |= set(c.changed)
    return added, removed, changed


def test_a_new_run_deep_in_an_old_tree_is_found_in_one_pass(tree):
    root, store, poller = tree
    rid = lightning_run(root, "proj/20261103/sweep/a/b/new", ROWS)
    added, _removed, _changed = passes(poller, 1)
    assert rid in added and store.has(rid)


def test_a_new_date_folder_and_run_are_found_in_one_pass(tree):
    root, store, poller = tree
    rid = lightning_run(root, "proj/20261105/v0", ROWS)
    assert rid in passes(poller, 1)[0]


def test_a_deleted_run_and_a_deleted_folder_of_runs_vanish_in_one_pass(tree):
    root, store, poller = tree
    shutil.rmtree(root / "proj" / "20261100" / "v3")
    shutil.rmtree(root / "proj" / "20261101")
    _added, removed, _changed = passes(poller, 1)
    assert removed == {"proj/20261100/v3"} | {f"proj/20261101/v{i}" for i in range(10)}
    assert not store.has("proj/20261101/v0") and store.count() == 41 - 11


def test_a_run_that_starts_again_is_seen_at_once_and_its_appends_every_pass(tree):
    root, store, poller = tree
    live = root / "spt" / "live"
    write(live / "sidecar.json", __import__("json").dumps(sidecar("live", status="running")))
    assert "spt/live" in passes(poller, polling.Poller(store).slices)[2]  # a quiet run: within 10 s
    for step in range(2, 5):
        append(live / "metrics.csv", f"{step},0.{step}\n")
        assert "spt/live" in passes(poller, 1)[2]  # now hot: every pass
    assert store.metrics("spt/live")["series"]["loss"]["count"] == 4


def test_a_finished_run_appended_or_truncated_is_seen_within_the_quiet_period(tree):
    root, store, poller = tree
    rid = "proj/20261102/v7"
    assert store.metrics(rid)["series"]["train/loss"]["count"] == 10
    append(root / rid / "metrics.csv", "0,10,0.05,,1010.0\n")
    assert rid in passes(poller, poller.slices)[2]
    assert store.metrics(rid)["series"]["train/loss"]["count"] == 11
    write(root / rid / "metrics.csv", "epoch,step,train/loss,val/acc,time\n0,0,2.0,,1.0\n")
    assert rid in passes(poller, poller.slices)[2]
    assert store.metrics(rid)["series"]["train/loss"]["count"] == 1


def test_an_idle_pass_lists_no_folder_and_stats_a_slice_of_the_quiet_runs(tree, monkeypatch):
    root, store, poller = tree
    listed, refreshed = [], []
    real_list, real_refresh = polling.list_dir, store._refresh_into
    monkeypatch.setattr(polling, "list_dir", lambda *a: listed.append(a[1]) or real_list(*a))
    monkeypatch.setattr(discovery, "list_dir", lambda *a: listed.append(a[1]) or real_list(*a))
    monkeypatch.setattr(store, "_refresh_into", lambda run, *a, **k: refreshed.append(run.id) or real_refresh(run, *a, **k))
    assert passes(poller, poller.slices) == (set(), set(), set())
    assert listed == []
    # every quiet run looked at once within the quiet period, not once a pass
    assert sorted(refreshed) == sorted(r.id for r in store.runs())
