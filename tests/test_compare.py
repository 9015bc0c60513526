"""The compare view: which values differ (mixed types, missing keys), column sorting, the
scatter's columns and defaults, bad input, and the page and its JSON twin agreeing.

Runs are small spt folders (``sidecar.json`` + ``metrics.csv``) built in ``tmp_path``: a
learning-rate sweep with seeds, one run without a learning rate and one with a string value.
"""
from __future__ import annotations

import re

import pytest

from builders import sidecar, spt_run, write
from conftest import viewer_app
from viewer.views.comparison import odd_cells, sort_key, value_key

HX = {"HX-Request": "true"}

SWEEP = {   # id -> (hparams, summary)
    "sweep/lr1e-4_s0": ({"optim.lr": 1e-4, "seed": 0, "model.name": "mlp", "model.depth": 2, "data.batch": 32},
                        {"val/loss": 0.9, "val/acc": 0.6}),
    "sweep/lr1e-3_s0": ({"optim.lr": 1e-3, "seed": 0, "model.name": "mlp", "model.depth": 2, "data.batch": 32},
                        {"val/loss": 0.5, "val/acc": 0.8}),
    "sweep/lr1e-2_s1": ({"optim.lr": 1e-2, "seed": 1, "model.name": "resnet", "model.depth": 2, "data.batch": 32,
                         "optim.warmup": 100}, {"val/loss": 0.7, "val/acc": 0.7}),
    "sweep/nolr_s1": ({"seed": 1, "model.name": "mlp", "model.depth": 2.0, "data.batch": "32"},
                      {"val/loss": 0.8}),
}
IDS = list(SWEEP)


def sweep_run(root, rid, hparams, summary, metrics=None):
    """A run of the sweep: an spt folder tagged "sweep" with ``summary`` in its sidecar and, when
    given, ``metrics`` as its ``metrics.csv`` text."""
    side = sidecar(rid.rsplit("/", 1)[-1], tags=["sweep"], notes="", hparams=hparams, summary=summary)
    return spt_run(root / rid, side, metrics=metrics)


@pytest.fixture
def sweep_root(tmp_path):
    root = tmp_path / "runs"
    for rid, (hp, summary) in SWEEP.items():
        sweep_run(root, rid, hp, summary)
    return root


@pytest.fixture
def sweep_app(sweep_root):
    with viewer_app(sweep_root) as app:
        yield app


@pytest.fixture
def sc(sweep_app):
    return sweep_app.test_client()


def api(sc, *ids, **params):
    r = sc.get("/api/compare", query_string={"run": list(ids), **params})
    return r.status_code, r.get_json()


def row(data, key):
    return next(r for r in data["rows"] if r["key"] == key)


# -- diffing -----------------------------------------------------------------------------

def test_value_identity_separates_types_but_not_int_from_float():
    assert value_key(2) == value_key(2.0)
    assert value_key(True) != value_key(1) and value_key("1") != value_key(1)
    assert value_key(float("nan")) == value_key(float("nan"))
    assert value_key([1, 2]) == value_key([1, 2]) != value_key([2, 1])


def test_odd_cells_marks_the_odd_one_out_or_every_cell_on_a_tie():
    from viewer.views.comparison import MISSING

    assert odd_cells([1, 1, 1]) == [False, False, False]
    assert odd_cells([1, 1.0, 2]) == [False, False, True]
    assert odd_cells(["a", "b"]) == [True, True]                    # no majority: both differ
    assert odd_cells([1, MISSING, 1]) == [False, True, False]        # missing counts as a value
    assert odd_cells([MISSING, MISSING, 5]) == [False, False, True]
    assert odd_cells([True, 1, 1]) == [True, False, False]           # a bool is not the number 1


