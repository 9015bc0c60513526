"""Issue 15's chart tools as a user sees them in Debian's chromium: the outlier-proof y scale
(with its marks at the edge and the first steps left out), combined panels with a second y
axis, pinned charts, another logged series as x, median/sem/CI aggregates, and smoothing that
never crosses a gap or a restart. Pins, panels and every control survive a reload (the URL)."""
from __future__ import annotations

import json
import math
import random
import statistics

import pytest

from builders import lightning_run
from live_clients import start_server, stop_server
from test_browser_charts import chart, params

HEADER = ("epoch", "step", "train/loss", "warm", "grad_norm", "tokens", "lr", "time")
LIVE = "live/version_0"
SEEDS = [f"seeds/s{i}/version_0" for i in range(3)]
T0 = 1767225600.0


def spiky_rows(n=300):
    """train/loss with two spikes of 1000; warm starting at 20.5; grad_norm ~1,000; tokens 512
    a step; lr up then down (not monotone)."""
    rows = []
    for s in range(n):
        loss = 1000.0 if s in (100, 200) else 0.5 + 0.4 * math.exp(-s / 80)
        lr = min(s, 50) / 50 * 0.1 * (1 - s / n)
        rows.append((0, s, loss, 0.5 + 20 * math.exp(-s / 5), 1000 + 50 * math.sin(s / 9), 512 * s, lr, T0 + s))
    return rows


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("tools")
    lightning_run(root, "spiky/version_0", spiky_rows(), {"lr": 0.1}, HEADER)
    for i, rid in enumerate(SEEDS):
        rng = random.Random(i)
        rows = [(0, s, 1 + i * 0.5 + s / 100 + rng.random() * 0.01, None, None, None, None, T0 + s) for s in range(100)]
        lightning_run(root, rid, rows, {"lr": 0.1, "seed": i}, HEADER)
    rows = [(0, s, 10.0 + s / 100, None, None, None, None, T0 + s) for s in range(150)]
    rows += [(0, s, 1.0 + s / 1000, None, None, None, None, T0 + 500 + s) for s in range(100, 200)]
    lightning_run(root, "restarted/version_0", rows, {"lr": 0.1}, HEADER)
    rows = [(0, s, 5.0, None, None, None, None, T0 + s) for s in range(100)]
    rows += [(0, s, 1.0, None, None, None, None, T0 + s) for s in range(500, 600)]   # nothing logged 100..499
    lightning_run(root, "gappy/version_0", rows, {"lr": 0.1}, HEADER)
    lightning_run(root, LIVE, [(0, s, 1.0 / (s + 1), 2.0, 1000.0, 512 * s, None, T0 + s) for s in range(10)], {"lr": 0.1}, HEADER)
    (root / "commas").mkdir()
    (root / "commas" / "metrics.jsonl").write_text("".join(
        json.dumps({"step": s, "loss,smoothed": 2.0 - s / 100, "acc": s / 100}) + "\n" for s in range(50)))
    return root


@pytest.fixture(scope="module")
def server(tree):
    proc, url = start_server("flask", tree)
    yield url
    stop_server(proc)


def ready(page, key):
    """Wait until the chart ``key`` is drawn."""
    page.wait_for_function(f"!!({chart(key)}?.plot)")


def ymax(page, key, scale="y"):
    return page.evaluate(f"{chart(key)}.plot.scales[{scale!r}].max")


def act(page, key, what):
    page.locator(f".chart-card[data-metric='{key}'] button[data-act={what}]").click()


def test_a_metric_with_a_comma_in_its_name_joins_a_combined_panel_that_a_link_reproduces(page, server):
    page.goto(server + "/runs/commas")
    ready(page, "loss,smoothed")
    act(page, "loss,smoothed", "pick")
    act(page, "acc", "pick")
    page.locator(".chart-controls button[name=combine]").click()
    key = "combo:loss\\,smoothed,acc"
    ready(page, key)
    assert params(page)["combo"] == ["loss\\,smoothed,acc"]
    labels = f"{chart(key)}.plot.series.slice(1).map(s => s.label)"
    assert page.evaluate(labels) == ["loss,smoothed", "acc"]
    page.reload()   # the link alone draws it again, the name whole
    ready(page, key)
    assert page.evaluate(labels) == ["loss,smoothed", "acc"]
    assert page.evaluate(f"{chart(key)}.card.querySelector('.chart-title b').textContent") == "loss,smoothed + acc"
    assert page.errors == []


