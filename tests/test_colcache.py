"""The column cache (issue 13 item 4): parsed CSV columns kept outside the runs folder, mapped
by restarts and by every worker, extended on appends, never trusted when the file changed.

The property tests lower the size thresholds so that the small generated files use the cache.
"""
from __future__ import annotations

import json
import os
import shutil

import subprocess
import sys

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from test_parse_properties import SETTINGS, csv_file, cuts, fresh, jsonl_file, result
from conftest import REPO, viewer_app
from live_clients import start_server, stop_server
from viewer.data import colcache
from viewer.data.cachedir import CacheDir
from viewer.data.columns import Column
from viewer.data.formats.csvmetrics import CsvSource
from viewer.data.store import RunStore


@pytest.fixture
def every_file(monkeypatch):
    """Every CSV gets an entry and every append extends it (the real thresholds are 1 MiB, 256 KiB)."""
    monkeypatch.setattr(colcache, "MIN_BYTES", 1)
    monkeypatch.setattr(colcache, "EXTEND_BYTES", 1)


def cached_store(root, cache):
    store = RunStore(str(root), cache=CacheDir(str(cache), str(root)))
    store.scan()
    return store


def entries(cache):
    """The manifests under a cache folder."""
    out = []
    for dirpath, _dirs, files in os.walk(cache):
        out += [json.loads(open(os.path.join(dirpath, f)).read()) for f in files if f == "manifest.json"]
    return out


def big_run(root, rows=60_000, rid="r"):
    """A run whose metrics.csv is over the cache's 1 MiB threshold (about 1.9 MB)."""
    d = root / rid
    d.mkdir(parents=True)
    with open(d / "metrics.csv", "w") as f:
        f.write("step,epoch,loss,val/acc\n")
        f.writelines(f"{i},{i // 1000},{1 / (i + 1)!r},{'' if i % 7 else i / 1e5}\n" for i in range(rows))
    return d / "metrics.csv"


def snapshot(root):
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            out[p] = (st.st_size, st.st_mtime_ns, st.st_mode)
    return out


def empty_run(tmp_path, name):
    """(root, cache, the run's empty metrics file ``name``), both folders fresh (hypothesis
    runs the test many times in one ``tmp_path``)."""
    root, cache = tmp_path / "live", tmp_path / "cache"
    for d in (root, cache):
        shutil.rmtree(d, ignore_errors=True)
    (root / "r").mkdir(parents=True)
    path = root / "r" / name
    path.write_bytes(b"")
    return root, cache, path


# -- served from the cache: exactly a fresh parse's points ---------------------------------------

@SETTINGS
@given(data=st.data(), files=csv_file())
def test_a_run_read_through_the_cache_gives_the_points_of_a_fresh_parse(tmp_path, every_file, data, files):
    """Appends in any pieces, restarts (a new store mapping the entry), evictions, truncation,
    a wider-header rewrite, and the file changed while no viewer ran: always a fresh parse's points."""
    first, rewrite = files
    root, cache, path = empty_run(tmp_path, "metrics.csv")
    store = [cached_store(root, cache)]

    def step():
        action = data.draw(st.sampled_from(["parse", "evict", "restart", "none"]))
        if action == "parse":
            store[0].parsed("r")
        elif action == "evict":
            store[0].get("r").unload()
        elif action == "restart":
            store[0] = cached_store(root, cache)
            store[0].parsed("r")

    def write(data_, start=0):
        for end in data.draw(cuts(data_)) + [len(data_)]:
            if end > start:
                with open(path, "ab") as f:
                    f.write(data_[start:end])
                store[0].apply([str(path)])
                step()
                start = end

    write(first)
    if data.draw(st.booleans()):  # changed behind the cache: truncated, then written again, no viewer running
        store[0].parsed("r")
        keep = data.draw(st.integers(0, len(first)))
        with open(path, "r+b") as f:
            f.truncate(keep)
        with open(path, "ab") as f:  # other values (or a wider header), and more rows than before
            f.write((rewrite or first)[keep:].replace(b"1", b"7") + b"9,9,9\n")
        store[0] = cached_store(root, cache)
    if rewrite is not None:  # Lightning: a new metric rewrites the file whole with a wider header
        path.write_bytes(b"")
        store[0].apply([str(path)])
        write(rewrite)
    assert result(store[0]) == fresh(tmp_path, path)
    again = cached_store(root, cache)  # and the next start, from whatever the cache holds now
    assert result(again) == fresh(tmp_path, path)