def test_table_rows_diff_mixed_types_and_missing_keys(sc):
    code, data = api(sc, *IDS)
    assert code == 200
    assert [r["id"] for r in data["runs"]] == IDS
    depth = row(data, "hp:model.depth")          # 2, 2, 2, 2.0: equal
    assert not depth["differs"] and depth["odd"] == [False] * 4
    batch = row(data, "hp:data.batch")           # 32, 32, 32, "32": the string differs
    assert batch["differs"] and batch["odd"] == [False, False, False, True]
    warmup = row(data, "hp:optim.warmup")        # set in one run only
    assert warmup["present"] == [False, False, True, False] and warmup["odd"] == [False, False, True, False]
    lr = row(data, "hp:optim.lr")                # three values and one missing: all differ
    assert lr["odd"] == [True] * 4 and lr["values"][3] is None
    name = row(data, "hp:model.name")
    assert name["odd"] == [False, False, True, False]
    assert data["differing"] == sum(r["differs"] for r in data["rows"])


def test_rows_are_hparams_then_metrics_grouped_by_prefix(sc):
    _, data = api(sc, *IDS)
    keys = [r["key"] for r in data["rows"]]
    assert keys.index("hp:seed") < keys.index("m:val/loss")
    hp = [r for r in data["rows"] if r["section"] == "hparams"]
    groups = [r["group"] for r in hp]
    # each group is contiguous: optim.lr and optim.warmup sit together
    assert all(groups.index(g) + groups.count(g) - 1 == len(groups) - 1 - groups[::-1].index(g) for g in groups)
    assert row(data, "m:val/loss")["group"] == "val" and row(data, "m:val/loss")["label"] == "loss"
    assert row(data, "hp:seed")["group"] == ""


def test_only_differences_hides_equal_rows_on_the_page(sc):
    full = sc.get("/compare", query_string={"run": IDS, "tab": "table"}).get_data(as_text=True)
    only = sc.get("/compare", query_string={"run": IDS, "tab": "table", "diff": "1"}).get_data(as_text=True)
    assert 'data-key="hp:model.depth"' in full and 'data-key="hp:model.depth"' not in only
    assert 'data-key="hp:data.batch"' in only
    assert 'id="compare-diff" name="diff" value="1" checked' in only


# -- sorting -----------------------------------------------------------------------------

def test_sort_orders_columns_by_a_row_missing_last_either_way(sc):
    _, asc = api(sc, *IDS, sort="hp:optim.lr")
    assert [r["id"] for r in asc["runs"]] == IDS          # 1e-4, 1e-3, 1e-2, then the run without
    _, desc = api(sc, *IDS, sort="-hp:optim.lr")
    assert [r["id"] for r in desc["runs"]] == [IDS[2], IDS[1], IDS[0], IDS[3]]
    assert row(desc, "hp:optim.lr")["values"] == [1e-2, 1e-3, 1e-4, None]   # rows follow the columns
    _, metric = api(sc, *IDS, sort="val/loss")            # a bare name works too
    assert metric["sort"] == "m:val/loss"
    assert [r["id"] for r in metric["runs"]] == [IDS[1], IDS[2], IDS[3], IDS[0]]


def test_old_h_prefix_in_a_url_sorts_and_picks_columns_as_hp(sc):
    """Compare URLs saved before the prefix became the runs table's ``hp:`` still work."""
    old = {"sort": "-h:optim.lr", "sx": "h:seed", "sy": "m:val/acc"}
    new = {"sort": "-hp:optim.lr", "sx": "hp:seed", "sy": "m:val/acc"}
    _, was = api(sc, *IDS, **old)
    _, now = api(sc, *IDS, **new)
    assert [r["id"] for r in was["runs"]] == [r["id"] for r in now["runs"]] == [IDS[2], IDS[1], IDS[0], IDS[3]]
    assert (was["sort"], was["desc"]) == (now["sort"], now["desc"]) == ("hp:optim.lr", True)
    assert (was["scatter"]["x"], was["scatter"]["y"]) == ("hp:seed", "m:val/acc") == (now["scatter"]["x"], now["scatter"]["y"])
    assert was["rows"] == now["rows"] and not was["messages"]
    html = sc.get("/compare", query_string={"run": IDS, "tab": "table", **old}).get_data(as_text=True)
    assert "sort=hp:optim.lr" in html and "h:optim.lr" not in html.replace("hp:optim.lr", "")  # links say hp:


