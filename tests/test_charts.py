"""The charts' server side: chart_context (URL state validated, stable distinct colours, groups
of seeds), the restart purge of RunStore.metrics, and /events for several runs at once."""
from __future__ import annotations

import json
import math
from array import array

import pytest
from werkzeug.datastructures import MultiDict

from builders import lightning_run
from conftest import LIGHTNING_ID, SPT_ID, scanned
from viewer.views import charts
from viewer.data.downsample import downsample, non_decreasing, restart_kept, select, select_kept, select_sorted


def context(app, ids, query=""):
    with app.test_request_context("/?" + query):
        from flask import request
        return charts.chart_context(ids, request.args)


# -- URL state ----------------------------------------------------------------------------


def test_view_state_reads_every_control_back_from_the_url():
    args = MultiDict([("x", "relative"), ("smooth", "0.6"), ("logy", "1"), ("band", "0"), ("agg", "mean"),
                      ("spread", "std"), ("group", "hp:optim.lr"), ("metric", "val/"),
                      ("better", "val/acc:min"), ("better", "train/loss:max"), ("fold", "train"), ("fold", "val/sub")])
    st = charts.view_state(args)
    assert (st["x"], st["smooth"], st["logy"], st["band"], st["agg"], st["spread"], st["group"], st["metric"]) == \
        ("relative", 0.6, True, False, "mean", "std", "hp:optim.lr", "val/")
    assert st["better"] == {"val/acc": "min", "train/loss": "max"}
    assert st["fold"] == ["train", "val/sub"] and st["metric_error"] is None


@pytest.mark.parametrize("query", ["x=wall", "smooth=1.5", "smooth=-0.1", "smooth=abc", "smooth=nan", "logy=maybe",
                                   "band=sometimes", "agg=sum", "spread=iqr", "group=hp:", "group=everything",
                                   "smoother=spline", "clip=maybe", "clipq=26", "clipq=-1", "clipq=x", "skip=-5",
                                   "combo=loss", "combo=,", "pin="])
def test_bad_values_fall_back_to_the_defaults(query):
    k = query.split("=")[0]
    st = charts.view_state(MultiDict([query.split("=", 1)]))
    assert st[k] == charts.DEFAULTS[k]


def test_combo_names_keep_their_escaped_commas_and_backslashes():
    st = charts.view_state(MultiDict([("combo", "loss\\,smoothed,acc"), ("combo", "a\\\\b,c\\")]))
    assert st["combo"] == [["loss,smoothed", "acc"], ["a\\b", "c\\"]]


def test_view_state_reads_the_chart_tools_back_from_the_url():
    args = MultiDict([("smoother", "gauss"), ("xmetric", "tokens"), ("x", "time"), ("clip", "1"), ("clipq", "10"),
                      ("skip", "200"), ("clipc", "train/loss"), ("clipc", "train/loss"), ("combo", "a,b,a"),
                      ("combo", "a,b"), ("combo", "c,d"), ("pin", "combo:c,d"), ("pin", "val/acc"), ("agg", "median"),
                      ("spread", "ci")])
    st = charts.view_state(args)
    assert (st["smoother"], st["xmetric"], st["x"], st["clip"], st["clipq"], st["skip"]) == \
        ("gauss", "tokens", "step", True, 10, 200)   # another series as x is joined by step
    assert st["clipc"] == ["train/loss"] and st["combo"] == [["a", "b"], ["c", "d"]]
    assert st["pin"] == ["combo:c,d", "val/acc"] and (st["agg"], st["spread"]) == ("median", "ci")


def test_a_bad_metric_pattern_is_kept_with_a_message_and_bad_better_entries_are_dropped():
    st = charts.view_state(MultiDict([("metric", "val/(acc"), ("better", "val/acc:up"), ("better", "loss"),
                                      ("better", "a:b:max")]))
    assert st["metric"] == "val/(acc" and "not a valid pattern" in st["metric_error"]
    assert st["better"] == {"a:b": "max"}  # a metric name may hold ':'


