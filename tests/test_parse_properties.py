"""Incremental parsing equals parsing from scratch, whatever the writes look like.

Hypothesis generates CSV (Lightning-like headers, new columns appearing mid-file as
Lightning's rewrite, quoted fields, empty cells, nan/inf) and JSONL (objects, junk lines,
partial lines), writes the bytes in arbitrary pieces (a piece may end inside a line or inside
a multi-byte UTF-8 character) and refreshes a ``RunStore`` after every piece, as the watcher
does. The result (series names, every point, summary, error) must equal a fresh store's scan
of the same final bytes. Also with a truncation or a whole rewrite somewhere in the middle.
"""
from __future__ import annotations

import json
import math
import os
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from viewer.data.formats.base import CHUNK
from viewer.data.formats.csvmetrics import CsvSource
from viewer.data.store import RunStore

pytestmark = pytest.mark.slow  # hypothesis: dozens of generated files per test, about 15 s in all

SETTINGS = settings(max_examples=60, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

NAMES = st.sampled_from(["loss", "val/acc", "train/loss_step", "lr", "é名", "a,b", 'q"t', "x y"])
CELLS = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers(-5, 10**6).map(str),
                  st.sampled_from(["", "NA", "nan", "inf", "-inf", "abc", "1e999", "ü"]))


def csv_cell(v):
    return '"' + v.replace('"', '""') + '"' if any(c in v for c in ',"') or (v and v[0] == " ") else v


@st.composite
def csv_file(draw):
    """(bytes of the first header's file, bytes of a rewrite with a wider header): Lightning."""
    cols = draw(st.lists(NAMES, min_size=1, max_size=4, unique=True))
    extra = draw(st.lists(NAMES.filter(lambda n: n not in cols), max_size=2, unique=True))

    def body(names, n):
        lines = [",".join(csv_cell(c) for c in ["epoch", "step"] + names)]
        for i in range(n):
            cells = [str(i // 3), str(i)] + [draw(CELLS) for _ in names]
            if draw(st.integers(0, 9)) == 0:
                cells = cells[: draw(st.integers(1, len(cells)))]  # a short (sparse) row
            line = ",".join(csv_cell(c) for c in cells)
            if draw(st.integers(0, 14)) == 0:
                line += draw(st.sampled_from([',"unclosed', ",9,9,9", "\r", "\x00"]))  # junk a crash leaves
            lines.append(line)
        return ("\n".join(lines) + "\n").encode()

    first = body(cols, draw(st.integers(0, 12)))
    return first, body(cols + extra, draw(st.integers(0, 12))) if extra else None


JSON_VALUES = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-10**6, 10**6),
                        st.sampled_from([None, True, "text", [1, 2]]))


@st.composite
def jsonl_file(draw):
    lines = []
    for i in range(draw(st.integers(0, 15))):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            lines.append(draw(st.sampled_from(["not json", "[1, 2]", "42", "{broken", "", "\u00e9\u2028x"])))
        else:
            obj = {"step": i} if kind != 1 else {}
            for name in draw(st.lists(NAMES, max_size=3, unique=True)):
                obj[name] = draw(JSON_VALUES)
            if kind == 2:
                obj["nested"] = {"inner": draw(JSON_VALUES)}
            if kind == 3:
                obj["loss"] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
            lines.append(json.dumps(obj, ensure_ascii=draw(st.booleans())))
    data = "\n".join(lines)
    if draw(st.booleans()):
        data += "\n"  # else the last line stays partial
    return data.encode()


def cuts(data):
    """Strictly increasing cut points splitting ``data`` into pieces (any byte offset)."""
    return st.lists(st.integers(1, max(1, len(data) - 1)), max_size=8, unique=True).map(sorted)


def result(store, rid="r"):
    """Everything a user sees of the run's metrics: names, every point, summary, error."""
    if not store.has(rid):
        return None
    run = store.get(rid)
    series = {name: [(s.step[i], s.epoch[i], s.time[i], s.y[i]) for i in range(len(s))]
              for name, s in run.series().items()}
    j = run.to_json()
    return {"series": _comparable(series), "summary": _comparable(j["summary"]), "error": j["error"],
            "metrics": j["metrics"]}


def _comparable(obj):
    """NaN != NaN: compare their text instead."""
    return json.loads(json.dumps(obj, default=str).replace("NaN", '"nan"'))


def write_incrementally(store, path, data, points, start=0):
    """Append ``data[start:]`` to ``path`` cut at ``points``, refreshing the store after each piece."""
    for end in list(points) + [len(data)]:
        if end <= start:
            continue
        with open(path, "ab") as f:
            f.write(data[start:end])
        store.apply([str(path)])
        start = end


def fresh(tmp, path):
    """A new store over a copy of the final bytes (the same folder layout)."""
    copy = tmp / "fresh"
    if copy.exists():
        shutil.rmtree(copy)
    (copy / "r").mkdir(parents=True)
    shutil.copyfile(path, copy / "r" / os.path.basename(path))
    store = RunStore(str(copy))
    store.scan()
    return result(store)


def incremental_store(tmp, name):
    root = tmp / "live"
    if root.exists():
        shutil.rmtree(root)
    (root / "r").mkdir(parents=True)
    path = root / "r" / name
    path.write_bytes(b"")
    store = RunStore(str(root))
    store.scan()
    return store, path


