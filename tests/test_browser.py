"""A real browser (Debian's chromium driven by Playwright) sees the runs and drawn charts."""
from __future__ import annotations

from conftest import LIGHTNING_ID, SPT_ID


PAINTED = """(canvas) => {
  const ctx = canvas.getContext('2d');
  const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n++;
  return n;
}"""


def test_overview_shows_rows_and_filter_narrows_them(page, live_server):
    page.goto(live_server + "/")
    rows = page.locator("tr.run-row")
    rows.first.wait_for()
    assert rows.count() == 5
    page.fill("input[name=q]", "keras")
    page.wait_for_function("document.querySelectorAll('tr.run-row').length === 1")
    assert page.locator("tr.run-row").get_attribute("data-run") == "keras"
    assert "q=keras" in page.url  # the filter is in the URL, so a reload keeps it
    assert page.errors == []


def test_run_page_draws_one_chart_per_metric(page, live_server):
    page.goto(f"{live_server}/runs/{LIGHTNING_ID}")
    page.wait_for_selector("[data-drawn='4']")
    canvases = page.locator(".chart-card canvas")
    assert canvases.count() == 4
    for i in range(4):
        assert canvases.nth(i).evaluate(PAINTED) > 200, "chart canvas is blank"
    titles = page.locator(".chart-card .chart-title b").all_inner_texts()
    assert sorted(titles) == ["lr", "train/loss", "val/acc", "val/loss"]
    assert page.errors == []


def test_switching_tabs_and_axis_keeps_charts_working(page, live_server):
    page.goto(f"{live_server}/runs/{SPT_ID}")
    page.wait_for_selector("[data-drawn='4']")
    page.select_option("select.x-axis", "epoch")
    page.wait_for_function("location.search.includes('x=epoch')")
    page.wait_for_selector("[data-drawn='4']")
    page.click("nav.tabs >> text=Logs")
    page.wait_for_selector("pre.log")
    assert "Caching features: 100%" in page.locator("pre.log").first.inner_text()
    page.click("nav.tabs >> text=Media")
    page.wait_for_selector(".media-item img")
    assert page.locator(".media-item img").count() == 2  # each tag shows its latest step
    page.click("nav.tabs >> text=Charts")
    page.wait_for_selector("[data-drawn='4']")
    # swapping the charts out destroyed the old uPlot instances instead of leaking them
    assert page.evaluate("window.tailboard.charts.size") == 1
    assert page.errors == []


def test_chart_and_log_view_update_live_after_a_write(page, live_server, samples):
    page.goto(f"{live_server}/runs/{SPT_ID}")
    page.wait_for_selector("[data-drawn='4']")
    count = ("(() => { const items = [...window.tailboard.charts.values()][0];"
             " return items.find(i => i.name === 'train/loss').plot.data[0].length })()")
    assert page.evaluate(count) == 12
    run = samples / "spt" / "runs" / "20261121" / "142732" / "1c80a3b1799d"
    with open(run / "metrics.csv", "a") as f:
        f.write("3,0.05,51,0.25,,\r\n")
    page.wait_for_function(count + " === 13", timeout=10000)
    assert page.locator(".chart-card[data-metric='train/loss'] .chart-title").inner_text().count("0.25") == 1
    # the log view follows the file as it grows
    page.click("nav.tabs >> text=Logs")
    page.wait_for_selector("pre.log")
    page.wait_for_function("window.tailboard.followers.size === 2")
    with open(run / "train.out", "a") as f:
        f.write("Epoch   3 | step    64 | a live line\n")
    page.wait_for_function(
        "[...document.querySelectorAll('pre.log')].some(p => p.innerText.includes('a live line'))", timeout=10000)
    assert page.errors == []


def test_overview_row_updates_live_when_a_run_changes(page, live_server, samples):
    import json

    page.goto(live_server + "/")
    page.wait_for_selector(f"tr[data-run='{SPT_ID}'] .badge-completed")
    sidecar = samples / "spt" / "runs" / "20261121" / "142732" / "1c80a3b1799d" / "sidecar.json"
    data = json.loads(sidecar.read_text())
    data["status"] = "failed"
    sidecar.write_text(json.dumps(data))
    page.wait_for_selector(f"tr[data-run='{SPT_ID}'] .badge-failed", timeout=10000)
    page.wait_for_selector("#count-failed[data-n='1']")
    (samples / "brand-new").mkdir()
    (samples / "brand-new" / "metrics.jsonl").write_text('{"step": 1, "loss": 1.0}\n')
    page.wait_for_selector("tr[data-run='brand-new']", timeout=10000)
    assert page.errors == []
