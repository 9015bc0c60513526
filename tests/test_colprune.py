"""The column cache's pruning (VIEWER_CACHE_MB): entries of files that are gone, older
generations and strays go; past the cap the least recently used go first; nothing young,
locked, or outside the cache is touched; a run mapped from a removed entry still reads."""
from __future__ import annotations

import fcntl
import json
import os
import time

import pytest

from conftest import viewer_app
from test_colcache import big_run, cached_store, entries
from viewer.data import colprune
from viewer.data.store import RunStore

LATER = colprune.GRACE + 60  # seconds ahead: every file is past the grace period


@pytest.fixture
def tree(tmp_path):
    """(root, cache, columns folder) with three runs' entries written."""
    root, cache = tmp_path / "root", tmp_path / "cache"
    for rid in ("a", "b", "c"):
        big_run(root, rows=40_000, rid=rid)
        cached_store(root, cache).parsed(rid)
    assert len(entries(cache)) == 3
    return root, cache, cache / "columns"


def entry_dir(cache, rid):
    for dirpath, _dirs, files in os.walk(cache):
        if "manifest.json" in files:
            m = json.loads(open(os.path.join(dirpath, "manifest.json")).read())
            if m["path"].endswith(f"/{rid}/metrics.csv"):
                return dirpath
    return None


def used(cache, rid, seconds_ago):
    """The entry of ``rid`` was written and last used ``seconds_ago``."""
    t = time.time() - seconds_ago
    d = entry_dir(cache, rid)
    for name in os.listdir(d):
        os.utime(os.path.join(d, name), (t, t))


def test_the_entry_of_a_deleted_or_replaced_file_goes_and_the_others_still_restore(tree):
    root, cache, columns = tree
    os.remove(root / "b" / "metrics.csv")
    (root / "c" / "metrics.csv.new").write_bytes((root / "c" / "metrics.csv").read_bytes())
    os.replace(root / "c" / "metrics.csv.new", root / "c" / "metrics.csv")  # same bytes, another file
    figures = colprune.prune(str(columns), 0, now=time.time() + LATER)
    assert figures["removed"] == 2 and figures["entries"] == 1 and figures["freed_mb"] > 2
    assert entry_dir(cache, "a") and not entry_dir(cache, "b") and not entry_dir(cache, "c")
    again = cached_store(root, cache)
    plain = RunStore(str(root))
    plain.scan()
    assert again.metrics("a") == plain.metrics("a") and again.columns.state()["restored"] == 1
    assert again.metrics("c") == plain.metrics("c")  # parsed afresh, a new entry written
    assert entry_dir(cache, "c")


def test_an_unmounted_runs_folder_keeps_its_entries_for_a_week(tree):
    root, cache, columns = tree
    os.rename(root, str(root) + ".away")  # the runs folder itself is gone (an NFS mount down)
    assert colprune.prune(str(columns), 0, now=time.time() + LATER)["removed"] == 0
    assert colprune.prune(str(columns), 0, now=time.time() + colprune.FORGET_AFTER + 60)["removed"] == 3


def test_past_the_cap_the_least_recently_used_go_first_and_a_restore_counts_as_use(tree):
    root, cache, columns = tree
    used(cache, "a", 3 * 3600)
    used(cache, "b", 2 * 3600)
    used(cache, "c", 1 * 3600)
    cached_store(root, cache).parsed("a")  # a restore: a is now the most recently used
    size = colprune.prune(str(columns), 0)["mb"] / 3
    figures = colprune.prune(str(columns), size * 1.5 * 2**20, now=time.time() + LATER)
    assert figures["removed"] == 2 and figures["mb"] <= size * 1.5
    assert entry_dir(cache, "a") and not entry_dir(cache, "b") and not entry_dir(cache, "c")