def test_run_page_restores_the_chart_controls_from_the_url(client):
    html = client.get(f"/runs/{LIGHTNING_ID}?x=epoch&smooth=0.6&logy=1&band=0&metric=val&fold=train"
                      "&better=val/acc:min").get_data(as_text=True)
    assert '<option value="epoch" selected>' in html
    assert 'name="smooth" min="0" max="0.99" step="0.01" value="0.6"' in html
    assert 'name="logy" checked' in html and 'name="band" >' in html
    assert 'data-x="epoch" data-smooth="0.6" data-logy="1"' in html and 'data-band="0"' in html
    assert 'data-fold=\'["train"]\'' in html and 'data-better=\'{"val/acc": "min"}\'' in html
    assert 'value="val" placeholder="filter metrics' in html


def test_run_page_with_bad_chart_values_still_draws_with_defaults_and_says_why(client):
    r = client.get(f"/runs/{LIGHTNING_ID}?x=wall&smooth=7&metric=(oops")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert '<option value="step" selected>' in html and 'value="0.0"' in html
    assert "not a valid pattern" in html  # shown above the charts


def test_metric_names_in_the_url_are_escaped(client):
    html = client.get(f"/runs/{LIGHTNING_ID}", query_string={"metric": '"><script>x</script>'}).get_data(as_text=True)
    assert "<script>x</script>" not in html and "&lt;script&gt;" in html


# -- colours -------------------------------------------------------------------------------


def test_fnv1a_matches_the_reference_vectors():
    assert charts.fnv1a("") == 0x811C9DC5
    assert charts.fnv1a("a") == 0xE40C292C
    assert charts.fnv1a("foobar") == 0xBF9CF968


def test_colours_are_stable_and_distinct_and_earlier_runs_keep_theirs():
    ids = [f"sweep/run{i}" for i in range(20)]
    colors = charts.run_colors(ids)
    assert len(set(colors.values())) == 20  # 20 runs, 20 colours: a collision took a free slot
    assert charts.run_colors(ids) == colors
    assert all(c in charts.PALETTE for c in colors.values())
    # two ids hashing to one slot: the first keeps it in any view, the second moves on
    slot = {}
    for i in range(1000):
        rid = f"r{i}"
        s = charts.fnv1a(rid) % len(charts.PALETTE)
        if s in slot:
            first, second = slot[s], rid
            break
        slot[s] = rid
    both = charts.run_colors([first, second])
    assert both[first] == charts.run_colors([first])[first] == charts.PALETTE[s]
    assert both[second] == charts.PALETTE[(s + 1) % len(charts.PALETTE)]
    assert charts.run_colors([second])[second] == charts.PALETTE[s]  # alone, it has its own


def test_colour_hex_is_safe_to_put_in_a_style_attribute():
    assert all(len(c) == 7 and c[0] == "#" and int(c[1:], 16) >= 0 for c in charts.PALETTE)


# -- direction and groups ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["loss", "val/loss", "train_loss", "trainLoss", "top1_err", "error_rate", "val/ppl",
                                  "perplexity", "mse", "val/mae", "rmse", "nll", "wer", "cer", "bpb", "bpc",
                                  "epoch_time", "latency_ms", "loss2"])
def test_lower_is_better_for_losses_errors_and_times(name):
    assert charts.lower_is_better(name)


@pytest.mark.parametrize("name", ["acc", "val/acc", "f1", "lr", "bleu", "precision", "reward", "throughput", "auroc"])
def test_higher_is_better_otherwise(name):
    assert not charts.lower_is_better(name)


def test_groups_drop_seed_keys_and_split_on_the_rest():
    runs = [{"id": f"lr{lr}_s{seed}", "hparams": {"optim.lr": lr, "seed": seed, "data.seed": seed, "output_dir": f"/o/{seed}",
                                                   "data.name": "cifar"}}
            for lr in (0.1, 0.3) for seed in (0, 1)]
    auto = charts.group_runs(runs, "auto")
    assert [g["runs"] for g in auto] == [["lr0.1_s0", "lr0.1_s1"], ["lr0.3_s0", "lr0.3_s1"]]
    assert [g["label"] for g in auto] == ["optim.lr=0.1", "optim.lr=0.3"]
    assert [g["runs"] for g in charts.group_runs(runs, "hp:seed")] == [["lr0.1_s0", "lr0.3_s0"], ["lr0.1_s1", "lr0.3_s1"]]
    assert len(charts.group_runs(runs, "all")) == 1
    other = runs + [{"id": "svhn", "hparams": {"optim.lr": 0.1, "seed": 0, "data.name": "svhn"}}]
    assert len(charts.group_runs(other, "auto")) == 3  # a dataset name is not a seed