def test_outlier_proof_scale_ignores_a_spike_and_marks_it_at_the_edge(page, server):
    page.goto(server + "/runs/spiky/version_0")
    ready(page, "train/loss")
    assert ymax(page, "train/loss") >= 1000   # the spikes set the scale: the curve is a flat line
    page.check("input[name=clip]")
    page.wait_for_function(f"{chart('train/loss')}.plot.scales.y.max < 2")
    lo = page.evaluate(f"{chart('train/loss')}.plot.scales.y.min")
    assert 0.4 < lo < 0.6   # the curve (0.5 .. 0.9) fills the chart
    top = page.evaluate(f"{chart('train/loss')}.plot.scales.y.max")
    marks = page.evaluate(f"{chart('train/loss')}.marks.map(m => [m.x, m.y, m.up])")
    assert [100, 1000, True] in marks and [200, 1000, True] in marks   # both spikes, at the top edge
    assert all(up and y > top for _x, y, up in marks)   # (with the 5% highest points of the curve)
    note = page.locator(".chart-card[data-metric='train/loss'] .chart-note").inner_text()
    assert f"{len(marks)} above ▲ marked at the edge" in note and "5–95%" in note
    # the points are all still there: the line is clipped at the edge, not cut
    assert page.evaluate(f"{chart('train/loss')}.plot.data[1][100]") == 1000
    assert params(page)["clip"] == ["1"]
    # one chart back to its full range: the others stay clipped
    act(page, "train/loss", "clip")
    page.wait_for_function(f"{chart('train/loss')}.plot.scales.y.max >= 1000")
    assert params(page)["clipc"] == ["train/loss"]
    assert page.locator(".chart-card[data-metric='train/loss'] button[data-act=clip]").get_attribute("aria-pressed") == "false"
    page.reload()
    ready(page, "train/loss")
    ready(page, "warm")
    assert ymax(page, "train/loss") >= 1000 and page.locator("input[name=clip]").is_checked()
    assert page.errors == []


def test_outlier_proof_scale_on_a_log_axis(page, server):
    page.goto(server + "/runs/spiky/version_0?clip=1&logy=1")
    ready(page, "train/loss")
    u = chart("train/loss") + ".plot"
    assert page.evaluate(f"{u}.scales.y.distr") == 3
    lo, hi = page.evaluate(f"[{u}.scales.y.min, {u}.scales.y.max]")
    assert 0.4 < lo < 0.5 and 0.8 < hi < 1   # the percentiles of log y (not the spikes of 1000), padded in log


def test_the_first_steps_can_be_left_out_of_the_scale(page, server):
    page.goto(server + "/runs/spiky/version_0?clip=1&clipq=0")
    ready(page, "warm")
    assert ymax(page, "warm") > 20   # q=0: from min to max, the warm-up's 20.5 included
    page.fill("input[name=skip]", "30")
    page.locator("input[name=skip]").dispatch_event("change")
    page.wait_for_function(f"{chart('warm')}.plot.scales.y.max < 1")
    assert params(page)["skip"] == ["30"]
    assert page.evaluate(f"{chart('warm')}.marks.length") > 0   # the warm-up is marked above


def test_a_zoom_rescales_the_outlier_proof_y_to_the_points_in_view(page, server):
    page.goto(server + "/runs/spiky/version_0?clip=1")
    ready(page, "train/loss")
    over = page.locator(".chart-card[data-metric='train/loss'] .u-over")
    over.scroll_into_view_if_needed()
    b = over.bounding_box()
    y = b["y"] + b["height"] / 2
    page.mouse.move(b["x"] + b["width"] * 0.6, y)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] * 0.75, y, steps=4)
    page.mouse.up()
    page.wait_for_selector("[data-charts][data-zoomed='1']")
    # steps ~180..225 hold the spike at 200 and a curve of 0.53..0.56; the whole run's range was 0.5..0.9
    page.wait_for_function(f"{chart('train/loss')}.plot.scales.y.max < 0.6")
    assert page.evaluate(f"{chart('train/loss')}.plot.scales.y.min") > 0.5
    assert [200, True] in page.evaluate(f"{chart('train/loss')}.marks.map(m => [m.x, m.up])")


