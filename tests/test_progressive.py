"""Issue 13 item 2: the first chart of a big run comes at once from a sample of its file (marked
``coarse``), the full parse runs in the background, and the next answer is the full one.

A run is "big" above ``VIEWER_COARSE_MB``: set low here, so a file of a few thousand rows takes
the path a 1,000,000-row file takes in production.
"""
from __future__ import annotations

import csv
import math

import pytest

from builders import append, csv_text, sidecar, spt_run
from conftest import scanned, viewer_app

HEADER = ("epoch", "lr", "step", "train/loss", "val/acc", "val/loss")
ROWS = 30_000


def loss(step):
    return round(2.5 / (1 + step * 1e-3) + (step * 7919 % 1000) * 1e-5, 6)


def rows(first, last):
    out = []
    for step in range(first, last):
        out.append((step // 10_000, 1e-4, step, loss(step), None, None))
        if step % 1000 == 999:  # Lightning's layout: validation on rows of their own
            out.append((step // 10_000, None, step, None, round(0.5 + step / 1e5, 6), round(loss(step) * 1.1, 6)))
    return out


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("VIEWER_COARSE_MB", "0.1")  # ~1 MB of CSV is "big" here
    spt_run(tmp_path / "runs" / "big", sidecar("big"), metrics=csv_text(HEADER, rows(0, ROWS), "\r\n"))
    spt_run(tmp_path / "runs" / "small", sidecar("small"), metrics=csv_text(HEADER, rows(0, 50)))
    return tmp_path / "runs"


def file_points(path):
    """{metric: {(step, value)}} read from the CSV with Python's csv module: the oracle."""
    out = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for name in ("lr", "train/loss", "val/acc", "val/loss"):
                if row[name]:
                    out.setdefault(name, set()).add((float(row["step"]), float(row[name])))
    return out


def full(root, rid, **kw):
    """A fresh parse's answer, from a store of its own."""
    return scanned(str(root)).metrics(rid, **kw)


def test_the_first_answer_is_a_sample_of_the_files_rows_and_the_next_is_a_fresh_parse(root):
    with viewer_app(root) as app:
        client = app.test_client()
        first = client.get("/api/runs/big/metrics?coarse=1&points=100000").get_json()
        assert first["coarse"] is True
        truth = file_points(root / "big" / "metrics.csv")
        assert set(first["series"]) == set(truth)
        loss_ = first["series"]["train/loss"]
        assert 1000 < loss_["count"] < ROWS / 2, "a sample: more than a glance, less than the file"
        assert loss_["x"][0] == 0 and loss_["x"][-1] == ROWS - 1, "the sample reaches both ends of the run"
        for name, s in first["series"].items():
            assert set(zip(s["x"], s["y"])) <= truth[name], f"{name}: a coarse point that is no row of the file"
            assert s["x"] == sorted(s["x"]) and s["count"] == len(s["x"])
        # the chart asks again without coarse: it waits for the background parse, and gets it all
        again = client.get("/api/runs/big/metrics?points=100000").get_json()
        assert "coarse" not in again
        assert again == full(root, "big", points=100000)
        assert again["series"]["train/loss"]["count"] == ROWS
        # parsed now: coarse=1 changes nothing any more
        assert client.get("/api/runs/big/metrics?coarse=1").get_json() == full(root, "big", points=2000)


def test_small_runs_zooms_and_plain_api_calls_are_always_full_resolution(root):
    with viewer_app(root) as app:
        client = app.test_client()
        assert client.get("/api/runs/small/metrics?coarse=1").get_json() == full(root, "small")
        zoom = client.get("/api/runs/big/metrics?coarse=1&start=1000&end=1999").get_json()
        assert "coarse" not in zoom and zoom == full(root, "big", start=1000, end=1999)
        assert zoom["series"]["train/loss"]["count"] == 1000
    with viewer_app(root) as app:  # a script that does not ask for coarse gets every point
        body = app.test_client().get("/api/runs/big/metrics").get_json()
        assert "coarse" not in body and body["series"]["train/loss"]["count"] == ROWS


def test_a_page_stream_opened_first_leaves_the_parse_to_the_background(root):
    """The run page opens its event stream and fetches its charts at once, in either order:
    the stream must not parse a big run in its request, or the chart waits for the whole file."""
    with viewer_app(root) as app:
        v = app.extensions["tailboard"]
        run = v.store.get("big")
        with run.lock:  # the background parse waits while we look
            v.store.follow(["big"])
            body = app.test_client().get("/api/runs/big/metrics?coarse=1").get_json()
        assert body["coarse"] is True
        again = app.test_client().get("/api/runs/big/metrics").get_json()
        assert again["series"]["train/loss"]["count"] == ROWS


def test_after_the_background_parse_appended_rows_are_live_deltas_not_a_reload(root):
    with viewer_app(root) as app:
        v = app.extensions["tailboard"]
        client = app.test_client()
        assert client.get("/api/runs/big/metrics?coarse=1").get_json()["coarse"] is True
        client.get("/api/runs/big/metrics")  # waits for the parse
        append(root / "big" / "metrics.csv", csv_text(HEADER, rows(ROWS, ROWS + 3), "\r\n").split("\r\n", 1)[1])
        v.store.get("big").refresh(force=True)
        delta = v.store.get("big").take_delta()
        assert delta["reset"] is False
        assert delta["series"]["train/loss"]["from"] == ROWS
        assert delta["series"]["train/loss"]["step"] == [ROWS, ROWS + 1, ROWS + 2]


def test_a_log_x_axis_gets_buckets_even_in_log_step_and_no_step_zero(root):
    with viewer_app(root) as app:
        client = app.test_client()
        body = client.get("/api/runs/big/metrics?xscale=log&points=50&names=train/loss").get_json()
        s = body["series"]["train/loss"]
        assert s["x"][:4] == [1, 2, 3, 4], "the first steps keep their own points on a log axis"
        assert s["y"][0] == loss(1) and len(s["x"]) <= 50 and s["count"] == ROWS
        ratios = [b / a for a, b in zip(s["x"][10:], s["x"][11:])]
        assert max(ratios) < 1.5, "buckets even in log step: each a similar ratio wide"
        linear = client.get("/api/runs/big/metrics?points=50&names=train/loss").get_json()["series"]["train/loss"]
        assert linear["x"][:2] == [0, 600]
        assert client.get("/api/runs/big/metrics?xscale=cubic").status_code == 400
        coarse_log = client.get("/api/runs/small/metrics?xscale=log").get_json()["series"]["train/loss"]
        assert coarse_log["x"][0] == 1 and not math.isnan(coarse_log["y"][0])


def test_a_run_the_column_cache_holds_answers_in_full_at_once_after_a_restart(root, tmp_path, monkeypatch):
    """After a restart a big run whose columns are cached is no longer "big": a restore reads
    only what was appended, so the chart gets the full answer first, not a sample."""
    import viewer.data.colcache as colcache

    monkeypatch.setenv("VIEWER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(colcache, "MIN_BYTES", 1 << 16)  # the ~1 MB test file is worth an entry
    with viewer_app(root) as app:
        first = app.test_client().get("/api/runs/big/metrics?coarse=1").get_json()
        assert first["coarse"] is True  # cold: a sample
        app.test_client().get("/api/runs/big/metrics")  # waits for the parse, which writes the entry
        assert app.extensions["tailboard"].store.columns.state()["written"] >= 1
    with viewer_app(root) as app:  # a restart over the same cache
        answer = app.test_client().get("/api/runs/big/metrics?coarse=1").get_json()
        assert "coarse" not in answer and answer == full(root, "big", points=2000)
        assert app.extensions["tailboard"].store.columns.state()["restored"] >= 1
    more = csv_text(HEADER, rows(ROWS, ROWS + 40_000), "\r\n")
    append(root / "big" / "metrics.csv", more[more.index("\n") + 1:])  # rows only, no second header
    with viewer_app(root) as app:  # more appended than VIEWER_COARSE_MB since the entry: a sample again
        assert app.test_client().get("/api/runs/big/metrics?coarse=1").get_json()["coarse"] is True