@SETTINGS
@given(data=st.data(), body=jsonl_file(), again=jsonl_file())
def test_jsonl_read_through_the_cache_gives_the_points_of_a_fresh_parse(tmp_path, every_file, data, body, again):
    """metrics.jsonl: appends in any pieces with restarts between, then truncated and written
    again, either seen by the viewer or behind it while none runs."""
    root, cache, path = empty_run(tmp_path, "metrics.jsonl")
    store = [cached_store(root, cache)]

    def write(data_, start=0):
        for end in data.draw(cuts(data_)) + [len(data_)]:
            if end > start:
                with open(path, "ab") as f:
                    f.write(data_[start:end])
                store[0].apply([str(path)])
                if data.draw(st.booleans()):
                    store[0] = cached_store(root, cache)
                store[0].parsed("r")
                start = end

    write(body)
    keep = data.draw(st.integers(0, len(body)))
    with open(path, "r+b") as f:
        f.truncate(keep)
    behind = data.draw(st.booleans())
    if not behind:
        store[0].apply([str(path)])
    write(again)
    if behind:
        store[0] = cached_store(root, cache)
    assert result(store[0]) == fresh(tmp_path, path)
    assert result(cached_store(root, cache)) == fresh(tmp_path, path)


def test_rows_without_a_step_go_on_counting_after_a_restart(tmp_path, every_file):
    """No step column: x is the row number, which the entry carries on."""
    root, cache = tmp_path / "root", tmp_path / "cache"
    (root / "r").mkdir(parents=True)
    path = root / "r" / "metrics.csv"
    path.write_text("loss,acc\n" + "".join(f"{1 / (i + 1)},{i}\n" for i in range(50)))
    cached_store(root, cache).parsed("r")
    with open(path, "a") as f:
        f.write("".join(f"{1 / (i + 1)},{i}\n" for i in range(50, 80)))
    again = cached_store(root, cache)
    assert result(again) == fresh(tmp_path, path)
    assert again.columns.state()["restored"] == 1
    assert list(again.get("r").series()["acc"].step) == [float(i) for i in range(80)]


def test_a_restart_maps_the_columns_instead_of_parsing(tmp_path):
    root, cache = tmp_path / "root", tmp_path / "cache"
    path = big_run(root)
    first = cached_store(root, cache)
    want = first.metrics("r")
    assert first.columns.state()["written"] == 1
    assert [m["offset"] for m in entries(cache)] == [os.path.getsize(path)]

    second = cached_store(root, cache)
    assert second.metrics("r") == want
    assert second.columns.state()["restored"] == 1 and second.columns.state()["written"] == 0
    run = second.get("r", refresh=False)
    s = run.series()["loss"]
    assert isinstance(s.y, Column) and len(s.y.tail) == 0  # every point is a view of the cache's pages
    assert run.series_bytes("anon") < 10_000 and run.series_bytes("mapped") >= 60_000 * 32


