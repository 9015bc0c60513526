"""The runs table's query (viewer.views.runquery): filters, chips, sort, groups, pages, bad input;
and the same parameters on /api/runs and the overview page."""
from __future__ import annotations

import pytest

from conftest import LIGHTNING_ID, SPT_ID
from viewer.views import runquery, runtable
from viewer.views.runquery import Chip, Column, QueryError, parse
from viewer.views.runtable import run_query

HX = {"HX-Request": "true"}


def run(rid, status="completed", fmt="spt", tags=(), hp=None, summary=None, created=100.0, updated=200.0,
        duration=None, name=None, notes=""):
    return {"id": rid, "name": name or rid, "status": status, "format": fmt, "tags": list(tags), "notes": notes,
            "hparams": hp or {}, "summary": summary or {}, "created_at": created, "updated_at": updated,
            "duration": duration, "metrics": list(summary or {}), "error": None}


RUNS = [  # newest first, as the store gives them
    run("sweep/a", "running", tags=["baseline"], hp={"optim.lr": 0.1, "model": "mlp", "out": "/x/a"},
        summary={"val/acc": 0.50, "loss": 1.0}, created=400, updated=900),
    run("sweep/b", "failed", "lightning", hp={"optim.lr": 0.01, "model": "resnet", "out": "/x/b"},
        summary={"val/acc": 0.90}, created=300, updated=800),
    run("sweep/c", "completed", tags=["baseline", "final"], hp={"optim.lr": "1e-3", "model": "mlp", "out": "/x/c"},
        summary={"val/acc": 0.70, "loss": 0.2}, created=200, updated=700, duration=50.0),
    run("other/d,1", "stale", "jsonl", hp={"model": "vit", "out": "/x/d"}, created=100, updated=600,
        notes="A note about Transformers"),
]


def ids(rows):
    return [r["id"] for r in rows]


def query(**args):
    qy = parse(args)
    assert qy.errors == []
    return run_query(RUNS, qy, ["val/acc"])


# -- text and regex ----------------------------------------------------------------------------


def test_text_terms_are_anded_over_id_name_status_format_tags_notes_and_hparams():
    assert ids(query(q="baseline")["runs"]) == ["sweep/a", "sweep/c"]
    assert ids(query(q="baseline MLP final")["runs"]) == ["sweep/c"]
    assert ids(query(q="model=resnet")["runs"]) == ["sweep/b"]
    assert ids(query(q="transformers")["runs"]) == ["other/d,1"]
    assert ids(query(q="jsonl stale")["runs"]) == ["other/d,1"]
    assert query(q="nothing-like-this")["runs"] == []


def test_regex_is_case_insensitive_and_anchors_at_each_field():
    assert ids(query(q="^sweep/[ab]$", regex="1")["runs"]) == ["sweep/a", "sweep/b"]
    assert ids(query(q="^model=(resnet|VIT)", regex="1")["runs"]) == ["sweep/b", "other/d,1"]
    # without regex=1 the same text is a plain word, and matches nothing
    assert query(q="^sweep/[ab]$")["runs"] == []


def test_bad_or_huge_regex_is_reported_and_left_out():
    qy = parse({"q": "(unclosed", "regex": "1"})
    assert len(qy.errors) == 1 and "invalid regular expression" in qy.errors[0]
    assert run_query(RUNS, qy)["matched"] == len(RUNS)  # the rest of the query still applies
    qy = parse({"q": "a" * (runquery.MAX_PATTERN + 1), "regex": "1"})
    assert "too long" in qy.errors[0]


# -- chips -------------------------------------------------------------------------------------


