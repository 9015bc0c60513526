"""The HTTP glue (``viewer/web/glue.py``) and the pure argument rules (``viewer/views/args.py``):
one error handler for every route, page or fragment, flags, run ids, known/missing ids."""
from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from conftest import LIGHTNING_ID, viewer_app
from viewer.views.args import comma_list, flag, ids, partition_known

HX = {"HX-Request": "true"}


@pytest.mark.parametrize("raw,default,expected", [
    ("1", False, True), ("TRUE", False, True), (" on ", False, True), ("yes", False, True),
    ("0", True, False), ("False", True, False), ("off", True, False), ("no", True, False),
    ("", True, False),                     # blank is off
    (None, True, True), (None, False, False),            # absent: the default
    ("maybe", True, True), ("maybe", False, False),      # any other word: the default
    (True, False, True), (False, True, False),           # already a bool (a setting)
])
def test_flag_reads_switches_the_same_everywhere(raw, default, expected):
    assert flag(raw, default) is expected


def test_ids_take_whole_values_and_split_comma_lists_without_repeats():
    args = MultiDict([("run", " a/b/ "), ("run", "c,d"), ("runs", "e, a/b ,,f"), ("run", "")])
    assert ids(args, whole=("run",), commas=("runs",)) == ["a/b", "c,d", "e", "f"]
    assert ids({"compare": ["x,y", "y"]}, whole=(), commas=("compare",)) == ["x", "y"]
    assert comma_list(["a, b", ",c"]) == ["a", "b", "c"]
    assert comma_list([" a,b "], strip=False) == [" a", "b "]


def test_partition_known_keeps_order_and_drops_repeats():
    assert partition_known(["a", "x", "b", "a", "y"], {"a", "b"}.__contains__) == (["a", "b"], ["x", "y"])


@pytest.fixture
def tiny(tmp_path):
    run = tmp_path / "runs" / "lightning" / "lightning_logs" / "version_0"
    run.mkdir(parents=True)
    (run / "metrics.csv").write_text("step,loss\n0,1.0\n1,0.5\n")
    with viewer_app(tmp_path / "runs") as app:
        yield app.test_client()


@pytest.mark.parametrize("url", ["/api/runs/nope", "/api/runs/x/metrics?points=0", "/api/compare",
                                 "/api/compare?run=nope", "/files/nope", "/events?dir=nope"])
def test_errors_of_routes_a_program_reads_are_json(tiny, url):
    r = tiny.get(url)
    assert r.status_code in (400, 404) and r.is_json and r.get_json()["error"]


@pytest.mark.parametrize("url", ["/runs/nope", "/-/partials/hparams?run=nope", "/-/partials/log?run=x&bytes=many"])
def test_errors_of_pages_and_their_fragments_are_the_error_page(tiny, url):
    r = tiny.get(url, headers=HX)
    assert r.status_code in (400, 404) and r.mimetype == "text/html" and not r.is_json


def test_a_page_is_whole_unless_htmx_asks_and_a_history_restore_gets_it_whole(tiny):
    page = f"/runs/{LIGHTNING_ID}"
    whole, part = tiny.get(page), tiny.get(page, headers=HX)
    restore = tiny.get(page, headers={**HX, "HX-History-Restore-Request": "true"})
    for r in (whole, part, restore):
        assert r.status_code == 200 and r.headers["Vary"] == "HX-Request"
    assert "<html" in whole.get_data(as_text=True) and "<html" not in part.get_data(as_text=True)
    assert "<html" in restore.get_data(as_text=True)