def test_sort_key_puts_numbers_before_text_before_the_rest():
    vals = ["b", 3, [1], 1.5, float("nan"), "A"]
    assert sorted(vals, key=sort_key)[:3] == [1.5, 3, vals[4]]
    assert sorted(vals, key=sort_key)[3:] == ["A", "b", [1]]


def test_sort_header_links_cycle_ascending_descending(sc):
    html = sc.get("/compare", query_string={"run": IDS, "tab": "table", "sort": "hp:seed"}).get_data(as_text=True)
    seed = html[html.index('data-key="hp:seed"'):]
    assert 'aria-sort="ascending"' in seed[:400] and "sort=-hp:seed" in seed[:800]


# -- scatter -----------------------------------------------------------------------------

def test_scatter_defaults_to_the_most_varied_hparam_and_first_metric(sc):
    _, data = api(sc, *IDS)
    s = data["scatter"]
    assert (s["x"], s["y"]) == ("hp:optim.lr", "m:val/loss")
    assert [p["id"] for p in s["points"]] == IDS[:3]
    assert s["skipped"] == [{"id": IDS[3], "name": "nolr_s1", "color": data["runs"][3]["color"],
                             "reason": "no numeric optim.lr"}]
    keys = {c["key"] for c in s["columns"]}
    assert "hp:model.name" not in keys and "hp:seed" in keys  # only numeric columns


def test_scatter_axes_and_log_from_the_url(sc):
    _, data = api(sc, *IDS, sx="hp:seed", sy="m:val/acc", sly="1")
    s = data["scatter"]
    assert (s["x"], s["y"], s["log_y"], s["log_x"]) == ("hp:seed", "m:val/acc", True, False)
    assert [p["id"] for p in s["points"]] == IDS[:3]     # the fourth run has no val/acc
    _, logx = api(sc, *IDS, sx="hp:seed", slx="1")
    assert {p["id"] for p in logx["scatter"]["skipped"]} == {IDS[0], IDS[1]}   # seed 0 on a log axis
    assert "log axis" in logx["scatter"]["skipped"][0]["reason"]


# -- bad input ---------------------------------------------------------------------------

def test_api_rejects_bad_input_with_json_messages(sc):
    code, body = api(sc)
    assert code == 400 and "no runs" in body["error"]
    code, body = api(sc, "nope/a", "nope/b")
    assert code == 404 and "nope/a" in body["error"]
    code, body = api(sc, IDS[0], sort="hp:nothing")
    assert code == 400 and "nothing" in body["error"]
    code, body = api(sc, IDS[0], sx="hp:model.name")      # not numeric
    assert code == 400 and "model.name" in body["error"]


