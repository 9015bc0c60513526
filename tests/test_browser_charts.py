"""The charts as a user sees them in Debian's chromium: several runs overlaid, tooltip, zoom with a
full-resolution re-fetch, smoothing, log y, relative time, URL state, restarted runs, exports,
the last/best table, the metric tree, group means and live appends."""
from __future__ import annotations

import math
import os
import random
from urllib.parse import parse_qs, urlparse

import pytest

from builders import lightning_run
from live_clients import start_server, stop_server

HEADER = ("epoch", "step", "train/loss", "val/acc", "val/sub/margin", "time")
SWEEP = [f"sweep/lr{lr}_s{seed}/version_0" for lr in (0.1, 0.3) for seed in range(3)][:5]
T0 = 1767225600.0


def sweep_rows(seed, lr, n=300, margin=False):
    rng = random.Random(seed)
    rows = []
    for s in range(n):
        loss = 2.5 * math.exp(-s * lr / 5) + 0.2 + rng.gauss(0, 0.05)
        acc = None if s % 50 else round(1 - loss / 3, 4)
        rows.append((s // 100, s, loss, acc, (s / 50 - 1) if margin else None, T0 + s * 0.5))
    return rows


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("charts")
    for i, rid in enumerate(SWEEP):
        lr = 0.1 if "lr0.1" in rid else 0.3
        lightning_run(root, rid, sweep_rows(i, lr, margin=i == 0), {"lr": lr, "seed": i % 3, "batch": 32}, HEADER)
    rows = [(0, s, 10.0 + s / 100, None, None, T0 + s) for s in range(150)]
    rows += [(0, s, 1.0 + s / 1000, None, None, T0 + 500 + s) for s in range(100, 200)]
    lightning_run(root, "restarted/version_0", rows, {"lr": 0.1}, HEADER)
    big = [(s // 1000, s, math.sin(s / 40) + s / 20000, None, None, T0 + s) for s in range(20_000)]
    lightning_run(root, "big/version_0", big, {"lr": 0.1}, HEADER)
    for rid in ("live/a/version_0", "live/b/version_0"):
        lightning_run(root, rid, [(0, s, 1.0 / (s + 1), None, None, T0 + s) for s in range(10)], {"lr": 0.1}, HEADER)
    return root


@pytest.fixture(scope="module")
def server(tree):
    proc, url = start_server("flask", tree)
    yield url
    stop_server(proc)


def compare(server, ids, query=""):
    return server + "/compare?" + "&".join(f"run={rid}" for rid in ids) + ("&" + query if query else "")


def chart(name):
    """JS: the chart object of ``name`` in the page's (first) charts view."""
    return f"[...window.tailboard.chartViews.values()][0].charts.get({name!r})"


def drawn(page, n):
    page.wait_for_selector(f"[data-charts][data-drawn='{n}']")


def params(page):
    return parse_qs(urlparse(page.url).query)


def set_range(page, name, value):
    page.evaluate("""([name, value]) => { const el = document.querySelector(`input[name=${name}]`);
        el.value = value; el.dispatchEvent(new Event('input', {bubbles: true}));
        el.dispatchEvent(new Event('change', {bubbles: true})); }""", [name, value])


def box(page, name):
    return page.locator(f".chart-card[data-metric='{name}'] .u-over").bounding_box()


def test_every_run_is_a_series_in_its_own_colour_with_a_table_row(page, server):
    ids = SWEEP[:3]
    page.goto(compare(server, ids))
    drawn(page, 3)
    lines = page.evaluate(f"{chart('train/loss')}.spec.lines.map(l => [l.label, l.color])")
    colors = {li.get_attribute("data-run"): li.get_attribute("data-color")
              for li in page.locator(".chart-runs li").all()}
    assert lines == [[rid, colors[rid]] for rid in ids]
    assert len(set(colors.values())) == 3
    labels = page.evaluate(f"{chart('train/loss')}.plot.series.map(s => s.label)")
    assert all(labels.count(rid) == 1 for rid in ids)
    rows = page.locator(".chart-card[data-metric='train/loss'] .chart-table tbody tr")
    assert rows.count() == 3 and rows.nth(0).inner_text().startswith(ids[0])
    # val/sub/margin exists in one run only: one line, and the tree nests it under val
    assert page.evaluate(f"{chart('val/sub/margin')}.spec.lines.length") == 1
    assert page.locator("details[data-path='val'] details[data-path='val/sub'] .chart-card").count() == 1
    assert page.errors == []


def test_tooltip_lists_runs_best_first_and_the_cursor_is_synced(page, server):
    page.goto(compare(server, SWEEP[:3]))
    drawn(page, 3)
    b = box(page, "train/loss")
    page.mouse.move(b["x"] + b["width"] * 0.3, b["y"] + b["height"] / 2)
    tip = page.locator(".chart-card[data-metric='train/loss'] .chart-tip")
    tip.wait_for(state="visible")
    assert tip.locator(".tip-x").inner_text().startswith("step ")
    assert tip.locator(".tip-row .swatch").count() == 3
    values = [float(v) for v in tip.locator(".tip-val").all_inner_texts()]
    assert values == sorted(values)  # a loss: lowest first
    # the other charts' cursors follow, at the same step
    x = page.evaluate(f"(() => {{ const u = {chart('train/loss')}.plot; return u.data[0][u.cursor.idx] }})()")
    other = page.evaluate(f"(() => {{ const u = {chart('val/acc')}.plot; return u.posToVal(u.cursor.left, 'x') }})()")
    assert abs(other - x) < 2
    assert page.locator(".chart-card[data-metric='val/acc'] .chart-tip").is_hidden()


def test_drag_zoom_fetches_full_resolution_then_double_click_resets(page, server):
    page.goto(server + "/runs/big/version_0")
    drawn(page, 1)
    zoom_requests = []
    page.on("request", lambda r: zoom_requests.append(r.url) if "start=" in r.url and "end=" in r.url else None)
    in_range = f"""(() => {{ const u = {chart('train/loss')}.plot, lo = u.scales.x.min, hi = u.scales.x.max;
        return u.data[0].filter(x => x >= lo && x <= hi).length }})()"""
    full = page.evaluate(f"{chart('train/loss')}.plot.data[0].length")
    assert full == 2000  # 20,000 points, downsampled
    b = box(page, "train/loss")
    y = b["y"] + b["height"] / 2
    page.mouse.move(b["x"] + b["width"] * 0.40, y)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] * 0.45, y, steps=5)
    page.mouse.up()
    page.wait_for_selector("[data-charts][data-zoomed='1']")
    page.wait_for_function(in_range + " > 500")
    lo, hi = page.evaluate(f"(() => {{ const u = {chart('train/loss')}.plot; return [u.scales.x.min, u.scales.x.max] }})()")
    assert 7000 < lo < hi < 10000
    assert len(zoom_requests) == 1
    q = parse_qs(urlparse(zoom_requests[0]).query)
    assert abs(float(q["start"][0]) - lo) < 1 and abs(float(q["end"][0]) - hi) < 1
    # every logged step in the range is drawn
    assert page.evaluate(in_range) == math.floor(hi) - math.ceil(lo) + 1
    page.mouse.dblclick(b["x"] + b["width"] / 2, y)
    page.wait_for_function("!document.querySelector('[data-charts]').dataset.zoomed")
    page.wait_for_function(f"{chart('train/loss')}.plot.scales.x.max >= 19000")
    assert page.evaluate(f"{chart('train/loss')}.plot.data[0].length") == 2000
    assert page.errors == []


def test_smoothing_draws_tensorboards_ema_over_the_faint_raw_line(page, server):
    page.goto(server + f"/runs/{SWEEP[0]}")
    drawn(page, 3)
    raw_before = page.evaluate(f"{chart('train/loss')}.plot.data[1]")
    set_range(page, "smooth", "0.9")
    page.wait_for_function(f"{chart('train/loss')}.plot.series.some(s => s.label.endsWith('(smoothed)'))")
    data = page.evaluate(f"{chart('train/loss')}.plot.data")
    assert data[1] == raw_before  # the raw line is still drawn, unchanged
    last, n, want = 0.0, 0, []
    for y in raw_before:
        last = last * 0.9 + 0.1 * y
        n += 1
        want.append(last / (1 - 0.9 ** n))
    assert all(abs(a - b) < 1e-9 for a, b in zip(data[2], want))
    raw_stroke = page.evaluate(f"{chart('train/loss')}.plot.series[1]._stroke")
    assert len(raw_stroke) == 9  # #rrggbb plus an alpha: the raw line is faint
    assert params(page)["smooth"] == ["0.9"]
    assert page.locator("output[name=smooth-value]").inner_text() == "0.90"


def test_log_y_and_the_note_about_non_positive_values(page, server):
    page.goto(server + f"/runs/{SWEEP[0]}")
    drawn(page, 3)
    page.check("input[name=logy]")
    page.wait_for_function(f"{chart('train/loss')}.plot.scales.y.distr === 3")
    note = page.locator(".chart-card[data-metric='val/sub/margin'] .chart-note")
    assert "non-positive" in note.inner_text() and "log axis" in note.inner_text()
    assert params(page)["logy"] == ["1"]
    page.uncheck("input[name=logy]")
    page.wait_for_function(f"{chart('train/loss')}.plot.scales.y.distr === 1")
    assert note.is_hidden() and "logy" not in params(page)
    assert page.errors == []


def test_relative_time_axis_counts_seconds_from_the_runs_first_point(page, server):
    page.goto(server + f"/runs/{SWEEP[0]}")
    drawn(page, 3)
    page.select_option("select.x-axis", "relative")
    page.wait_for_function(f"{chart('train/loss')}?.plot?.data[0].at(-1) === 149.5")  # 300 points 0.5 s apart
    assert page.evaluate(f"{chart('train/loss')}.plot.data[0][0]") == 0
    b = box(page, "train/loss")
    page.mouse.move(b["x"] + b["width"] * 0.9, b["y"] + b["height"] / 2)
    head = page.locator(".chart-card[data-metric='train/loss'] .tip-x").inner_text()
    assert head.startswith("time since start ") and head.endswith("s")
    assert params(page)["x"] == ["relative"]


def test_reload_restores_axis_smoothing_and_log_y(page, server):
    page.goto(server + f"/runs/{SWEEP[1]}")
    drawn(page, 2)
    page.select_option("select.x-axis", "epoch")
    page.wait_for_function("location.search.includes('x=epoch')")
    set_range(page, "smooth", "0.75")
    page.check("input[name=logy]")
    page.wait_for_function("location.search.includes('logy=1')")
    page.reload()
    drawn(page, 2)
    assert page.locator("select.x-axis").input_value() == "epoch"
    assert page.locator("input[name=smooth]").input_value() == "0.75"
    assert page.locator("input[name=logy]").is_checked()
    u = chart("train/loss") + ".plot"
    assert page.evaluate(f"{u}.scales.y.distr") == 3
    assert page.evaluate(f"{u}.series.filter(s => s.label.endsWith('(smoothed)')).length") == 1
    assert page.evaluate(f"Math.max(...{u}.data[0])") == 2  # epochs 0..2


def test_the_chart_view_survives_a_visit_to_another_tab(page, server):
    page.goto(server + f"/runs/{SWEEP[1]}")
    drawn(page, 2)
    set_range(page, "smooth", "0.6")
    page.check("input[name=logy]")
    page.wait_for_function("location.search.includes('logy=1')")
    page.click("nav.tabs >> text=Config")
    page.wait_for_function("location.search.includes('tab=config')")
    assert params(page)["smooth"] == ["0.6"]  # kept in the address bar while on another tab
    page.click("nav.tabs >> text=Charts")
    drawn(page, 2)
    assert page.locator("input[name=smooth]").input_value() == "0.6"
    assert page.locator("input[name=logy]").is_checked()
    assert page.errors == []


def test_a_restarted_run_draws_its_last_segment_with_monotonic_steps(page, server):
    page.goto(server + "/runs/restarted/version_0")
    drawn(page, 1)
    xs = page.evaluate(f"{chart('train/loss')}.plot.data[0]")
    assert xs == list(range(200))
    ys = page.evaluate(f"{chart('train/loss')}.plot.data[1]")
    assert ys[120] == pytest.approx(1.12)  # after the restart's value, not the one it replaced
    assert "restarted: 50 points" in page.locator(".chart-card[data-metric='train/loss'] .chart-note").inner_text()


def test_png_and_csv_downloads_of_what_a_chart_shows(page, server, tmp_path):
    ids = SWEEP[:2]
    page.goto(compare(server, ids, "smooth=0.5"))
    drawn(page, 3)
    card = page.locator(".chart-card[data-metric='train/loss']")
    with page.expect_download() as dl:
        card.locator("button[data-export=csv]").click()
    assert dl.value.suggested_filename == "train_loss.csv"
    lines = open(dl.value.path()).read().splitlines()
    assert lines[0] == f"step,{ids[0]},{ids[0]} (smoothed),{ids[1]},{ids[1]} (smoothed)"
    assert len(lines) == 301
    first = lines[1].split(",")
    raw = page.evaluate(f"{chart('train/loss')}.plot.data.map(c => c[0])")
    assert first[0] == "0" and float(first[1]) == raw[1] and float(first[2]) == raw[1]  # smoothing starts at the value
    with page.expect_download() as dl:
        card.locator("button[data-export=png]").click()
    assert dl.value.suggested_filename == "train_loss.png"
    data = open(dl.value.path(), "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert page.errors == []


def test_csv_export_of_a_zoomed_chart_has_only_the_rows_in_range(page, server):
    page.goto(server + "/runs/big/version_0")
    drawn(page, 1)
    b = box(page, "train/loss")
    y = b["y"] + b["height"] / 2
    page.mouse.move(b["x"] + b["width"] * 0.5, y)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] * 0.52, y, steps=4)
    page.mouse.up()
    page.wait_for_function(f"""(() => {{ const u = {chart('train/loss')}.plot;
        return u.data[0].filter(x => x >= u.scales.x.min && x <= u.scales.x.max).length > 100 }})()""")
    lo, hi = page.evaluate(f"(() => {{ const u = {chart('train/loss')}.plot; return [u.scales.x.min, u.scales.x.max] }})()")
    with page.expect_download() as dl:
        page.locator(".chart-card[data-metric='train/loss'] button[data-export=csv]").click()
    lines = open(dl.value.path()).read().splitlines()
    assert lines[0] == "step,big/version_0"
    steps = [int(ln.split(",")[0]) for ln in lines[1:]]
    assert steps == list(range(math.ceil(lo), math.floor(hi) + 1))


def test_last_best_table_guesses_the_direction_and_the_toggle_sticks(page, server):
    page.goto(server + f"/runs/{SWEEP[0]}")
    drawn(page, 3)
    loss = page.locator(".chart-card[data-metric='train/loss'] .chart-table")
    acc = page.locator(".chart-card[data-metric='val/acc'] .chart-table")
    assert "lowest" in loss.locator(".better").inner_text() and "highest" in acc.locator(".better").inner_text()
    ys = [r[3] for r in sweep_rows(0, 0.1) if r[3] is not None]
    cells = acc.locator("tbody td").all_inner_texts()
    assert float(cells[1]) == pytest.approx(ys[-1], abs=1e-4)  # last
    assert float(cells[2]) == pytest.approx(max(ys), abs=1e-4)  # best
    assert cells[3] == str(50 * ys.index(max(ys)))  # at its step
    acc.locator(".better").click()
    page.wait_for_function("location.search.includes('better=val%2Facc%3Amin') || location.search.includes('better=val/acc:min')")
    assert "lowest" in acc.locator(".better").inner_text()
    assert float(acc.locator("tbody td").nth(2).inner_text()) == pytest.approx(min(ys), abs=1e-4)
    page.reload()
    drawn(page, 3)
    assert "lowest" in page.locator(".chart-card[data-metric='val/acc'] .better").inner_text()


def test_tree_sections_collapse_and_stay_collapsed_after_a_reload(page, server):
    page.goto(server + f"/runs/{SWEEP[0]}")
    drawn(page, 3)
    page.click("details[data-path='val'] > summary")
    page.wait_for_function("location.search.includes('fold=val')")
    assert page.locator("details[data-path='val'] .chart-card").first.is_hidden()
    page.reload()
    drawn(page, 1)   # the folded section's charts are not even created
    assert page.locator("details[data-path='val']").get_attribute("open") is None
    page.click("details[data-path='val'] > summary")
    drawn(page, 3)
    assert "fold" not in params(page)


def test_metric_filter_hides_other_charts_and_a_bad_pattern_says_so(page, server):
    page.goto(server + f"/runs/{SWEEP[0]}")
    drawn(page, 3)
    page.fill("input[name=metric]", "acc$")
    page.wait_for_function("document.querySelectorAll('.chart-card:not([hidden])').length === 1")
    assert page.locator(".chart-card:not([hidden])").get_attribute("data-metric") == "val/acc"
    assert page.locator("details[data-path='train']").is_hidden()
    assert params(page)["metric"] == ["acc$"]
    page.fill("input[name=metric]", "sub/(m")
    page.wait_for_function("document.querySelectorAll('.chart-card:not([hidden])').length === 0")
    assert "not a valid pattern" in page.locator(".chart-filter-error").inner_text()
    page.fill("input[name=metric]", "")
    page.wait_for_function("document.querySelectorAll('.chart-card:not([hidden])').length === 3")
    assert page.locator(".chart-filter-error").is_hidden()


def test_mean_of_each_group_of_seeds_with_its_band(page, server):
    page.goto(compare(server, SWEEP, "agg=mean"))
    drawn(page, 3)
    lines = page.evaluate(f"{chart('train/loss')}.spec.lines.map(l => [l.kind, l.label, l.color])")
    groups = [ln for ln in lines if ln[0] == "group"]
    assert [g[1] for g in groups] == ["mean of lr=0.1 (3)", "mean of lr=0.3 (2)"]
    members = [ln for ln in lines if ln[0] == "member"]
    assert len(members) == 5 and {m[2] for m in members} == {g[2] for g in groups}  # a group's runs share its colour
    assert page.evaluate(f"{chart('train/loss')}.plot.bands.length") == 2
    # the mean at step 0 is the mean of the group's first values
    want = sum(sweep_rows(i, 0.1)[0][2] for i in range(3)) / 3
    got = page.evaluate(f"{chart('train/loss')}.spec.lines[0].ys[0]")
    assert got == pytest.approx(want)
    page.select_option("select[name=group]", "all")
    page.wait_for_function(f"{chart('train/loss')}.spec.lines.filter(l => l.kind === 'group').length === 1")
    page.select_option("select[name=spread]", "std")
    page.wait_for_function("location.search.includes('spread=std')")
    assert "group=all" in page.url and "agg=mean" in page.url
    assert page.locator(".chart-card[data-metric='train/loss'] tr.group-row").count() == 1
    assert page.errors == []


def test_a_live_row_extends_the_right_runs_line_and_keeps_the_zoom(page, server, tree):
    a, b_id = "live/a/version_0", "live/b/version_0"
    page.add_init_script("document.addEventListener('htmx:sseOpen', () => { window.streamOpen = true; })")
    page.goto(compare(server, [a, b_id]))
    drawn(page, 1)
    length = f"(rid) => {chart('train/loss')}.spec.lines.find(l => l.label === rid).xs.length"
    assert page.evaluate(length, a) == 10 and page.evaluate(length, b_id) == 10

    def append(step, value):
        with open(os.path.join(tree, a, "metrics.csv"), "a") as f:
            f.write(f"0,{step},{value},,,{T0 + step}\n")

    page.wait_for_function("window.streamOpen === true")  # subscribed: the append comes after
    append(10, 0.0123)
    page.wait_for_function(f"({length})({a!r}) === 11", timeout=10000)
    assert page.evaluate(length, b_id) == 10
    row = page.locator(".chart-card[data-metric='train/loss'] .chart-table tbody tr", has_text=a)
    assert "0.0123" in row.inner_text()
    # zoomed in, a new row leaves the zoom alone and still reaches the table
    b = box(page, "train/loss")
    y = b["y"] + b["height"] / 2
    page.mouse.move(b["x"] + b["width"] * 0.2, y)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] * 0.6, y, steps=4)
    page.mouse.up()
    page.wait_for_selector("[data-charts][data-zoomed='1']")
    scale = page.evaluate(f"(() => {{ const u = {chart('train/loss')}.plot; return [u.scales.x.min, u.scales.x.max] }})()")
    append(11, 0.0042)
    page.wait_for_function("(rid) => [...window.tailboard.chartViews.values()][0].data.get(rid).series['train/loss'].x.length === 12", arg=a, timeout=10000)
    assert page.evaluate(f"(() => {{ const u = {chart('train/loss')}.plot; return [u.scales.x.min, u.scales.x.max] }})()") == scale
    assert "0.0042" in row.inner_text()
    page.mouse.dblclick(b["x"] + b["width"] / 2, y)
    page.wait_for_function(f"({length})({a!r}) === 12")
    assert page.errors == []


