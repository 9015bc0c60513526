"""The compare view in a real browser (Debian's chromium through Playwright): the table's
highlighted cells and "only differences", adding and removing runs, the scatter's points, axes
and log toggles, the URL restoring the view, and live updates when a run writes."""
from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import pytest

from builders import csv_text
from live_clients import start_server, stop_server
from test_compare import IDS, SWEEP, sweep_run

# how many canvas pixels have (about) a colour: a drawn point of that run's colour
PIXELS_OF = """(canvas, hex) => {
  const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4)
    if (d[i + 3] > 200 && Math.abs(d[i] - want[0]) < 40 && Math.abs(d[i + 1] - want[1]) < 40
        && Math.abs(d[i + 2] - want[2]) < 40) n++;
  return n;
}"""


@pytest.fixture
def sweep_server(tmp_path):
    root = tmp_path / "runs"
    for rid, (hp, summary) in SWEEP.items():
        names = sorted(summary)
        sweep_run(root, rid, hp, summary, metrics=csv_text(["step", *names], [[1, *(summary[n] for n in names)]]))
    proc, url = start_server("flask", root, VIEWER_HEARTBEAT="2")
    yield url, root
    stop_server(proc)


def query(page):
    return parse_qs(urlparse(page.url).query)


def compare_url(base, ids, **params):
    from urllib.parse import urlencode

    return base + "/compare?" + urlencode([("run", rid) for rid in ids] + list(params.items()))


def cells(page, key):
    return page.locator(f"tr.compare-row[data-key='{key}'] td")


def test_table_highlights_exactly_the_differing_cells(page, sweep_server):
    base, _ = sweep_server
    page.goto(compare_url(base, IDS, tab="table"))
    page.wait_for_selector("table.compare-table")
    # data.batch is 32 in three runs and the string "32" in the fourth: only that cell
    assert [("odd" in c) for c in cells(page, "hp:data.batch").evaluate_all("tds => tds.map(t => t.className)")] \
        == [False, False, False, True]
    assert cells(page, "hp:model.name").nth(2).inner_text() == "resnet"
    highlighted = page.locator("td.odd")
    # the highlight is visible: a background the equal cells do not have
    odd_bg = highlighted.first.evaluate("td => getComputedStyle(td).backgroundColor")
    same_bg = cells(page, "hp:model.depth").first.evaluate("td => getComputedStyle(td).backgroundColor")
    assert odd_bg != same_bg
    # equal rows are dimmed
    assert float(cells(page, "hp:model.depth").first.evaluate("td => getComputedStyle(td).opacity")) < 1
    assert page.errors == []


def test_only_differences_hides_equal_rows_and_is_in_the_url(page, sweep_server):
    base, _ = sweep_server
    page.goto(compare_url(base, IDS, tab="table"))
    page.wait_for_selector("tr.compare-row[data-key='hp:model.depth']")
    shown = page.locator("tr.compare-row").count()
    page.check("#compare-diff")
    page.wait_for_function("!document.querySelector(\"tr.compare-row[data-key='hp:model.depth']\")")
    assert page.locator("tr.compare-row.same").count() == 0
    assert 0 < page.locator("tr.compare-row").count() < shown
    assert query(page)["diff"] == ["1"]
    # the checkbox keeps the keyboard focus across the swap
    assert page.evaluate("document.activeElement.id") == "compare-diff"
    page.reload()
    page.wait_for_selector("table.compare-table")
    assert page.is_checked("#compare-diff") and page.locator("tr.compare-row.same").count() == 0
    assert page.errors == []


def test_removing_and_adding_a_run_changes_the_columns_and_the_url(page, sweep_server):
    base, _ = sweep_server
    page.goto(compare_url(base, IDS[:3], tab="table"))
    heads = page.locator("th.compare-run")
    heads.first.wait_for()
    assert heads.evaluate_all("ths => ths.map(t => t.dataset.run)") == IDS[:3]
    page.click(f"th.compare-run[data-run='{IDS[1]}'] .compare-remove")
    page.wait_for_function("document.querySelectorAll('th.compare-run').length === 2")
    assert heads.evaluate_all("ths => ths.map(t => t.dataset.run)") == [IDS[0], IDS[2]]
    assert query(page)["run"] == [IDS[0], IDS[2]] and query(page)["tab"] == ["table"]
    page.fill("#compare-add-run", IDS[3])
    page.press("#compare-add-run", "Enter")
    page.wait_for_function("document.querySelectorAll('th.compare-run').length === 3")
    assert heads.evaluate_all("ths => ths.map(t => t.dataset.run)") == [IDS[0], IDS[2], IDS[3]]
    assert query(page)["run"] == [IDS[0], IDS[2], IDS[3]]
    # the "add" input offers the runs not compared yet
    options = page.locator("#compare-choices option").evaluate_all("os => os.map(o => o.value)")
    assert options == [IDS[1]]
    assert page.errors == []