@SETTINGS
@given(data=st.data(), files=csv_file())
def test_csv_appended_in_any_pieces_reads_as_from_scratch(tmp_path, data, files):
    first, rewrite = files
    store, path = incremental_store(tmp_path, "metrics.csv")
    write_incrementally(store, path, first, data.draw(cuts(first)))
    if rewrite is not None:  # Lightning: a new metric rewrites the file whole with a wider header
        points = data.draw(cuts(rewrite))
        path.write_bytes(rewrite[: points[0] if points else len(rewrite)])  # no refresh sees it empty
        store.apply([str(path)])
        write_incrementally(store, path, rewrite, points[1:], start=points[0] if points else len(rewrite))
    assert result(store) == fresh(tmp_path, path)


@SETTINGS
@given(data=st.data(), body=jsonl_file())
def test_jsonl_appended_in_any_pieces_reads_as_from_scratch(tmp_path, data, body):
    store, path = incremental_store(tmp_path, "metrics.jsonl")
    write_incrementally(store, path, body, data.draw(cuts(body)))
    assert result(store) == fresh(tmp_path, path)


@SETTINGS
@given(data=st.data(), body=jsonl_file(), again=jsonl_file())
def test_truncated_mid_way_then_written_again_reads_as_from_scratch(tmp_path, data, body, again):
    store, path = incremental_store(tmp_path, "metrics.jsonl")
    write_incrementally(store, path, body, data.draw(cuts(body)))
    keep = data.draw(st.integers(0, len(body)))
    with open(path, "r+b") as f:  # truncation anywhere, even inside a line or a character
        f.truncate(keep)
    store.apply([str(path)])
    write_incrementally(store, path, again, data.draw(cuts(again)))
    assert result(store) == fresh(tmp_path, path)


@SETTINGS
@given(data=st.data(), files=csv_file(), keep=st.integers(0, 10**6))
def test_csv_truncated_mid_way_reads_as_from_scratch(tmp_path, data, files, keep):
    first, rewrite = files
    store, path = incremental_store(tmp_path, "metrics.csv")
    write_incrementally(store, path, first, data.draw(cuts(first)))
    with open(path, "r+b") as f:
        f.truncate(min(keep, len(first)))
    store.apply([str(path)])
    tail = rewrite or first
    write_incrementally(store, path, tail, data.draw(cuts(tail)))
    assert result(store) == fresh(tmp_path, path)


# -- the column-at-a-time CSV path reads exactly what the row loop reads ---------------------

PLAIN_NAMES = st.sampled_from(["loss", "val/acc", "lr", "é名", "x y", "step", "epoch", "time", "loss", "NA", ""])
PLAIN_CELLS = st.one_of(CELLS.filter(lambda c: "," not in c and '"' not in c),
                        st.sampled_from(["", "", "nan", " 3", "1_000", "0x10"]))


class RowLoopOnly(CsvSource):
    """The reference: every chunk through the row loop."""

    def _parse_columns(self, lines):
        return False


class Counted(CsvSource):
    """The reader as shipped, counting the chunks its column path took."""

    columnar_chunks = 0

    def _parse_columns(self, lines):
        took = super()._parse_columns(lines)
        self.columnar_chunks += took and bool(lines)
        return took


def table_of(source):
    """Series in first-seen order, every point (NaN as text: NaN != NaN)."""
    return [(name, _comparable([[s.step[i], s.epoch[i], s.time[i], s.y[i]] for i in range(len(s))]))
            for name, s in source.table.series.items()]


@st.composite
def plain_csv(draw):
    """(header, rows) with nothing quoted; mostly full-width rows (Lightning's sparse rows are
    full width with empty cells), sometimes a short or long one, which takes the row loop."""
    header = draw(st.lists(PLAIN_NAMES, min_size=1, max_size=6))
    rows = []
    for _ in range(draw(st.integers(0, 40))):
        width = len(header)
        if draw(st.integers(0, 19)) == 0:
            width = draw(st.integers(1, len(header) + 2))
        rows.append([draw(PLAIN_CELLS) for _ in range(width)])
    return header, rows


@SETTINGS
@given(data=st.data(), table=plain_csv())
def test_the_column_path_reads_what_the_row_loop_reads(data, table):
    header, rows = table
    end = data.draw(st.sampled_from(["\n", "\r\n", "\r"]))
    lines = [",".join(header)] + [",".join(r) for r in rows]
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(lines))), max_size=5))))
    chunks = [end.join(lines[a:b]) + end for a, b in zip([0] + cuts, cuts + [len(lines)]) if a < b]
    fast, slow = Counted("metrics.csv"), RowLoopOnly("metrics.csv")
    for chunk in chunks:  # as read_chunks hands them over: whole lines
        fast._parse(chunk)
        slow._parse(chunk)
    assert table_of(fast) == table_of(slow)
    assert (fast.rows, fast.bad_rows, fast.first_bad) == (slow.rows, slow.bad_rows, slow.first_bad)
    plain = all(len(r) == len(header) for r in rows) and any(",".join(r) for r in rows)
    if plain and len(set(header)) == len(header):
        assert fast.columnar_chunks  # the column path really ran


def test_a_million_plain_rows_take_the_column_path(tmp_path):
    """The cold-start case (spt, Lightning): every chunk of a big plain file is read column-wise."""
    path = tmp_path / "metrics.csv"
    with open(path, "w") as f:
        f.write("epoch,lr,step,train/loss,val/acc\n")
        for i in range(200_000):
            f.write(f"{i // 1000},0.001,{i},{1 / (i + 1)},{'' if i % 100 else 0.5}\n")
    src = Counted(str(path))
    assert src.refresh()
    loss, acc = src.table.series["train/loss"], src.table.series["val/acc"]
    assert len(loss) == 200_000 and len(acc) == 2_000 and src.rows == 200_000
    assert acc.step[:3].tolist() == [0.0, 100.0, 200.0] and loss.y[-1] == 1 / 200_000
    assert src.columnar_chunks >= os.path.getsize(path) // CHUNK  # every chunk (the last may be short)