def test_an_entry_in_use_or_being_written_is_never_removed_even_over_the_cap(tree):
    root, cache, columns = tree
    used(cache, "a", 3 * 3600)
    used(cache, "b", 2 * 3600)
    # c just used (within the grace period); a's writer holds its lock
    fd = os.open(os.path.join(entry_dir(cache, "a"), "lock"), os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        figures = colprune.prune(str(columns), 1)
    finally:
        os.close(fd)
    assert figures["removed"] == 1
    assert entry_dir(cache, "a") and not entry_dir(cache, "b") and entry_dir(cache, "c")


def test_older_generations_and_strays_go_the_entry_stays(tree):
    root, cache, columns = tree
    d = entry_dir(cache, "a")
    for name in ("0123456789abcdef-0.rec", ".tmp-crashed"):
        (open(os.path.join(d, name), "wb")).write(b"\0" * 4096)
    os.symlink(str(root / "a" / "metrics.csv"), os.path.join(d, "link"))  # never followed, never removed
    colprune.prune(str(columns), 0, now=time.time() + LATER)
    assert sorted(os.listdir(d)) == sorted(["lock", "manifest.json", "link"]
                                           + [e["file"] for e in json.load(open(os.path.join(d, "manifest.json")))["series"]])
    assert (root / "a" / "metrics.csv").stat().st_size > 1 << 20
    assert cached_store(root, cache).columns.state()["restored"] == 0  # nothing restored until asked
    store = cached_store(root, cache)
    store.parsed("a")
    assert store.columns.state()["restored"] == 1


def test_a_folder_without_a_manifest_goes(tree):
    root, cache, columns = tree
    d = os.path.dirname(entry_dir(cache, "a"))
    junk = os.path.join(d, "0" * 24)
    os.makedirs(junk)
    open(os.path.join(junk, "7-0.rec"), "wb").write(b"x")
    colprune.prune(str(columns), 0, now=time.time() + LATER)
    assert not os.path.exists(junk) and len(entries(cache)) == 3


def test_a_run_mapped_from_a_removed_entry_still_reads_and_writes_a_new_one(tree):
    root, cache, columns = tree
    store = cached_store(root, cache)
    want = store.metrics("a")  # mapped from the entry
    os.utime(root / "a" / "metrics.csv")
    colprune.prune(str(columns), 1, now=time.time() + LATER)
    assert not entry_dir(cache, "a")
    assert store.metrics("a") == want
    with open(root / "a" / "metrics.csv", "a") as f:  # appended past EXTEND_BYTES: the next save writes anew
        f.writelines(f"{i},{i // 1000},{1 / (i + 1)!r},{i / 1e5}\n" for i in range(40_000, 55_000))
    store.apply([str(root / "a" / "metrics.csv")])
    assert entry_dir(cache, "a") and store.columns.state()["written"] == 1
    plain = RunStore(str(root))
    plain.scan()
    assert store.metrics("a") == plain.metrics("a") == cached_store(root, cache).metrics("a")


def test_one_pass_an_hour_host_wide_and_healthz_shows_the_last(tree, monkeypatch):
    root, cache, columns = tree
    os.remove(root / "b" / "metrics.csv")
    monkeypatch.setattr(colprune, "GRACE", 0.0)
    monkeypatch.setattr(colprune, "FIRST_AFTER", 0.0)
    monkeypatch.setenv("VIEWER_CACHE_DIR", str(cache))
    with viewer_app(root) as app:
        columns_cache = app.extensions["tailboard"].store.columns
        columns_cache.prune_when_due()  # what the watcher does every 5 s: a pass in the background
        deadline = time.monotonic() + 10
        while columns_cache.pruner.running and time.monotonic() < deadline:
            time.sleep(0.05)
        pruned = app.test_client().get("/healthz").get_json()["cache"]["columns"]["pruned"]
        assert pruned["removed"] == 1 and pruned["entries"] == 2 and pruned["cap_mb"] == 4096
        assert not entry_dir(cache, "b")
        os.remove(root / "c" / "metrics.csv")
        assert colprune.maybe_prune(str(columns), 0) is None  # within the hour: not again
        assert entry_dir(cache, "c")