@pytest.mark.parametrize("chips, expected", [
    (["status:running"], ["sweep/a"]),
    (["tag:BASELINE"], ["sweep/a", "sweep/c"]),
    (["tag:baseline", "tag:final"], ["sweep/c"]),
    (["format:lightning"], ["sweep/b"]),
    (["optim.lr=0.01"], ["sweep/b"]),
    (["optim.lr!=0.01"], ["sweep/a", "sweep/c"]),          # a run without optim.lr never matches
    (["optim.lr>0.01"], ["sweep/a"]),
    (["optim.lr>=0.01"], ["sweep/a", "sweep/b"]),
    (["optim.lr<0.01"], ["sweep/c"]),                       # "1e-3" (a YAML string) is a number
    (["optim.lr<=0.001"], ["sweep/c"]),
    (["val/acc>=0.7"], ["sweep/b", "sweep/c"]),
    (["val/acc < 0.7"], ["sweep/a"]),
    (["model=MLP"], ["sweep/a", "sweep/c"]),                # text compares case-insensitively
    (["model!=mlp"], ["sweep/b", "other/d,1"]),
    (["hp:model=vit"], ["other/d,1"]),
    (["m:optim.lr=0.1"], []),                               # scoped to metrics: not the hparam
])
def test_chips(chips, expected):
    assert ids(query(f=chips)["runs"]) == expected


def test_float32_values_equal_their_decimal_text():
    r = run("x", hp={"lr": 0.05000000074505806})
    assert Chip("lr=0.05").matches(r) and not Chip("lr!=0.05").matches(r)


@pytest.mark.parametrize("text, message", [
    ("justaword", "cannot read filter"),
    ("status:runing", "status must be one of"),
    ("tag:", "needs a value"),
    ("lr>=", "needs a value"),
    ("=3", "cannot read filter"),
])
def test_bad_chips_are_explained(text, message):
    with pytest.raises(QueryError, match=message):
        Chip(text)
    qy = parse({"f": [text, "tag:final"]})
    assert len(qy.errors) == 1 and message in qy.errors[0]
    assert ids(run_query(RUNS, qy)["runs"]) == ["sweep/c"]  # the good chip still filters


def test_status_parameter_and_chips_combine():
    assert ids(query(status="completed", f=["tag:baseline"])["runs"]) == ["sweep/c"]
    assert "status must be one of" in parse({"status": "nope"}).errors[0]


def test_a_cell_chip_keeps_its_own_run():
    r = run("x", hp={"lr": 0.05000000074505806, "name": "a b", "flag": True},
            summary={"acc": 0.123456789, "n": 7})
    for col in ("m:acc", "m:n", "hp:lr", "hp:name", "hp:flag"):
        text = Column(col).chip(r)
        assert text and Chip(text).matches(r), text
    assert Column("m:acc").chip(r) == "acc>=0.1234"  # short, and rounded down: never above the value
    assert Column("hp:lr").chip(r) == "lr=0.05"
    assert Column("m:absent").chip(r) == ""


# -- sort ----------------------------------------------------------------------------------------


def test_default_order_is_the_incoming_newest_first():
    assert ids(query()["runs"]) == ids(RUNS)


def test_sort_by_metric_puts_missing_values_last_in_both_orders():
    assert ids(query(sort="m:val/acc", order="desc")["runs"]) == ["sweep/b", "sweep/c", "sweep/a", "other/d,1"]
    assert ids(query(sort="m:val/acc", order="asc")["runs"]) == ["sweep/a", "sweep/c", "sweep/b", "other/d,1"]
    assert ids(query(sort="m:loss", order="asc")["runs"])[-2:] == ["sweep/b", "other/d,1"]


def test_sort_by_hparam_numbers_before_text_and_missing_last():
    assert ids(query(sort="hp:optim.lr", order="asc")["runs"]) == ["sweep/c", "sweep/b", "sweep/a", "other/d,1"]
    assert ids(query(sort="hp:optim.lr", order="desc")["runs"]) == ["sweep/a", "sweep/b", "sweep/c", "other/d,1"]


def test_sort_by_fixed_columns():
    assert ids(query(sort="name", order="asc")["runs"]) == ["other/d,1", "sweep/a", "sweep/b", "sweep/c"]
    assert ids(query(sort="created", order="asc")["runs"]) == ["other/d,1", "sweep/c", "sweep/b", "sweep/a"]
    assert ids(query(sort="status", order="asc")["runs"]) == ["sweep/a", "other/d,1", "sweep/b", "sweep/c"]
    # duration: the recorded one (50 s) or updated - created (500 s for the others)
    assert ids(query(sort="duration", order="asc")["runs"])[0] == "sweep/c"


