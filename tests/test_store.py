"""RunStore: incremental reads as files grow, get rewritten or vanish; queries; read-only access."""
from __future__ import annotations

import os
import shutil

import pytest

from builders import append, write
from conftest import LIGHTNING_ID, SPT_ID, scanned, series
from viewer.data.errors import BadRequest, NotFound

LIGHTNING_HEADER = "epoch,lr,step,train/loss,val/acc,val/loss"


# -- helpers ----------------------------------------------------------------------------------

def points(store, rid, name, **kw):
    s = series(store, rid, **kw)[name]
    return list(zip(s["x"], s["y"]))


def lightning_csv(samples):
    return os.path.join(samples, LIGHTNING_ID, "metrics.csv")


def snapshot(root):
    """(path, size, mtime_ns, mode) of every file and folder under the root."""
    out = set()
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            st = os.lstat(os.path.join(dirpath, name))
            out.add((os.path.join(dirpath, name), st.st_size, st.st_mtime_ns, st.st_mode))
    return out


# -- incremental reads ------------------------------------------------------------------------

def test_appended_rows_add_exactly_the_new_points(samples):
    store = scanned(samples)
    before = {k: list(zip(v["x"], v["y"])) for k, v in series(store, LIGHTNING_ID).items()}
    append(lightning_csv(samples), "5,0.05,83,1.5,,\r\n5,,83,,0.5,2.0\r\n")
    after = {k: list(zip(v["x"], v["y"])) for k, v in series(store, LIGHTNING_ID).items()}
    assert after["train/loss"] == before["train/loss"] + [(83, 1.5)]
    assert after["val/acc"] == before["val/acc"] + [(83, 0.5)]
    assert after["val/loss"] == before["val/loss"] + [(83, 2.0)]
    assert after["lr"] == before["lr"] + [(83, 0.05)]


@pytest.mark.parametrize("how", ["apply", "poll"])
def test_a_row_first_read_by_a_request_is_still_reported_to_the_live_path(samples, how):
    # a page asking for metrics may read the new row before the watcher's pass does:
    # the pass must still report the run (and the file), or the browser never gets the delta
    store = scanned(samples)
    path = lightning_csv(samples)
    append(path, "5,0.05,83,1.5,,\r\n")
    assert series(store, LIGHTNING_ID)["train/loss"]["count"] == 21  # the request's refresh
    changes = store.apply([path]) if how == "apply" else store.poll()
    assert changes.changed == [LIGHTNING_ID] and path in changes.files
    again = store.apply([path]) if how == "apply" else store.poll()
    assert again.changed == []  # reported once, not at every pass
    assert how == "apply" or not again.files  # (apply passes on the paths inotify named)


def test_no_change_on_disk_means_the_same_answer(samples):
    store = scanned(samples)
    assert store.metrics(SPT_ID) == store.metrics(SPT_ID)
    again = store.scan()
    assert (again.changed, again.added, again.removed) == ([], [], [])


@pytest.mark.parametrize("new_col", ["test/acc", "zz_last"])
def test_lightning_rewrite_with_a_new_column_rebuilds_the_series(samples, new_col):
    path = lightning_csv(samples)
    store = scanned(samples)
    before = series(store, LIGHTNING_ID)
    with open(path, newline="") as f:
        header, *rows = f.read().split("\r\n")[:-1]
    names = header.split(",")
    cols = sorted(names + [new_col])
    at = cols.index(new_col)

    def widen(cells, value=""):
        return ",".join(cells[:at] + [value] + cells[at:])

    text = widen(names, new_col) + "\r\n" + "".join(widen(r.split(",")) + "\r\n" for r in rows)
    text += widen(["4", "", "79", "", "", ""], "0.9") + "\r\n"
    write(path, text)
    after = series(store, LIGHTNING_ID)
    assert {k: (v["x"], v["y"]) for k, v in after.items() if k != new_col} == \
        {k: (v["x"], v["y"]) for k, v in before.items()}
    assert (after[new_col]["x"], after[new_col]["y"]) == ([79], [0.9])


def test_truncated_file_starts_over(samples):
    store = scanned(samples)
    series(store, LIGHTNING_ID)
    write(lightning_csv(samples), LIGHTNING_HEADER + "\r\n0,0.1,1,9.0,,\r\n")
    s = series(store, LIGHTNING_ID)
    assert set(s) == {"lr", "train/loss"}
    assert list(zip(s["train/loss"]["x"], s["train/loss"]["y"])) == [(1, 9.0)]


def test_truncated_and_written_past_its_old_size_between_two_looks_starts_over(samples):
    """Cut back to a line past the first 256 bytes and written on beyond the old size, all
    between two looks: the head is the same, so only the rows before the offset can tell."""
    path = lightning_csv(samples)
    store = scanned(samples)
    assert series(store, LIGHTNING_ID)["train/loss"]["count"] == 20
    body = open(path, "rb").read()
    keep = body.index(b"\n", 400) + 1
    with open(path, "r+b") as f:
        f.truncate(keep)
        f.seek(keep)
        f.write("".join(f"0,0.1,{i},{i}.25,,\r\n" for i in range(1000, 1060)).encode())
    fresh = series(scanned(samples), LIGHTNING_ID)
    assert fresh["train/loss"]["x"][-60:] == list(range(1000, 1060))
    assert series(store, LIGHTNING_ID) == fresh