def test_a_combined_panel_of_two_metrics_gets_a_second_axis_and_lives_in_the_url(page, server):
    page.goto(server + "/runs/spiky/version_0")
    ready(page, "grad_norm")
    combine = page.locator(".chart-controls button[name=combine]")
    assert combine.is_disabled()
    act(page, "train/loss", "pick")
    act(page, "grad_norm", "pick")
    assert "2 picked" in combine.inner_text()
    combine.click()
    key = "combo:train/loss,grad_norm"
    ready(page, key)
    assert params(page)["combo"] == ["train/loss,grad_norm"]
    first = page.locator("[data-charts] .chart-card").first
    assert first.get_attribute("data-metric") == key   # above the tree
    scales = page.evaluate(f"{chart(key)}.plot.series.slice(1).map(s => [s.label, s.scale])")
    assert scales == [["train/loss", "y"], ["grad_norm", "y2"]]   # 1,000 vs ~1: a right axis
    assert page.evaluate(f"{chart(key)}.plot.axes.map(a => a.side)") == [2, 3, 1]
    assert 900 < ymax(page, key, "y2") < 1200 and ymax(page, key) >= 1000
    assert "right axis: grad_norm" in first.locator(".chart-title .sub").inner_text()
    page.reload()
    ready(page, key)
    assert page.locator("[data-charts] .chart-card").first.get_attribute("data-metric") == key
    # two metrics of one size share one axis
    page.goto(server + "/runs/spiky/version_0?combo=train/loss,warm")
    ready(page, "combo:train/loss,warm")
    assert page.evaluate(f"{chart('combo:train/loss,warm')}.plot.axes.length") == 2
    page.locator(".chart-card[data-metric='combo:train/loss,warm'] button[data-act=remove]").click()
    page.wait_for_function("!location.search.includes('combo')")
    assert page.locator(".chart-card[data-metric^='combo:']").count() == 0
    assert page.errors == []


def test_a_combined_panel_of_several_runs_draws_each_run_per_metric(page, server):
    page.goto(server + "/compare?" + "&".join(f"run={r}" for r in SEEDS[:2]) + "&combo=train/loss,time")
    key = "combo:train/loss,time"
    page.wait_for_selector(f".chart-card[data-metric='{key}']")
    ready(page, "train/loss")
    # `time` is not a metric here, only train/loss: each run's line, labelled with run and metric
    labels = page.evaluate(f"{chart(key)}.spec.lines.map(l => l.label)")
    assert labels == [f"{r} · train/loss" for r in SEEDS[:2]]


def test_a_pin_moves_the_chart_to_the_top_and_a_reload_keeps_it(page, server):
    page.goto(server + "/runs/spiky/version_0")
    ready(page, "warm")
    cards = page.locator("[data-charts] .chart-card")
    order = [c.get_attribute("data-metric") for c in cards.all()]
    assert order[0] != "warm"
    act(page, "warm", "pin")
    page.wait_for_function("location.search.includes('pin=warm')")
    ready(page, "warm")
    assert cards.first.get_attribute("data-metric") == "warm"
    assert page.locator("details[data-path='@pinned'] .chart-card").count() == 1
    assert cards.count() == len(order)   # moved, not copied
    page.reload()
    ready(page, "warm")
    assert cards.first.get_attribute("data-metric") == "warm"
    assert page.locator(".chart-card[data-metric='warm'] button[data-act=pin]").inner_text() == "unpin"
    act(page, "warm", "pin")
    page.wait_for_function("!location.search.includes('pin=')")
    assert [c.get_attribute("data-metric") for c in cards.all()] == order
    assert page.errors == []