def test_an_append_extends_the_entry_and_a_restart_reads_only_the_new_rows(tmp_path, monkeypatch):
    root, cache = tmp_path / "root", tmp_path / "cache"
    path = big_run(root)
    store = cached_store(root, cache)
    store.parsed("r")
    (entry,) = entries(cache)
    with open(path, "a") as f:  # about 450 KB: past EXTEND_BYTES
        f.writelines(f"{i},{i // 1000},{1 / (i + 1)!r},{i / 1e5}\n" for i in range(60_000, 75_000))
    store.apply([str(path)])
    (extended,) = entries(cache)
    assert store.columns.state()["extended"] == 1
    assert extended["gen"] == entry["gen"] and extended["offset"] == os.path.getsize(path)  # the same files, longer
    assert all(e["n"] > old["n"] for e, old in zip(extended["series"], entry["series"]))

    with open(path, "a") as f:  # a few rows more, below EXTEND_BYTES: left to the next reader
        f.write("75000,75,0.5,0.7\n")
    store.apply([str(path)])
    reads = []
    real = CsvSource._parse

    def counting(self, text):
        reads.append(len(text))
        return real(self, text)

    monkeypatch.setattr(CsvSource, "_parse", counting)
    again = cached_store(root, cache)
    assert again.metrics("r") == store.metrics("r")
    assert reads == [len("75000,75,0.5,0.7\n")]  # only what the entry did not hold was parsed


def test_a_worker_that_parsed_alongside_extends_and_shares_the_other_entry(tmp_path, monkeypatch):
    """Two stores of one cache (two workers) parse the same file at once: the second does not
    write a copy of its own; it extends the first one's entry and maps its pages."""
    root, cache = tmp_path / "root", tmp_path / "cache"
    path = big_run(root)
    a, b = cached_store(root, cache), cached_store(root, cache)
    monkeypatch.setattr(colcache, "MIN_BYTES", 1 << 40)  # b parses before any entry exists...
    b.parsed("r")
    monkeypatch.setattr(colcache, "MIN_BYTES", 1 << 20)
    a.parsed("r")  # ... and a writes one
    (first,) = entries(cache)
    with open(path, "a") as f:
        f.write("60000,60,0.5,0.7\n")
    b.apply([str(path)])
    (now,) = entries(cache)
    assert b.columns.state()["written"] == 0 and b.columns.state()["extended"] == 1
    assert now["gen"] == first["gen"] and now["offset"] == os.path.getsize(path)
    loss = b.get("r", refresh=False).series()["loss"]
    assert isinstance(loss.y, Column) and len(loss.y.tail) == 0 and len(loss) == 60_001
    plain = RunStore(str(root))
    plain.scan()
    assert b.metrics("r") == cached_store(root, cache).metrics("r") == plain.metrics("r")


def test_an_evicted_run_lets_its_pages_go(tmp_path, every_file):
    """Past the memory budget the least recently asked run is evicted: its cache files are no
    longer mapped (its points no longer count in the worker's RSS)."""
    root, cache = tmp_path / "root", tmp_path / "cache"
    for r in range(3):
        big_run(root, rows=5_000, rid=f"run{r}")
    store = RunStore(str(root), memory_mb=1.5 * 5_000 * 2 * 32 / 2**20, cache=CacheDir(str(cache), str(root)))
    store.scan()

    def mapped(rid):
        (m,) = [m for m in entries(cache) if m["path"].endswith(f"{rid}/metrics.csv")]
        return any(e["file"] in open("/proc/self/maps").read() for e in m["series"])

    store.metrics("run0", x="step", start=10, end=20)  # a zoom: the store keeps facts about its x
    assert mapped("run0")
    store.metrics("run1")
    store.metrics("run2")
    assert store.budget.evictions >= 1 and not store.get("run0", refresh=False).parsed
    assert not mapped("run0") and mapped("run2")


def resident_kb(cache):
    """Kilobytes of this process's resident set that are pages of files under ``cache``."""
    total, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()
            if len(head) >= 5 and "-" in head[0] and ":" in head[3]:  # a mapping's first line
                inside = len(head) >= 6 and head[5].startswith(str(cache))
            elif inside and head and head[0] == "Rss:":
                total += int(head[1])
    return total


