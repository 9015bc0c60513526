"""Scale (issue 13): the listing reads metadata and file tails only, series are parsed on
demand, and parsed series live under a memory budget. Nothing is lost on the way:

- a run never parsed is listed with exactly the values a full parse gives (summary, metric
  names), whatever was appended, rewritten with a wider header or truncated;
- a run evicted and parsed again gives exactly the points a fresh parse gives.
"""
from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from test_parse_properties import (SETTINGS, _comparable, csv_file, cuts, fresh, incremental_store, result,
                                   write_incrementally)

from conftest import LIGHTNING_ID, SPT_ID
from viewer.data.formats import csvglance
from viewer.data.formats.csvglance import CsvGlance
from viewer.data.formats.csvmetrics import CsvSource
from viewer.data.store import RunStore


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    """Backward reads cross many block boundaries even in small files (3, 12, 48, then 50 bytes)."""
    monkeypatch.setattr(CsvGlance, "FIRST_BLOCK", 3)
    monkeypatch.setattr(CsvGlance, "BLOCK", 50)


def listing(store, rid="r"):
    """What the runs table shows of a run, read without parsing it."""
    if not store.has(rid):
        return None
    run = store.get(rid)
    j = run.to_json()
    return {"summary": _comparable(j["summary"]), "metrics": sorted(j["metrics"])}


def parsed_listing(full):
    return None if full is None else {"summary": full["summary"], "metrics": sorted(full["metrics"])}


def apply(store, path):
    store.apply([str(path)])


# -- the listing of a run nobody parsed ---------------------------------------------------------

@SETTINGS
@given(data=st.data(), files=csv_file(), keep=st.integers(0, 10**6))
def test_an_unparsed_run_lists_the_values_a_full_parse_gives(tmp_path, data, files, keep):
    first, rewrite = files
    store, path = incremental_store(tmp_path, "metrics.csv")
    write_incrementally(store, path, first, data.draw(cuts(first)))
    assert listing(store) == parsed_listing(fresh(tmp_path, path))
    if data.draw(st.booleans()):
        with open(path, "r+b") as f:  # truncated anywhere, even inside a line
            f.truncate(min(keep, len(first)))
        apply(store, path)
        assert listing(store) == parsed_listing(fresh(tmp_path, path))
    if rewrite is not None:  # Lightning rewrites the file whole with a wider header
        points = data.draw(cuts(rewrite))
        path.write_bytes(rewrite[: points[0] if points else len(rewrite)])
        apply(store, path)
        write_incrementally(store, path, rewrite, points[1:], start=points[0] if points else len(rewrite))
    assert listing(store) == parsed_listing(fresh(tmp_path, path))
    run = store.get("r")
    assert not run.parsed and not run.sources[0].table.series  # listed, never parsed


def test_listing_does_not_parse_and_reads_the_tail_only(samples, monkeypatch):
    reads = []
    real = csvglance.open_regular

    class Counting:
        def __init__(self, f):
            self.f = f

        def __getattr__(self, name):
            return getattr(self.f, name)

        def read(self, n=-1):
            data = self.f.read(n)
            reads.append(len(data))
            return data

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(CsvGlance, "BLOCK", 4096)
    path = os.path.join(samples, LIGHTNING_ID, "metrics.csv")
    with open(path, "a") as f:  # a long file: 20,000 more rows, every metric in the last ones
        for i in range(20000):
            f.write(f"9,0.01,{1000 + i},{i * 1e-4},{0.5},{0.25}\n")
    monkeypatch.setattr(csvglance, "open_regular", lambda p, within=None: Counting(real(p, within)))
    store = RunStore(samples)
    store.scan()
    run = store.get(LIGHTNING_ID, refresh=False)
    assert not run.parsed and run.sources[0].table.series == {}
    assert sum(reads) < 64 << 10 < os.path.getsize(path) // 4  # the header and a tail, not the file
    j = run.to_json()
    assert j["summary"]["train/loss"] == pytest.approx(19999e-4) and j["summary"]["val/acc"] == 0.5
    # an append costs what was appended
    reads.clear()
    with open(path, "a") as f:
        f.write("9,0.01,99999,7.5,,\n")
    store.apply([path])
    assert store.get(LIGHTNING_ID, refresh=False).to_json()["summary"]["train/loss"] == 7.5
    assert sum(reads) < 8192
    assert not run.parsed


