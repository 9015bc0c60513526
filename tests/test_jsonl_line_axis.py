"""``metrics.jsonl`` without a ``step``: the x axis is the line's number, counted from 0 over the
non-blank lines (a line that is not a JSON object keeps its number, as it would in an editor's
count of records), and it keeps counting across appends and starts again on a rewrite.

The mutation audit found that an off-by-one in that number survived every existing test (they
all log a ``step``): a chart would then be shifted by one step against the run's own log.
"""
from __future__ import annotations

import json

from conftest import scanned, series, viewer_app


def lines(*records):
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


def make_run(tmp_path, text):
    run = tmp_path / "root" / "r"
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text(text)
    return tmp_path / "root", run / "metrics.jsonl"


def test_without_step_the_x_axis_is_the_line_number_from_zero(tmp_path):
    root, _ = make_run(tmp_path, lines({"loss": 0.9}, {"loss": 0.7, "acc": 0.5}, {"loss": 0.4}))
    with viewer_app(root) as app:
        s = app.test_client().get("/api/runs/r/metrics").get_json()["series"]
    assert (s["loss"]["x"], s["loss"]["y"]) == ([0, 1, 2], [0.9, 0.7, 0.4])
    assert (s["acc"]["x"], s["acc"]["y"]) == ([1], [0.5])  # logged on the second line only


def test_a_bad_line_keeps_its_number_and_a_blank_line_has_none(tmp_path):
    root, _ = make_run(tmp_path, lines({"loss": 1}, "not json", "", {"loss": 2}, "[1, 2]", {"loss": 3}))
    assert series(scanned(str(root)), "r")["loss"]["x"] == [0, 2, 4]


def test_appended_lines_continue_the_count_and_a_rewrite_starts_it_again(tmp_path):
    root, path = make_run(tmp_path, lines({"loss": 1}, {"loss": 2}))
    store = scanned(str(root))
    assert series(store, "r")["loss"]["x"] == [0, 1]
    with open(path, "a") as f:
        f.write(lines({"loss": 3}) + '{"loss": 4')  # the last line is still being written
    store.get("r")
    assert series(store, "r")["loss"]["x"] == [0, 1, 2]
    with open(path, "a") as f:
        f.write("}\n")
    store.get("r")
    assert series(store, "r")["loss"] == {**series(store, "r")["loss"], "x": [0, 1, 2, 3], "y": [1, 2, 3, 4]}
    path.write_text(lines({"loss": 9}))  # rewritten (a restarted job): counted from 0 again
    store.get("r")
    assert (series(store, "r")["loss"]["x"], series(store, "r")["loss"]["y"]) == ([0], [9])