def test_sort_order_defaults_and_header_toggle():
    assert parse({"sort": "name"}).order == "asc" and parse({"sort": "m:x"}).order == "desc"
    qy = parse({"sort": "m:x", "order": "desc"})
    assert qy.sort_order_for("m:x") == "asc" and qy.sort_order_for("name") == "asc"
    assert qy.sort_order_for("updated") == "desc"


def test_bad_sort_order_and_group_are_explained():
    qy = parse({"sort": "bogus", "order": "sideways", "group": "colour"})
    assert [e.split()[0] for e in qy.errors] == ["cannot", "order", "cannot"]
    assert qy.sort == "" and qy.group == ""


# -- groups ---------------------------------------------------------------------------------------


def test_group_by_status_in_status_order_with_counts_and_best():
    res = query(group="status", sort="m:val/acc", order="desc")
    assert [(g["key"], g["count"]) for g in res["groups"]] == [
        ("running", 1), ("stale", 1), ("failed", 1), ("completed", 1)]
    assert [g["best"] for g in res["groups"]] == [0.5, None, 0.9, 0.7]


def test_group_by_hparam_numbers_then_text_then_none_and_fold():
    res = query(group="hp:optim.lr", fold=["(none)"])
    assert [g["key"] for g in res["groups"]] == ["1e-3", "0.01", "0.1", "(none)"]
    assert [g["folded"] for g in res["groups"]] == [False, False, False, True]
    assert ids(res["runs"]) == ["sweep/c", "sweep/b", "sweep/a", "other/d,1"]  # rows follow the groups


def test_group_by_tag_uses_the_first_tag_and_counts_across_pages():
    res = query(group="tag", per="1", page="2")
    assert [g["key"] for g in res["groups"]] == ["baseline"]           # this page holds one run
    assert res["groups"][0]["count"] == 2 and ids(res["runs"]) == ["sweep/c"]


# -- pages ----------------------------------------------------------------------------------------


def test_pagination_after_filtering_and_sorting():
    res = query(per="2", page="2", sort="name", order="asc")
    assert ids(res["runs"]) == ["sweep/b", "sweep/c"]
    assert (res["total"], res["matched"], res["page"], res["pages"]) == (4, 4, 2, 2)


def test_a_page_past_the_end_is_the_last_page_unless_told_not_to_clamp():
    assert query(per="3", page="9")["page"] == 2
    res = run_query(RUNS, parse({"per": "3", "page": "9"}), clamp=False)
    assert res["runs"] == [] and res["page"] == 9


def test_api_style_query_without_page_keeps_every_run():
    qy = parse({}, paginate=False)
    many = [run(f"r{i}") for i in range(250)]
    assert len(run_query(many, qy)["runs"]) == 250
    assert len(run_query(many, parse({}))["runs"]) == runquery.PER_DEFAULT


@pytest.mark.parametrize("args", [{"per": "0"}, {"per": "1001"}, {"per": "ten"}, {"page": "0"}, {"page": "-2"}])
def test_bad_page_numbers_are_explained(args):
    qy = parse(args)
    assert len(qy.errors) == 1 and "whole number" in qy.errors[0]
    assert (qy.page, qy.per) == (1, runquery.PER_DEFAULT)


# -- columns and URL state ------------------------------------------------------------------------------


def test_default_columns_are_key_metrics_then_hparams_that_vary():
    cols = [c.key for c in query()["cols"]]
    assert cols == ["m:val/acc", "hp:model", "hp:optim.lr"]  # "out" is a path per run: left out


def test_cols_parameter_overrides_and_rejects_bad_names():
    assert [c.key for c in query(cols="hp:model,m:loss")["cols"]] == ["hp:model", "m:loss"]
    assert query(cols="-")["cols"] == []
    qy = parse({"cols": "hp:model,bogus"})
    assert "must be hp:" in qy.errors[0] and [c.key for c in qy.cols] == ["hp:model"]


def test_params_round_trip_with_ids_holding_commas_and_slashes():
    args = {"q": "a b", "regex": "1", "f": ["tag:x", "lr>=0.1"], "status": "running", "sort": "m:val/acc",
            "order": "asc", "group": "hp:model", "cols": "m:loss", "per": "50", "page": "3",
            "sel": ["other/d,1", "sweep/a"], "fold": ["mlp"]}
    qy = parse(args)
    again = parse(_multi(qy.params()))
    assert again.params() == qy.params()
    assert ("sel", "other/d,1") in qy.params()
    assert parse({}).params() == []  # defaults leave the URL bare