def test_unknown_ids_are_listed_and_skipped(sc):
    code, data = api(sc, IDS[0], "gone/run")
    assert code == 200 and data["missing"] == ["gone/run"] and len(data["runs"]) == 1
    r = sc.get("/compare", query_string={"run": [IDS[0], "gone/<b>run"], "tab": "table"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "Not found, skipped" in html and "gone/&lt;b&gt;run" in html and "gone/<b>run" not in html


def test_page_without_runs_explains_how_to_pick_them(sc):
    r = sc.get("/compare")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "Select runs on the" in html and 'list="compare-choices"' in html
    assert all(f'<option value="{rid}">' in html for rid in IDS)


def test_page_with_bad_parameters_says_so_and_still_renders(sc):
    r = sc.get("/compare", query_string={"run": IDS, "tab": "nope", "sort": "hp:zz", "sx": "hp:zz"}, headers=HX)
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "unknown tab" in html and "unknown sort column" in html and "unknown x axis" in html


def test_more_than_fifty_runs_uses_the_first_fifty(sweep_root, sc):
    many = [f"many/r{i:02d}" for i in range(55)]
    for i, rid in enumerate(many):
        sweep_run(sweep_root, rid, {"seed": i}, {"loss": 1.0 / (i + 1)})
    sc.application.extensions["tailboard"].watcher.poll_once()
    code, data = api(sc, *many)
    assert code == 200 and len(data["runs"]) == 50 and data["dropped"] == 5
    assert "only the first 50" in data["messages"][0]
    html = sc.get("/compare", query_string={"runs": ",".join(many), "tab": "table"}).get_data(as_text=True)
    assert "only the first 50" in html and html.count('class="compare-run"') == 50


def test_runs_parameter_and_repeats(sc):
    code, data = api(sc, IDS[0], IDS[0], runs=f"{IDS[1]},{IDS[0]}")
    assert [r["id"] for r in data["runs"]] == [IDS[0], IDS[1]]


# -- page and twin -----------------------------------------------------------------------

def test_json_twin_equals_the_page_table(sc):
    params = {"run": IDS, "tab": "table", "sort": "-m:val/acc"}
    html = sc.get("/compare", query_string=params).get_data(as_text=True)
    _, data = api(sc, *IDS, sort="-m:val/acc")
    cols = re.findall(r'<th scope="col" class="compare-run" data-run="([^"]+)"', html)
    assert cols == [r["id"] for r in data["runs"]]
    rows = {key: (kind, body) for kind, key, body in
            re.findall(r'<tr class="compare-row (differs|same)" data-key="([^"]+)">(.*?)</tr>', html, re.S)}
    assert list(rows) == [r["key"] for r in data["rows"]]
    for r in data["rows"]:
        kind, body = rows[r["key"]]
        assert (kind == "differs") == r["differs"]
        assert [("odd" in td) for td in re.findall(r'<td class="([^"]*)"', body)] == r["odd"]


def test_htmx_request_gets_the_body_fragment_and_history_restore_the_page(sc):
    frag = sc.get("/compare", query_string={"run": IDS, "tab": "table"}, headers=HX)
    assert frag.headers["Vary"] == "HX-Request"
    assert "<html" not in frag.get_data(as_text=True) and "compare-table" in frag.get_data(as_text=True)
    restore = sc.get("/compare", query_string={"run": IDS, "tab": "table"}, headers={**HX, "HX-History-Restore-Request": "true"})
    assert "<html" in restore.get_data(as_text=True)


def test_page_streams_the_events_of_every_compared_run(sc):
    html = sc.get("/compare", query_string={"run": IDS[:2], "tab": "table"}).get_data(as_text=True)
    assert f'sse-connect="/events?run={IDS[0]}&amp;run={IDS[1]}"' in html


def test_links_keep_the_view_state(sc):
    html = sc.get("/compare", query_string={"run": IDS[:2], "tab": "scatter", "sx": "hp:seed", "sly": "1",
                                            "x": "epoch"}).get_data(as_text=True)
    table_link = re.search(r'href="([^"]*tab=table[^"]*)"', html).group(1).replace("&amp;", "&")
    assert "sx=hp:seed" in table_link and "sly=1" in table_link and "x=epoch" in table_link
    remove = re.findall(r'class="compare-remove" href="([^"]+)"', html)[0].replace("&amp;", "&")
    assert f"run={IDS[0]}" not in remove and f"run={IDS[1]}" in remove and "tab=scatter" in remove


def test_table_updates_after_a_run_writes(sweep_root, sc):
    """The live refresh re-fetches this fragment: it must carry the new summary value."""
    folder = sweep_root / IDS[0]
    write(folder / "metrics.csv", "step,val/loss\n1,0.4242\n")
    sc.application.extensions["tailboard"].watcher.poll_once()
    html = sc.get("/compare", query_string={"run": IDS[:2], "tab": "table"}, headers=HX).get_data(as_text=True)
    assert "0.4242" in html


def test_charts_tab_includes_the_overlay_charts_of_every_run(sc):
    r = sc.get("/compare", query_string={"run": IDS[:2]})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'data-tab="charts"' in html and 'class="on"' in html
    for rid in IDS[:2]:
        assert f"/api/runs/{rid}/metrics" in html