def test_clicking_a_row_sorts_the_runs(page, sweep_server):
    base, _ = sweep_server
    page.goto(compare_url(base, IDS, tab="table"))
    page.click("tr.compare-row[data-key='m:val/loss'] th a")
    page.wait_for_selector("tr.compare-row[data-key='m:val/loss'] th[aria-sort='ascending']")
    order = page.locator("th.compare-run").evaluate_all("ths => ths.map(t => t.dataset.run)")
    assert order == [IDS[1], IDS[2], IDS[3], IDS[0]]        # val/loss 0.5, 0.7, 0.8, 0.9
    assert query(page)["sort"] == ["m:val/loss"]
    page.click("tr.compare-row[data-key='m:val/loss'] th a")
    page.wait_for_selector("tr.compare-row[data-key='m:val/loss'] th[aria-sort='descending']")
    assert page.locator("th.compare-run").first.get_attribute("data-run") == IDS[0]
    assert page.errors == []


def scatter_state(page):
    return page.evaluate("""() => {
      const [item] = [...window.tailboard.comparePlots.values()];
      const u = item.plot;
      return {points: item.points.map(p => ({id: p.id, color: p.color,
                 left: u.valToPos(p.x, 'x'), top: u.valToPos(p.y, 'y')})),
              distrX: u.scales.x.distr, distrY: u.scales.y.distr};
    }""")


def test_scatter_draws_one_point_per_run_and_redraws_on_new_columns(page, sweep_server):
    base, _ = sweep_server
    page.goto(compare_url(base, IDS, tab="scatter"))
    page.wait_for_selector(".compare-scatter[data-drawn='3']")
    canvas = page.locator(".compare-plot canvas")
    state = scatter_state(page)
    assert [p["id"] for p in state["points"]] == IDS[:3]
    for p in state["points"]:   # each run's colour is on the canvas
        assert canvas.evaluate(PIXELS_OF, p["color"]) > 20, p["id"]
    # the run without a learning rate is listed, not drawn
    assert "nolr_s1" in page.locator(".compare-skipped").inner_text()
    assert page.input_value("#compare-sx") == "hp:optim.lr" and page.input_value("#compare-sy") == "m:val/loss"
    # hovering a point names the run and both values; this is the 1e-3 run (val/loss 0.5)
    box = page.locator(".compare-plot .u-over").bounding_box()
    p = state["points"][1]
    page.mouse.move(box["x"] + p["left"], box["y"] + p["top"])
    tip = page.locator(".compare-tip")
    tip.wait_for(state="visible")
    assert "lr1e-3_s0" in tip.inner_text() and "val/loss = 0.5" in tip.inner_text()
    # other columns: y = val/acc (the fourth run has none, so it stays out)
    page.select_option("#compare-sy", "m:val/acc")
    page.wait_for_function("new URLSearchParams(location.search).get('sy') === 'm:val/acc'")
    page.wait_for_selector(".compare-scatter[data-drawn='3']")
    tops = [q["top"] for q in scatter_state(page)["points"]]
    assert tops[1] < tops[2] < tops[0]                         # acc 0.8 highest, then 0.7, 0.6
    page.select_option("#compare-sx", "hp:seed")
    page.wait_for_function("new URLSearchParams(location.search).get('sx') === 'hp:seed'")
    page.wait_for_selector(".compare-scatter[data-drawn='3']")
    assert page.input_value("#compare-sx") == "hp:seed"
    assert page.errors == []


def test_clicking_a_point_opens_its_run(page, sweep_server):
    base, _ = sweep_server
    page.goto(compare_url(base, IDS, tab="scatter"))
    page.wait_for_selector(".compare-scatter[data-drawn='3']")
    p = scatter_state(page)["points"][2]
    box = page.locator(".compare-plot .u-over").bounding_box()
    page.mouse.move(box["x"] + p["left"], box["y"] + p["top"])
    page.locator(".compare-tip").wait_for(state="visible")
    page.mouse.click(box["x"] + p["left"], box["y"] + p["top"])
    page.wait_for_url(f"**/runs/{IDS[2]}")
    assert page.errors == []


def test_log_x_spreads_a_learning_rate_sweep_evenly(page, sweep_server):
    base, _ = sweep_server
    page.goto(compare_url(base, IDS, tab="scatter"))
    page.wait_for_selector(".compare-scatter[data-drawn='3']")
    lin = [p["left"] for p in scatter_state(page)["points"]]
    assert lin[1] - lin[0] < 0.2 * (lin[2] - lin[1])          # 1e-4 and 1e-3 squashed together
    page.check("#compare-slx")
    page.wait_for_function("new URLSearchParams(location.search).get('slx') === '1'")
    page.wait_for_selector(".compare-scatter[data-drawn='3']")
    state = scatter_state(page)
    assert state["distrX"] == 3 and state["distrY"] == 1
    left = [p["left"] for p in state["points"]]
    assert abs((left[1] - left[0]) - (left[2] - left[1])) < 3  # a decade each: even spacing
    page.check("#compare-sly")
    page.wait_for_function("new URLSearchParams(location.search).get('sly') === '1'")
    page.wait_for_selector(".compare-scatter[data-drawn='3']")
    assert scatter_state(page)["distrY"] == 3
    assert page.errors == []