def test_jsonl_truncated_and_written_past_its_old_size_starts_over(tmp_path):
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    path = run / "metrics.jsonl"
    head = '{"note": "%s"}\n' % ("x" * 300)
    write(str(path), head + "".join(f'{{"loss": {i}}}\n' for i in range(20)))
    store = scanned(str(tmp_path / "runs"))
    assert series(store, "r")["loss"]["y"] == list(range(20))
    with open(path, "r+b") as f:
        f.truncate(0)
        f.write((head + "".join(f'{{"loss": {-i}}}\n' for i in range(30))).encode())
    s = series(store, "r")  # no step: x is the line number, so only the bytes can tell
    assert s["loss"]["y"] == [-i for i in range(30)]
    assert s == series(scanned(str(tmp_path / "runs")), "r")


@pytest.mark.parametrize("look_while_gone", [True, False])
def test_deleted_then_recreated_file_is_read_afresh(samples, look_while_gone):
    path = lightning_csv(samples)
    store = scanned(samples)
    assert series(store, LIGHTNING_ID)["train/loss"]["count"] == 20
    os.remove(path)
    if look_while_gone:
        assert series(store, LIGHTNING_ID) == {}
    write(path, LIGHTNING_HEADER + "\r\n" + "".join(f"0,0.1,{i},{i}.5,,\r\n" for i in range(100)))
    s = series(store, LIGHTNING_ID)  # a bigger file than before: the changed head tells
    assert set(s) == {"lr", "train/loss"} and s["train/loss"]["y"] == [i + 0.5 for i in range(100)]


def test_jsonl_partial_line_is_read_once_completed(samples):
    path = os.path.join(samples, "jsonl", "run1", "metrics.jsonl")
    store = scanned(samples)
    assert series(store, "jsonl/run1")["loss"]["count"] == 40
    append(path, '{"step": 400, "loss": 0.1, "val": {"lo')
    assert series(store, "jsonl/run1")["loss"]["count"] == 40
    append(path, 'ss": 0.2}}\n')
    s = series(store, "jsonl/run1")
    assert s["loss"]["count"] == 41 and s["loss"]["x"][-1] == 400
    assert (s["val/loss"]["x"][-1], s["val/loss"]["y"][-1], s["val/loss"]["count"]) == (400, 0.2, 5)


def test_new_run_folders_appear_and_deleted_ones_vanish_on_scan(samples):
    store = scanned(samples)
    write(os.path.join(samples, "new", "metrics.jsonl"), '{"step": 1, "loss": 1}\n')
    shutil.rmtree(os.path.join(samples, "keras"))
    changes = store.scan()
    assert changes.added == ["new"] and changes.removed == ["keras"]
    assert {r.id for r in store.runs()} == {SPT_ID, LIGHTNING_ID, "hf", "jsonl/run1", "new"}
    with pytest.raises(NotFound):
        store.get("keras")


# -- queries ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A run with 100,000 loss points (step i, value 1 except a spike of 1000 at step 54,321)."""
    rows = "".join(f"{i},{1000.0 if i == 54_321 else 1.0}\n" for i in range(100_000))
    root = tmp_path_factory.mktemp("big")
    write(os.path.join(root, "big", "metrics.csv"), "step,loss\n" + rows)
    return scanned(root)


@pytest.mark.parametrize("n", [1, 7, 100, 2000])
def test_downsampling_caps_points_and_keeps_the_spike(big, n):
    s = series(big, "big", points=n)["loss"]
    assert 0 < len(s["x"]) <= n and len(s["y"]) == len(s["ymin"]) == len(s["ymax"]) == len(s["x"])
    assert max(s["ymax"]) == 1000.0 and min(s["ymin"]) == 1.0
    assert s["count"] == 100_000


def test_start_and_end_restrict_x_and_count_is_raw_points_in_range(big):
    s = series(big, "big", start=10, end=20)["loss"]
    assert s["x"] == list(range(10, 21)) and s["count"] == 11
    s = series(big, "big", start=50_000, end=59_999, points=10)["loss"]
    assert s["count"] == 10_000 and len(s["x"]) == 10
    assert all(50_000 <= x <= 59_999 for x in s["x"]) and max(s["ymax"]) == 1000.0


def test_names_filter_the_series(samples):
    store = scanned(samples)
    assert set(series(store, LIGHTNING_ID, names=["val/acc", "nope"])) == {"val/acc"}


def test_bad_query_is_rejected(samples):
    store = scanned(samples)
    with pytest.raises(BadRequest):
        store.metrics(LIGHTNING_ID, x="wall")
    with pytest.raises(BadRequest):
        store.metrics(LIGHTNING_ID, points=0)
    with pytest.raises(NotFound):
        store.metrics("no/such/run")


def test_log_tail_of_a_run_stream(samples):
    store = scanned(samples)
    data, start, size = store.log_tail(SPT_ID, "train.out", 1 << 20)
    assert start == 0 and size == len(data) and data.startswith(b"Epoch   0 | step    16")


# -- read-only --------------------------------------------------------------------------------

def test_store_never_writes_into_the_runs_folder(samples):
    before = snapshot(samples)
    store = scanned(samples)
    for run in store.runs():
        store.metrics(run.id)
        store.metrics_columns(run.id)
        store.media(run.id)
        store.reports(run.id)
        for st in store.streams(run.id):
            store.log_tail(run.id, st["id"], 4096)
        run.to_json()
    store.scan()
    assert snapshot(samples) == before