def test_a_mapped_run_nobody_looks_at_leaves_the_resident_set_and_reads_the_same(tmp_path):
    """RSS follows what is looked at: a run served from the cache that nobody asked for lately
    gives its pages back to the page cache; a followed run keeps them; the next ask reads the
    same points (faulted back in) and the run was never parsed again."""
    root, cache = tmp_path / "root", tmp_path / "cache"
    big_run(root, rid="seen")
    big_run(root, rid="followed")
    cached_store(root, cache).parsed("seen")  # the entries exist: the next store maps them
    cached_store(root, cache).parsed("followed")
    followed = []
    store = RunStore(str(root), cache=CacheDir(str(cache), str(root)), kept=lambda: followed)
    store.scan()
    want = store.metrics("seen")
    followed.append(store.get("followed").path)
    store.metrics("followed")
    before = resident_kb(cache)
    assert before >= 2 * 60_000 * 32 // 1024  # at least both runs' loss records, resident after charting

    assert store.budget.release_idle(3600) == 0  # asked just now: kept
    assert store.budget.release_idle(0) == 1    # the followed run keeps its pages
    after = resident_kb(cache)
    assert after <= before / 2 + 64
    assert store.budget.release_idle(0) == 0    # once per ask
    assert store.get("seen", refresh=False).parsed and store.columns.state()["restored"] == 2

    plain = RunStore(str(root))  # no cache: a fresh parse
    plain.scan()
    assert store.metrics("seen") == want == plain.metrics("seen")
    assert resident_kb(cache) > after  # faulted back in by the ask, from the same map