def test_reload_restores_tab_diff_and_axes(page, sweep_server):
    base, _ = sweep_server
    page.goto(compare_url(base, IDS, tab="table"))
    page.wait_for_selector("table.compare-table")
    page.check("#compare-diff")
    page.wait_for_function("new URLSearchParams(location.search).get('diff') === '1'")
    page.click("nav.tabs a[data-tab='scatter']")
    page.wait_for_selector(".compare-scatter[data-drawn]")
    page.select_option("#compare-sx", "hp:seed")
    page.wait_for_function("new URLSearchParams(location.search).get('sx') === 'hp:seed'")
    # the body the x choice brought is swapped in and settled: a change made before would be
    # made on the controls being replaced (the URL can be pushed before the settle ends)
    page.wait_for_function("!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")
    page.wait_for_selector(".compare-scatter[data-drawn]")
    page.select_option("#compare-sy", "m:val/acc")
    page.wait_for_function("new URLSearchParams(location.search).get('sy') === 'm:val/acc'")
    page.reload()
    page.wait_for_selector(".compare-scatter[data-drawn]")
    assert page.locator("nav.tabs a.on").get_attribute("data-tab") == "scatter"
    assert page.input_value("#compare-sx") == "hp:seed" and page.input_value("#compare-sy") == "m:val/acc"
    page.click("nav.tabs a[data-tab='table']")
    page.wait_for_selector("table.compare-table")
    assert page.is_checked("#compare-diff")                   # diff survived the tab switches
    page.go_back()                                            # history: back to the scatter
    page.wait_for_selector("#compare-sx")
    assert page.input_value("#compare-sx") == "hp:seed"
    assert page.errors == []


def test_a_hidden_run_leaves_the_scatter_and_its_legend_and_show_brings_it_back(page, sweep_server):
    base, _ = sweep_server
    page.goto(compare_url(base, IDS, tab="scatter", hidden=IDS[1]))
    page.wait_for_selector(".compare-scatter[data-drawn='2']")
    assert [p["id"] for p in scatter_state(page)["points"]] == [IDS[0], IDS[2]]
    assert page.locator(f".compare-legend li[data-run='{IDS[1]}']").is_hidden()
    assert page.locator(f".compare-legend li[data-run='{IDS[0]}']").is_visible()
    assert "1 hidden" in page.locator("[data-hidden-slot]").first.inner_text()
    page.click("[data-hidden-slot] .hidden-show")
    page.wait_for_selector(".compare-scatter[data-drawn='3']")
    assert [p["id"] for p in scatter_state(page)["points"]] == IDS[:3]
    assert page.locator(f".compare-legend li[data-run='{IDS[1]}']").is_visible()
    assert page.errors == []


def test_table_and_scatter_follow_a_run_that_writes(page, sweep_server):
    base, root = sweep_server
    page.goto(compare_url(base, IDS[:3], tab="table"))
    cell = cells(page, "m:val/loss").nth(2)
    assert cell.inner_text() == "0.7"
    with open(root / IDS[2] / "metrics.csv", "a") as f:   # the third run: not the stream's first
        f.write("2,0.7,0.25\n")
    page.wait_for_function(
        "document.querySelectorAll(\"tr.compare-row[data-key='m:val/loss'] td\")[2].innerText === '0.25'",
        timeout=15000)
    page.click("nav.tabs a[data-tab='scatter']")
    page.wait_for_selector(".compare-scatter[data-drawn='3']")
    before = scatter_state(page)["points"][0]["top"]
    with open(root / IDS[0] / "metrics.csv", "a") as f:
        f.write("2,0.6,0.1\n")
    page.wait_for_function("""() => {
      const [item] = [...window.tailboard.comparePlots.values()];
      return item && item.points[0].y === 0.1;
    }""", timeout=15000)
    assert scatter_state(page)["points"][0]["top"] != before
    assert page.errors == []


def test_keyboard_reaches_the_controls(page, sweep_server):
    base, _ = sweep_server
    page.goto(compare_url(base, IDS[:2], tab="table"))
    page.wait_for_selector("table.compare-table")
    page.focus("#compare-diff")
    page.keyboard.press("Space")
    page.wait_for_function("new URLSearchParams(location.search).get('diff') === '1'")
    page.focus("nav.tabs a[data-tab='scatter']")
    page.keyboard.press("Enter")
    page.wait_for_selector("#compare-sx")
    assert json.loads(page.locator("[data-scatter-data]").text_content())["x"] == "optim.lr"
    assert page.errors == []


def test_charts_tab_overlays_the_compared_runs(page, sweep_server):
    base, _ = sweep_server
    page.goto(compare_url(base, IDS[:2]))
    assert page.locator("nav.tabs a.on").get_attribute("data-tab") == "charts"
    page.wait_for_selector(".charts-panel canvas")
    page.click("nav.tabs a[data-tab='table']")        # swapping the charts out must not fail
    page.wait_for_selector("table.compare-table")
    assert page.errors == []