def test_a_row_written_while_the_listing_reads_is_read_by_the_next_poll(samples):
    store = RunStore(samples)
    store.scan()
    src = store.get(LIGHTNING_ID, refresh=False).sources[0]
    read = src.glance.refresh

    def refresh_then_write():
        out = read()
        src.glance.refresh = read  # once
        with open(src.path, "a") as f:
            f.write("5,0.05,84,2.5,,\r\n")
        return out

    src.glance.refresh = refresh_then_write
    with open(src.path, "a") as f:
        f.write("5,0.05,83,1.5,,\r\n")
    store.poll()
    assert store.get(LIGHTNING_ID, refresh=False).to_json()["summary"]["train/loss"] == 1.5
    store.poll()
    assert store.get(LIGHTNING_ID, refresh=False).to_json()["summary"]["train/loss"] == 2.5


def test_series_are_parsed_when_asked_and_the_answer_is_unchanged(samples):
    lazy = RunStore(samples)
    lazy.scan()
    eager = RunStore(samples)
    eager.scan()
    for run in eager.runs():
        run.load()
    for rid in (LIGHTNING_ID, SPT_ID):
        assert not lazy.get(rid, refresh=False).parsed
        assert lazy.get(rid).to_json()["summary"] == eager.get(rid).to_json()["summary"]
        assert lazy.metrics(rid) == eager.metrics(rid)
        assert lazy.get(rid, refresh=False).parsed


# -- evicted and parsed again: nothing lost -----------------------------------------------------

@SETTINGS
@given(data=st.data(), files=csv_file(), keep=st.integers(0, 10**6))
def test_a_run_evicted_and_read_again_gives_the_points_of_a_fresh_parse(tmp_path, data, files, keep):
    first, rewrite = files
    store, path = incremental_store(tmp_path, "metrics.csv")
    run = store.get("r")

    def step():
        action = data.draw(st.sampled_from(["parse", "evict", "none"]))
        if action == "parse":
            store.parsed("r")
        elif action == "evict":
            run.unload()

    for end in data.draw(cuts(first)) + [len(first)]:
        with open(path, "ab") as f:
            f.write(first[os.path.getsize(path):end])
        apply(store, path)
        step()
    if data.draw(st.booleans()):
        with open(path, "r+b") as f:
            f.truncate(min(keep, len(first)))
        apply(store, path)
        step()
    if rewrite is not None:
        points = data.draw(cuts(rewrite))
        path.write_bytes(rewrite[: points[0] if points else len(rewrite)])
        apply(store, path)
        step()
        write_incrementally(store, path, rewrite, points[1:], start=points[0] if points else len(rewrite))
        step()
    want = fresh(tmp_path, path)
    assert listing(store) == parsed_listing(want)
    assert result(store) == want  # parses it again if evicted


# -- the memory budget --------------------------------------------------------------------------

def tree(tmp_path, runs=4, rows=500):
    for r in range(runs):
        d = tmp_path / f"run{r}"
        d.mkdir()
        lines = ["step,loss,acc"] + [f"{i},{1 / (i + 1)},{i / rows}" for i in range(rows)]
        (d / "metrics.csv").write_text("\n".join(lines) + "\n")
    return str(tmp_path)


def test_the_budget_evicts_the_least_recently_used_run(tmp_path):
    one_run = 2 * 500 * 32  # two series of 500 points, 32 bytes a point
    store = RunStore(tree(tmp_path), memory_mb=2.5 * one_run / 2**20)
    store.scan()
    for rid in ("run0", "run1"):
        store.metrics(rid)
    store.metrics("run0")  # run0 is now the most recently used
    store.metrics("run2")
    parsed = {r.id for r in store.runs() if r.parsed}
    assert parsed == {"run0", "run2"}
    assert store.budget.state()["used_mb"] <= store.budget.state()["budget_mb"]
    assert store.budget.state()["evictions"] == 1
    before = store.metrics("run1", points=10_000)
    assert before["series"]["loss"]["count"] == 500  # read again on demand, whole


def test_runs_an_open_page_follows_are_never_evicted(tmp_path):
    one_run = 2 * 500 * 32
    followed = set()
    store = RunStore(tree(tmp_path), memory_mb=1.5 * one_run / 2**20, kept=lambda: followed)
    store.scan()
    store.metrics("run0")
    followed.add(store.get("run0", refresh=False).path)
    for rid in ("run1", "run2", "run3"):
        store.metrics(rid)
    assert {r.id for r in store.runs() if r.parsed} == {"run0", "run3"}