def test_a_pinned_combined_panel_follows_live_rows(page, server, tree):
    page.add_init_script("document.addEventListener('htmx:sseOpen', () => { window.streamOpen = true; })")
    key = "combo:train/loss,grad_norm"
    page.goto(f"{server}/runs/{LIVE}?combo=train/loss,grad_norm&pin={key}")
    ready(page, key)
    assert page.locator("details[data-path='@pinned'] .chart-card").get_attribute("data-metric") == key
    assert page.locator("details[data-path='@combined']").count() == 0   # pinned: shown once, on top
    page.wait_for_function("window.streamOpen === true")
    with open(tree / LIVE / "metrics.csv", "a") as f:
        f.write(f"0,10,0.0123,2.0,1500.0,5120,,{T0 + 10}\n")
    page.wait_for_function(f"{chart(key)}.plot.data[0].length === 11", timeout=10000)
    assert page.evaluate(f"{chart(key)}.plot.data[2].at(-1)") == 1500.0
    assert "0.0123" in page.locator(f".chart-card[data-metric='{key}'] .chart-table").inner_text()


def test_a_series_that_goes_down_as_x_says_why(page, server):
    page.goto(server + "/runs/spiky/version_0?xmetric=lr")
    err = page.locator("[data-charts] .row-error")
    err.wait_for()
    assert "'lr' cannot be the x axis: it is not monotone in step" in err.inner_text()


def test_any_series_that_grows_with_the_step_can_be_the_x_axis(page, server):
    page.goto(server + "/runs/spiky/version_0")
    ready(page, "train/loss")
    offered = page.evaluate("[...document.querySelectorAll('select.x-axis optgroup.x-series option')].map(o => o.value)")
    assert "metric:tokens" in offered and "metric:lr" not in offered and "metric:train/loss" not in offered
    fetched = []
    page.on("request", lambda r: fetched.append(r.url) if "/metrics" in r.url else None)
    page.select_option("select.x-axis", "metric:tokens")
    page.wait_for_function(f"{chart('train/loss')}?.plot?.data[0].at(-1) === 512 * 299")
    assert page.evaluate(f"{chart('train/loss')}.plot.data[0].slice(0, 3)") == [0, 512, 1024]
    assert all("xmetric=tokens" in u for u in fetched) and fetched
    assert params(page)["xmetric"] == ["tokens"]
    assert page.locator(".chart-card[data-metric='train/loss'] .best-at").inner_text() == "at tokens"
    over = page.locator(".chart-card[data-metric='train/loss'] .u-over")
    over.scroll_into_view_if_needed()
    b = over.bounding_box()
    page.mouse.move(b["x"] + b["width"] * 0.5, b["y"] + b["height"] / 2)
    assert page.locator(".chart-card[data-metric='train/loss'] .tip-x").inner_text().startswith("tokens ")
    page.reload()
    ready(page, "train/loss")
    assert page.locator("select.x-axis").input_value() == "metric:tokens"
    assert page.evaluate(f"{chart('train/loss')}.plot.data[0].at(-1)") == 512 * 299
    assert page.errors == []


def seed_values(step):
    out = []
    for i in range(3):
        rng = random.Random(i)
        vals = [1 + i * 0.5 + s / 100 + rng.random() * 0.01 for s in range(100)]
        out.append(vals[step])
    return out


def band_at(page, key, step):
    """(centre, band low, band high) of the first group line at ``step``."""
    return page.evaluate(f"""(() => {{ const c = {chart(key)}, u = c.plot, l = c.spec.lines[0];
        const i = u.data[0].indexOf({step}), b = u.bands[0].series;
        return [u.data[l.col][i], u.data[b[1]][i], u.data[b[0]][i]]; }})()""")


