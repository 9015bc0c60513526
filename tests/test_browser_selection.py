"""The overview's selection, in a real browser (Debian's chromium through Playwright): hiding
runs in this browser (table, charts, the "N hidden · show" control, localStorage, the URL form),
copying the selected runs' folders to the clipboard, one CSV of every point of them, and the
parallel coordinates panel of the selection, whose brushes can filter the table."""
from __future__ import annotations

import csv
import io
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from live_clients import start_server, stop_server
from test_browser_pcoords import IDS, drag, highlighted, tick_y, write_sweep


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("sel") / "runs"
    write_sweep(root)
    proc, url = start_server("flask", root, VIEWER_HEARTBEAT="2")
    yield url, root
    stop_server(proc)


def rows(page):
    """Run ids of the table rows a user sees."""
    return sorted(page.locator("#runs tr.run-row:visible").evaluate_all("trs => trs.map(t => t.dataset.run)"))


def select(page, *ids):
    for rid in ids:
        page.check(f"#runs input.run-select[value='{rid}']")


def query(page):
    return parse_qs(urlparse(page.url).query)


def open_overview(page, base, **params):
    page.goto(base + "/" + ("?" + urlencode(params, doseq=True) if params else ""))
    page.wait_for_selector("#runs tr.run-row", state="attached")


def test_hidden_runs_leave_table_and_charts_persist_and_come_back(page, server):
    base, _ = server
    open_overview(page, base)
    assert rows(page) == IDS
    select(page, "pc/a", "pc/c")
    page.click("#runs .sel-hide")
    page.wait_for_function("document.querySelectorAll('#runs tr.run-row[hidden]').length === 2")
    assert rows(page) == ["pc/b", "pc/d", "pc/e"]
    assert page.locator("[data-hidden-slot]").inner_text().startswith("2 hidden")
    assert query(page)["hidden"] == ["pc/a", "pc/c"]
    assert "sel" not in query(page)   # hidden runs leave the selection
    # kept in this browser: a plain visit to the overview hides them too, and says so in its URL
    open_overview(page, base)
    assert rows(page) == ["pc/b", "pc/d", "pc/e"]
    assert query(page)["hidden"] == ["pc/a", "pc/c"]
    # a table request (a sort) keeps them hidden and in the URL
    page.click("#runs th[data-col='name'] a.sort")
    page.wait_for_function("new URLSearchParams(location.search).get('sort') === 'name'")
    assert rows(page) == ["pc/b", "pc/d", "pc/e"]
    assert query(page)["hidden"] == ["pc/a", "pc/c"]
    # the compare page's table shows no column of theirs
    page.goto(base + "/compare?" + urlencode([("run", rid) for rid in IDS] + [("tab", "table")]))
    page.wait_for_selector("table.compare-table")
    assert page.locator(".compare-table th.compare-run:visible").count() == 3
    assert page.locator(".compare-table td[data-run='pc/a']").count() > 0
    assert page.locator(".compare-table td[data-run='pc/a']:visible").count() == 0
    # the compare page's charts leave them out (their list of runs, what the charts draw)
    page.goto(base + "/compare?" + urlencode([("run", rid) for rid in IDS]))
    page.wait_for_selector(".chart-card, .chart")
    drawn = page.evaluate("Array.from(window.tailboard.chartViews.values())[0].runs.map(r => r.id)")
    assert sorted(drawn) == ["pc/b", "pc/d", "pc/e"]
    assert page.locator(".compare-chip:visible").count() == 3
    # "show" brings them back, on the compare page (drawn again) and on the overview
    page.click("[data-hidden-slot] .hidden-show")
    page.wait_for_function("document.querySelectorAll('.chart-runs li[data-run]').length === 5")
    assert "hidden" not in query(page)
    open_overview(page, base)
    assert rows(page) == IDS
    assert page.locator("[data-hidden-slot]").is_hidden()
    assert page.errors == []


def test_a_link_with_hidden_hides_those_runs_in_a_fresh_browser(page, server):
    base, _ = server
    open_overview(page, base, hidden=["pc/e"])
    assert rows(page) == ["pc/a", "pc/b", "pc/c", "pc/d"]
    assert page.locator("[data-hidden-slot]").inner_text().startswith("1 hidden")
    page.click("[data-hidden-slot] .hidden-show")
    page.wait_for_function("!new URLSearchParams(location.search).has('hidden')")
    assert rows(page) == IDS
    assert page.errors == []


def test_copy_paths_puts_the_absolute_folders_in_the_clipboard(page, server):
    base, root = server
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    open_overview(page, base)
    select(page, "pc/b", "pc/d")
    page.click("#runs .sel-copy")
    page.wait_for_function("document.querySelector('#runs .sel-status').textContent.startsWith('copied')")
    text = page.evaluate("navigator.clipboard.readText()")
    assert sorted(text.split()) == [str(root / "pc/b"), str(root / "pc/d")]
    assert page.errors == []


def test_export_csv_downloads_every_point_of_the_selected_runs(page, server):
    base, root = server
    open_overview(page, base)
    select(page, "pc/a", "pc/e")
    with page.expect_download() as dl:
        page.click("#runs .sel-export")
    download = dl.value
    assert download.suggested_filename == "2-runs-metrics.csv"
    lines = list(csv.reader(io.StringIO(open(download.path()).read())))
    assert lines[0] == ["run", "metric", "step", "epoch", "time", "value"]
    got = sorted((r[0], r[1], r[2], float(r[5])) for r in lines[1:])
    want = []
    for rid in ("pc/a", "pc/e"):   # the files themselves
        text = (root / rid / "metrics.csv").read_text().splitlines()
        want += [(rid, "val/loss", step, float(v)) for step, v in (ln.split(",") for ln in text[1:])]
    assert got == sorted(want)
    assert page.errors == []


def test_parallel_coordinates_of_the_selection_filter_the_table(page, server):
    base, _ = server
    open_overview(page, base)
    select(page, *IDS)
    page.click("#runs .sel-pcoords")
    page.wait_for_selector("#pc-panel .pc-axis[data-key='hp:lr']")
    assert query(page)["pc"] == ["1"]
    assert page.locator("#pc-panel .pc-run").count() == 5
    grab = page.locator(".pc-axis[data-key='hp:opt'] .pc-grab").bounding_box()
    drag(page, grab, tick_y(page, "hp:opt", "sgd") - 8, tick_y(page, "hp:opt", "sgd") + 8)
    assert highlighted(page) == ["pc/c", "pc/d"]
    assert rows(page) == IDS   # the table is not filtered until asked
    page.check("#pc-panel .pc-filter")
    assert rows(page) == ["pc/c", "pc/d"]
    assert query(page)["pcf"] == ["1"]
    # a reload brings back the panel, its brush and the filtered table
    page.reload()
    page.wait_for_selector("#pc-panel .pc-axis .pc-brush[visibility=visible]")
    assert highlighted(page) == ["pc/c", "pc/d"]
    assert rows(page) == ["pc/c", "pc/d"]
    # dropping a run from the selection redraws the panel without it (the brush stays)
    page.uncheck("#runs input.run-select[value='pc/c']")
    page.wait_for_function("document.querySelectorAll('#pc-panel .pc-run').length === 4")
    assert highlighted(page) == ["pc/d"]
    assert rows(page) == ["pc/d"]
    page.click("#pc-panel .pc-close")
    assert page.locator("#pc-panel").is_hidden()
    assert rows(page) == IDS
    assert page.errors == []