def test_chart_context_for_several_runs(app, tmp_path):
    ctx = context(app, [SPT_ID, LIGHTNING_ID, "nope", SPT_ID], "group=all&agg=mean")
    assert [r["id"] for r in ctx["runs"]] == [SPT_ID, LIGHTNING_ID] and ctx["missing"] == ["nope"]
    assert ctx["runs"][0]["metrics_url"] == f"/api/runs/{SPT_ID}/metrics"
    assert ctx["runs"][0]["color"] != ctx["runs"][1]["color"]
    assert ctx["metrics"] == sorted(set(ctx["metrics"])) and "train/loss" in ctx["metrics"]
    assert ctx["groups"] == [{"key": "all", "label": "all runs", "runs": [SPT_ID, LIGHTNING_ID],
                              "color": ctx["runs"][0]["color"]}]
    assert ctx["state"]["agg"] == "mean" and ctx["lower"]["train/loss"] and not ctx["lower"]["val/acc"]


# -- the restart purge ---------------------------------------------------------------------


def restarted_rows():
    """Steps 0..149, then a restart from the checkpoint at 100 logging 100..199 again."""
    first = [(0, s, 10.0 + s, None, 1000.0 + s) for s in range(150)]
    second = [(0, s, float(s), None, 2000.0 + s) for s in range(100, 200)]
    return first + second


def test_a_restarted_run_shows_its_last_segment_on_the_step_axis(tmp_path):
    lightning_run(tmp_path, "r/version_0", restarted_rows())
    store = scanned(str(tmp_path))
    s = store.metrics("r/version_0", names=["train/loss"], points=10_000)["series"]["train/loss"]
    assert s["x"] == list(range(200))  # steps 100..149 once, from after the restart
    assert s["y"][:100] == [10.0 + i for i in range(100)] and s["y"][100:] == [float(i) for i in range(100, 200)]
    assert s["purged"] == 50 and s["count"] == 200
    zoom = store.metrics("r/version_0", names=["train/loss"], start=120, end=130)["series"]["train/loss"]
    assert zoom["x"] == list(range(120, 131)) and zoom["y"] == [float(i) for i in range(120, 131)]
    # wall time never goes back: that axis keeps every point
    t = store.metrics("r/version_0", names=["train/loss"], x="time", points=10_000)["series"]["train/loss"]
    assert t["count"] == 250 and "purged" not in t


def test_a_monotonic_series_is_not_purged_and_says_nothing(client):
    s = client.get(f"/api/runs/{LIGHTNING_ID}/metrics?names=train/loss").get_json()["series"]["train/loss"]
    assert s.get("purged", 0) == 0 and s["count"] == 20


def test_purge_follows_appends_after_a_restart(tmp_path):
    rid = lightning_run(tmp_path, "r/version_0", [(0, s, 1.0, None, 0.0) for s in range(10)])
    store = scanned(str(tmp_path))
    assert "purged" not in store.metrics(rid)["series"]["train/loss"]
    with open(tmp_path / rid / "metrics.csv", "a") as f:
        f.writelines(f"0,{s},2.0,,0.0\n" for s in (5, 6, 7, 8, 9, 10))
    s = store.metrics(rid)["series"]["train/loss"]
    assert s["x"] == list(range(11)) and s["y"] == [1.0] * 5 + [2.0] * 6 and s["purged"] == 5


def test_purge_semantics_match_tensorboard():
    def kept(xs):
        return list(restart_kept(array("d", xs)))
    assert kept([0, 1, 2, 3, 1, 2, 3, 4]) == [0, 4, 5, 6, 7]   # the restart's step itself is dropped before it
    assert kept([0, 5, 10, 3, 4, 2, 3]) == [0, 5, 6]           # two restarts
    assert kept([0, 0, 1, 1, 2]) == [0, 1, 2, 3, 4]            # repeats (epochs) are no restart
    assert kept([0, 5, math.nan, 3]) == [0, 3]                 # an absent x is skipped
    assert non_decreasing(array("d", [0, 1, math.nan, 2])) and not non_decreasing(array("d", [0, 2, 1]))