def test_an_evicted_run_keeps_its_listing_live_from_the_kept_offset(tmp_path):
    store = RunStore(tree(tmp_path), memory_mb=0)
    store.scan()
    store.metrics("run0")
    store.metrics("run1")  # evicts run0 (a budget of 0 keeps only the run being answered)
    run = store.get("run0", refresh=False)
    assert not run.parsed and run.sources[0].table.series == {}
    offset = run.sources[0].glance.lines.offset
    assert offset == os.path.getsize(os.path.join(store.root, "run0", "metrics.csv"))
    with open(os.path.join(store.root, "run0", "metrics.csv"), "a") as f:
        f.write("500,0.125,1.5\n")
    store.poll()
    assert run.to_json()["summary"] == {"loss": 0.125, "acc": 1.5}
    assert not run.parsed


def test_healthz_reports_the_budget_and_its_use(tmp_path):
    from conftest import viewer_app

    with viewer_app(tree(tmp_path)) as app:
        client = app.test_client()
        h = client.get("/healthz").get_json()
        assert h["memory"] == {"budget_mb": 512, "used_mb": 0, "mapped_mb": 0, "parsed_runs": 0, "evictions": 0}
        assert client.get("/api/runs/run0/metrics").status_code == 200
        h = client.get("/healthz").get_json()
        assert h["memory"]["parsed_runs"] == 1 and h["memory"]["used_mb"] > 0


def test_the_glance_falls_back_to_parsing_a_header_too_long_to_keep(tmp_path):
    from viewer.data.formats.base import CHUNK

    d = tmp_path / "r"
    d.mkdir()
    (d / "metrics.csv").write_text("step," + "x" * CHUNK + ",loss\n1,2,3\n2,4,5\n")
    lazy = RunStore(str(tmp_path))
    lazy.scan()
    src = lazy.get("r", refresh=False).sources[0]
    assert isinstance(src, CsvSource) and not src.glance.usable
    eager = RunStore(str(tmp_path))
    eager.scan()
    eager.get("r", refresh=False).load()
    assert lazy.get("r").to_json()["summary"] == eager.get("r").to_json()["summary"]


# -- the bulk conversion (fastcsv) reads what the row loop reads --------------------------------

ODD_CELLS = st.sampled_from(["-0", "+0", "-nan", "+inf", "NaN", "Infinity", "1.e5", "1E5", ".5e-3", "5.",
                             "\u0661\u0662", "\uff13", "1e-320", "123456789012345678901234567890", "0.1",
                             "9007199254740993", "1e", "e5", ".", "+", "--1", "1.5.2", " 4 ", "NA", "None"])


@SETTINGS
@given(data=st.data())
def test_the_bulk_conversion_gives_the_points_python_float_gives(data, monkeypatch):
    from test_parse_properties import PLAIN_CELLS, PLAIN_NAMES, Counted, RowLoopOnly, table_of

    from viewer.data.formats import fastcsv

    assert fastcsv.available
    monkeypatch.setattr(fastcsv, "MIN_ROWS", 1)
    header = data.draw(st.lists(PLAIN_NAMES, min_size=1, max_size=5))
    cells = st.one_of(PLAIN_CELLS, ODD_CELLS)
    rows = [[data.draw(cells) for _ in header] for _ in range(data.draw(st.integers(1, 30)))]
    text = "\n".join([",".join(header)] + [",".join(r) for r in rows]) + "\n"
    fast, slow = Counted("metrics.csv"), RowLoopOnly("metrics.csv")
    fast._parse(text)
    slow._parse(text)
    assert table_of(fast) == table_of(slow)
    for (name, _), s in zip(table_of(fast), fast.table.series.values()):  # bit for bit, -0.0 too
        ref = slow.table.series[name]
        assert [a.tobytes() for a in (s.step, s.epoch, s.time, s.y)] == \
            [a.tobytes() for a in (ref.step, ref.epoch, ref.time, ref.y)] or _only_nan_signs(s, ref)


def _only_nan_signs(s, ref):
    """NaN payloads and signs ("-nan") may differ; every other value is identical."""
    import math

    for a, b in zip((s.step, s.epoch, s.time, s.y), (ref.step, ref.epoch, ref.time, ref.y)):
        for x, y in zip(a, b):
            if not ((math.isnan(x) and math.isnan(y)) or (x == y and math.copysign(1, x) == math.copysign(1, y))):
                return False
    return True