def test_median_sem_and_ci_bands_of_a_group_of_seeds(page, server):
    page.goto(server + "/compare?" + "&".join(f"run={r}" for r in SEEDS) + "&agg=median&group=all")
    ready(page, "train/loss")
    vals = seed_values(40)
    centre, lo, hi = band_at(page, "train/loss", 40)
    assert centre == pytest.approx(statistics.median(vals)) and (lo, hi) == pytest.approx((min(vals), max(vals)))
    assert page.evaluate(f"{chart('train/loss')}.spec.lines[0].label") == "median of all runs (3)"
    page.select_option("select[name=agg]", "mean")
    page.select_option("select[name=spread]", "sem")
    page.wait_for_function("location.search.includes('spread=sem')")
    sem = statistics.stdev(vals) / math.sqrt(3)
    centre, lo, hi = band_at(page, "train/loss", 40)
    assert centre == pytest.approx(statistics.mean(vals)) and hi - lo == pytest.approx(2 * sem)
    page.select_option("select[name=spread]", "ci")
    page.wait_for_function("location.search.includes('spread=ci')")
    centre, lo, hi = band_at(page, "train/loss", 40)
    assert hi - lo == pytest.approx(2 * 4.303 * sem, rel=1e-3)   # Student's t, 2 degrees of freedom
    page.reload()
    ready(page, "train/loss")
    assert page.locator("select[name=spread]").input_value() == "ci"
    assert page.errors == []


@pytest.mark.parametrize("smoother", ["ema", "avg", "gauss"])
def test_smoothing_starts_afresh_after_a_restart_and_a_gap(page, server, smoother):
    page.goto(server + f"/runs/restarted/version_0?smooth=0.9&smoother={smoother}")
    ready(page, "train/loss")
    data = page.evaluate(f"{chart('train/loss')}.plot.data")
    xs, raw, sm = data[0], data[1], data[2]
    i = xs.index(100)   # where the run resumed: 10.99 before, 1.1 from here on
    assert sm[i] == pytest.approx(raw[i], abs=0.02) and sm[i] < 1.2   # nothing of the old segment
    assert sm[i - 1] > 10   # and the old segment's end owes nothing to the new one
    page.goto(server + f"/runs/gappy/version_0?smooth=0.9&smoother={smoother}")
    ready(page, "train/loss")
    data = page.evaluate(f"{chart('train/loss')}.plot.data")
    i = data[0].index(500)
    assert data[2][i] == pytest.approx(1.0) and data[2][i - 1] == pytest.approx(5.0)  # a flat 5 then a flat 1: no blend across steps 100..499


def test_a_group_mean_does_not_bridge_a_members_gap(page, server):
    page.goto(server + "/compare?run=gappy/version_0&run=restarted/version_0&agg=mean&group=all")
    ready(page, "train/loss")
    got = page.evaluate(f"""(() => {{ const l = {chart('train/loss')}.spec.lines[0];
        return [150, 300].map(x => {{ const i = l.xs.indexOf(x); return i < 0 ? 'absent' : l.ys[i]; }}); }})()""")
    # at step 150 only `restarted` has points (gappy logs nothing from 100 to 499): its value alone
    assert got[0] == pytest.approx(1.15)


def test_a_log_x_axis_asks_the_server_for_log_buckets_and_survives_a_reload(page, server):
    """Issue 15 item 9: "log x" makes the x scale logarithmic, the metrics are fetched again with
    ``xscale=log`` (the server buckets evenly in log x and leaves step 0 out: a log axis has no
    place for it), and the choice is in the URL."""
    page.goto(server + "/runs/spiky/version_0")
    ready(page, "train/loss")
    assert page.evaluate(f"{chart('train/loss')}.plot.data[0][0]") == 0
    fetched = []
    page.on("request", lambda r: fetched.append(r.url) if "/metrics" in r.url else None)
    page.locator(".chart-controls input[name=logx]").check()
    page.wait_for_function(f"{chart('train/loss')}?.plot?.scales.x.distr === 3")
    assert fetched and all("xscale=log" in u for u in fetched)
    assert page.evaluate(f"{chart('train/loss')}.plot.data[0][0]") == 1, "step 0 has no place on a log axis"
    assert params(page)["logx"] == ["1"]
    page.reload()
    ready(page, "train/loss")
    assert page.evaluate(f"{chart('train/loss')}.plot.scales.x.distr") == 3
    assert page.locator(".chart-controls input[name=logx]").is_checked()
    page.locator(".chart-controls input[name=logx]").uncheck()
    page.wait_for_function(f"{chart('train/loss')}?.plot?.scales.x.distr === 1")
    assert page.evaluate(f"{chart('train/loss')}.plot.data[0][0]") == 0 and "logx" not in params(page)
    assert page.errors == []