def test_purge_of_a_million_point_series_is_correct():
    n = 1_000_000
    xs = array("d", range(600_000)) + array("d", range(400_000, 800_000))
    ys = array("d", [0.0] * 600_000 + [1.0] * 400_000)
    assert not non_decreasing(xs)
    kept = restart_kept(xs)
    assert len(kept) == 800_000 and kept[399_999] == 399_999 and kept[400_000] == 600_000
    idx = select_kept(xs, kept, 399_990, 400_010)
    assert [xs[i] for i in idx] == list(range(399_990, 400_011))
    assert [ys[i] for i in idx] == [0.0] * 10 + [1.0] * 11
    x, y, lo, hi = downsample(xs, ys, select_kept(xs, kept), 2000)
    assert len(x) == 2000 and x == sorted(x) and x[-1] < 800_000 and n - len(kept) == 200_000


def test_a_zoom_into_a_sorted_axis_cuts_the_same_points_as_a_full_scan():
    xs = array("d", [-math.inf, 0, 1, 1, 2, 3, 5, 8, 8, 13, math.inf])
    ys = array("d", range(len(xs)))
    for start, end in ((None, None), (1, 8), (1.5, 7.9), (-100, 100), (None, 2), (5, None), (20, 30), (8, 8)):
        assert list(select_sorted(xs, start, end)) == list(select(xs, ys, start, end)), (start, end)


def test_zoomed_metrics_of_a_run_with_absent_steps_still_answer(tmp_path):
    rows = [(0, s, float(s), None, 0.0) for s in range(10)]
    rid = lightning_run(tmp_path, "r/version_0", rows, header=("epoch", "step", "train/loss", "val/acc", "time"))
    store = scanned(str(tmp_path))
    s = store.metrics(rid, names=["train/loss"], start=3, end=6)["series"]["train/loss"]
    assert s["x"] == [3, 4, 5, 6] and s["count"] == 4


def test_api_still_answers_bad_zoom_ranges_with_a_400_message(client):
    r = client.get(f"/api/runs/{LIGHTNING_ID}/metrics?start=50&end=10")
    assert r.status_code == 400 and "start" in r.get_json()["error"]
    r = client.get(f"/api/runs/{LIGHTNING_ID}/metrics?x=relative")
    assert r.status_code == 400 and "x must be one of" in r.get_json()["error"]


# -- one event stream for several runs -----------------------------------------------------


def events_of(resp):
    """The named events of a streaming test response, as (name, data), as they come."""
    buf = b""
    for chunk in resp.response:
        buf += chunk
        while b"\n\n" in buf:
            block, buf = buf.split(b"\n\n", 1)
            lines = block.decode().split("\n")
            name = next((ln[7:] for ln in lines if ln.startswith("event: ")), None)
            if name:
                yield name, "\n".join(ln[6:] for ln in lines if ln.startswith("data: "))


def test_events_for_several_runs_carry_each_runs_metrics_and_nothing_else(app, client):
    bus = app.extensions["tailboard"].bus
    resp = client.get(f"/events?run={SPT_ID}&run={LIGHTNING_ID}", buffered=False)
    for rid in ("keras", SPT_ID, "hf", LIGHTNING_ID):
        bus.publish("metrics", json.dumps({"run": rid, "reset": False, "series": {}}), audience=rid)
    bus.publish("row", "<tr>overview only</tr>")
    bus.publish("run", "<section>the header</section>", audience=SPT_ID)
    events = (e for e in events_of(resp) if e[0] != "watch")  # the watcher's state, sent to every page at connect
    got = [next(events) for _ in range(3)]
    assert [name for name, _d in got] == ["metrics", "metrics", "run"]
    assert [json.loads(d)["run"] for _name, d in got[:2]] == [SPT_ID, LIGHTNING_ID]
    resp.close()


def test_a_real_append_reaches_a_two_run_stream(app, client, samples):
    v = app.extensions["tailboard"]
    resp = client.get(f"/events?run={SPT_ID}&run={LIGHTNING_ID}", buffered=False)
    path = samples / "lightning" / "lightning_logs" / "version_0" / "metrics.csv"
    with open(path, "a") as f:
        f.write("5,0.05,83,1.5,,\r\n")
    v.watcher.publish(v.store.apply([str(path)]))
    data = next(d for n, d in events_of(resp) if n == "metrics")
    delta = json.loads(data)
    assert delta["run"] == LIGHTNING_ID and delta["series"]["train/loss"]["y"] == [1.5]
    resp.close()