def _multi(pairs):
    out = {}
    for k, v in pairs:
        out.setdefault(k, []).append(v)
    return out


def test_row_view_duration_recorded_elapsed_and_ongoing():
    v = runtable.row_view(RUNS[2], now=1000)["view"]
    assert (v["duration"], v["how"], v["ongoing"], v["idle"]) == (50.0, "recorded", False, 300)
    v = runtable.row_view(RUNS[0], now=1000)["view"]
    assert (v["duration"], v["how"], v["ongoing"]) == (500, "elapsed", True)


# -- the API and the page ---------------------------------------------------------------------------


def test_api_runs_keeps_its_contract_and_adds_counts(client):
    body = client.get("/api/runs").get_json()
    assert len(body["runs"]) == 5 and set(body["scan"]) == {"phase", "total", "done"}
    assert (body["total"], body["matched"], body["page"], body["pages"]) == (5, 5, 1, 1)


def test_api_runs_takes_the_table_parameters(client):
    body = client.get("/api/runs?sort=name&order=asc&per=2&page=2").get_json()
    names = sorted(r["name"] for r in client.get("/api/runs").get_json()["runs"])
    assert [r["name"] for r in body["runs"]] == names[2:4]
    assert (body["matched"], body["page"], body["pages"]) == (5, 2, 3)
    body = client.get("/api/runs", query_string={"f": ["tag:demo"], "q": "completed"}).get_json()
    assert [r["id"] for r in body["runs"]] == [SPT_ID]
    body = client.get("/api/runs", query_string={"q": "^lightning/", "regex": "1"}).get_json()
    assert [r["id"] for r in body["runs"]] == [LIGHTNING_ID]


@pytest.mark.parametrize("qs", ["per=0", "per=x", "page=0", "q=(&regex=1", "f=nonsense", "sort=bogus",
                                "status=nope", "cols=bad"])
def test_api_runs_bad_parameter_is_a_400_json(client, qs):
    r = client.get("/api/runs?" + qs)
    assert r.status_code == 400 and r.is_json and r.get_json()["error"]


def test_page_shows_a_bad_parameter_above_the_table_and_the_rest(client):
    r = client.get("/?q=(&regex=1", headers=HX)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'class="query-error"' in html and "invalid regular expression" in html
    assert html.count('class="run-row') == 5
    html = client.get("/?f=%3Cscript%3E", headers=HX).get_data(as_text=True)
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_page_state_is_in_hidden_inputs_and_links(client):
    html = client.get("/", query_string={"f": "tag:demo", "sort": "m:val/acc", "sel": "a,b/c"},
                      headers=HX).get_data(as_text=True)
    assert '<input type="hidden" form="table-form" name="f" value="tag:demo">' in html
    assert '<input type="hidden" form="table-form" name="sel" value="a,b/c">' in html
    assert 'id="compare-link" href="/compare?run=a%2Cb%2Fc"' in html and "Compare 1 run<" in html
    assert 'aria-sort="descending"' in html


def test_history_restore_gets_the_whole_page(client):
    r = client.get("/?q=keras", headers={**HX, "HX-History-Restore-Request": "true"})
    assert "<html" in r.get_data(as_text=True)


def test_partials_for_live_rows_activity_and_column_picker(client):
    html = client.get("/-/partials/rows", query_string={"run": [SPT_ID, "nope"], "cols": "hp:optim.lr",
                                                        "sel": SPT_ID}).get_data(as_text=True)
    assert html.count('class="run-row') == 1 and 'data-col="hp:optim.lr"' in html and " checked" in html
    assert client.get("/-/partials/rows?run=x&cols=bad").status_code == 400
    html = client.get("/-/partials/activity").get_data(as_text=True)
    assert "Active now" in html and "Recent" in html and f'data-run="{SPT_ID}"' in html
    html = client.get("/-/partials/columns").get_data(as_text=True)
    assert 'value="m:val/acc" checked' in html and 'value="hp:optim.lr"' in html