def test_a_live_step_going_back_refetches_and_draws_the_restart_without_a_zigzag(page, server, tree):
    rid = "live/b/version_0"
    page.add_init_script("document.addEventListener('htmx:sseOpen', () => { window.streamOpen = true; })")
    page.goto(f"{server}/runs/{rid}")
    drawn(page, 1)
    page.wait_for_function("window.streamOpen === true")
    fetches = []
    page.on("request", lambda r: fetches.append(r.url) if "/metrics" in r.url else None)
    with open(os.path.join(tree, rid, "metrics.csv"), "a") as f:
        f.write(f"0,5,9.5,,,{T0 + 20}\n")  # resumed from the checkpoint of step 5
    page.wait_for_function(f"{chart('train/loss')}.plot.data[0].length === 6")
    assert page.evaluate(f"{chart('train/loss')}.plot.data[0]") == [0, 1, 2, 3, 4, 5]
    assert page.evaluate(f"{chart('train/loss')}.plot.data[1][5]") == 9.5
    assert len(fetches) == 1  # the page asked the server, which drops what the restart replaced
    assert "restarted: 5 points" in page.locator(".chart-card[data-metric='train/loss'] .chart-note").inner_text()


def test_draw_time_is_exposed(page, server):
    page.goto(compare(server, SWEEP))
    drawn(page, 3)
    page.wait_for_selector("[data-charts][data-draw-ms]")
    assert float(page.get_attribute("[data-charts]", "data-draw-ms")) > 0