@pytest.mark.parametrize("damage", ["manifest", "truncated", "magic", "count", "swapped"])
def test_a_corrupt_or_foreign_entry_is_ignored_and_rebuilt(tmp_path, damage):
    root, cache = tmp_path / "root", tmp_path / "cache"
    big_run(root)
    want = cached_store(root, cache).metrics("r")
    (m,) = entries(cache)
    (d,) = {dirpath for dirpath, _, files in os.walk(cache) if "manifest.json" in files}
    data = os.path.join(d, m["series"][0]["file"])
    if damage == "manifest":
        open(os.path.join(d, "manifest.json"), "w").write('{"version": 1, "gen": ')
    elif damage == "truncated":
        os.truncate(data, os.path.getsize(data) // 2)
    elif damage == "magic":
        with open(data, "r+b") as f:
            f.write(b"XXXXXXXX")
    elif damage == "count":
        m["series"][0]["n"] *= 2
        open(os.path.join(d, "manifest.json"), "w").write(json.dumps(m))
    else:  # another file's entry copied in: its reader and path do not match
        m["path"] = "/elsewhere/metrics.csv"
        open(os.path.join(d, "manifest.json"), "w").write(json.dumps(m))
    store = cached_store(root, cache)
    assert store.metrics("r") == want
    state = store.columns.state()
    assert state["restored"] == 0 and state["written"] == 1  # parsed afresh, then written again
    assert damage == "manifest" or state["rejected"] == 1
    after = cached_store(root, cache)
    assert after.metrics("r") == want and after.columns.state()["restored"] == 1


def test_a_file_replaced_behind_the_entry_is_parsed_afresh(tmp_path):
    root, cache = tmp_path / "root", tmp_path / "cache"
    path = big_run(root)
    cached_store(root, cache).parsed("r")
    text = path.read_text()
    at = text.index("\n1000,1,") + len("\n1000,1,")
    cell = text[at:text.index(",", at)]
    with open(path, "r+") as f:  # one value changed in place, far from the end: the same size
        f.seek(at)
        f.write("42." + "0" * (len(cell) - 3))
    store = cached_store(root, cache)
    loss = store.get("r").series()["loss"]
    assert store.columns.state()["rejected"] == 1 and loss.y[1000] == 42.0


# -- no cache, or a cache that cannot be written ----------------------------------------------------

FULL_OR_READ_ONLY = r"""
import json, sys
from app import create_app
app = create_app({"VIEWER_ROOT": sys.argv[1], "VIEWER_CACHE_DIR": sys.argv[2], "VIEWER_BACKGROUND": False})
c = app.test_client()
count = c.get("/api/runs/r/metrics").json["series"]["loss"]["count"]
c.get("/api/runs/r/metrics?points=10")
print(json.dumps({"count": count, "health": c.get("/healthz").json["cache"]}))
"""


def tmpfs_in_userns_works():
    """True when an unprivileged user namespace may mount its own tmpfs (the kernel allows it)."""
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs tmpfs /mnt"], capture_output=True).returncode == 0


@pytest.mark.skipif(not tmpfs_in_userns_works(), reason="needs a user namespace to mount a full or read-only tmpfs")
@pytest.mark.parametrize("mount", ["size=256k", "ro"])
def test_a_full_or_read_only_cache_still_serves_and_healthz_says_why(tmp_path, mount):
    """A real tmpfs in a user namespace: 256 KiB (the first records hit ENOSPC) or read-only."""
    root, cache = tmp_path / "root", tmp_path / "cache"
    big_run(root)
    cache.mkdir()
    before = snapshot(root)
    cmd = f'mount -t tmpfs -o {mount} tmpfs "$2" && exec "$0" -c "$3" "$1" "$2"'
    out = subprocess.run(["unshare", "-rm", "sh", "-c", cmd, sys.executable, str(root), str(cache), FULL_OR_READ_ONLY],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["count"] == 60_000
    if mount == "ro":
        assert got["health"]["dir"] is None and "not writable" in got["health"]["note"]
    else:
        assert "No space left" in got["health"]["note"] and "No space left" in got["health"]["columns"]["stopped"]
        assert got["health"]["columns"]["written"] == 0
    assert snapshot(root) == before


# -- the app: restart, read-only root, two workers ---------------------------------------------------

def test_a_restarted_app_answers_from_the_cache_and_writes_nothing_under_the_root(tmp_path, monkeypatch):
    root, cache = tmp_path / "root", tmp_path / "cache"
    big_run(root)
    monkeypatch.setenv("VIEWER_CACHE_DIR", str(cache))
    before = snapshot(root)
    with viewer_app(root) as app:
        want = app.test_client().get("/api/runs/r/metrics?points=500").json
    with viewer_app(root) as app:
        c = app.test_client()
        assert c.get("/api/runs/r/metrics?points=500").json == want
        health = c.get("/healthz").json
    assert health["cache"]["columns"]["restored"] == 1 and health["cache"]["columns"]["written"] == 0
    assert health["memory"]["mapped_mb"] > 1 and health["memory"]["used_mb"] - health["memory"]["mapped_mb"] < 0.1
    assert snapshot(root) == before


def _mapping_pids(paths):
    """Pids of processes that map one of ``paths`` (from /proc/<pid>/maps)."""
    pids = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            maps = open(f"/proc/{pid}/maps").read()
        except OSError:
            continue
        if any(p in maps for p in paths):
            pids.add(int(pid))
    return pids


def test_two_gunicorn_workers_map_one_entry(tmp_path):
    import time

    root, cache = tmp_path / "root", tmp_path / "cache"
    big_run(root)
    proc, url = start_server("gunicorn", root, VIEWER_CACHE_DIR=str(cache), WEB_CONCURRENCY="2")
    try:
        files, deadline = [], time.time() + 60
        while time.time() < deadline:
            with requests.Session() as s:  # a new connection: either worker may take it
                assert s.get(url + "/api/runs/r/metrics?points=100", timeout=30).json()["series"]["loss"]["count"] == 60_000
            ms = entries(cache)
            if ms:
                d = {dirpath for dirpath, _, fs in os.walk(cache) if "manifest.json" in fs}.pop()
                files = [os.path.join(d, e["file"]) for e in ms[0]["series"]]
                if len(_mapping_pids(files) - {proc.pid}) >= 2:
                    break
        assert len(entries(cache)) == 1
        workers = _mapping_pids(files)
        assert len(workers) == 2 and proc.pid not in workers  # each worker maps the same pages
        gens = {n.split("-")[0] for n in os.listdir(os.path.dirname(files[0])) if n.endswith(".rec")}
        assert len(gens) == 1  # one copy on disk
    finally:
        stop_server(proc)
