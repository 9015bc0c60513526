"""Issue 13 item 2 in Debian's chromium: a big run's chart is drawn at once from a sample, then
refined in place (same plot, the user's zoom kept) when the full answer comes.

``VIEWER_COARSE_MB`` is set low so that a 30,000-row file takes the big-run path. The browser
holds the full answer back until the test has zoomed (a network route), so the refinement
always comes after the zoom, however fast the server parses.
"""
from __future__ import annotations

import math

import pytest

from builders import csv_text, sidecar, spt_run
from live_clients import start_server, stop_server
from test_progressive import HEADER, ROWS, rows

CHART = "[...window.tailboard.chartViews.values()][0]"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("progressive")
    spt_run(root / "big", sidecar("big"), metrics=csv_text(HEADER, rows(0, ROWS), "\r\n"))
    proc, url = start_server("flask", root, VIEWER_COARSE_MB="0.1")
    yield url
    stop_server(proc)


def scale(page):
    return page.evaluate(f"(() => {{ const u = {CHART}.charts.get('train/loss').plot; return [u.scales.x.min, u.scales.x.max] }})()")


def count(page):
    return page.evaluate(f"{CHART}.data.get('big').series['train/loss'].count")


def test_a_big_run_draws_a_sample_then_refines_in_place_keeping_the_zoom(page, server):
    held, asked = [], []

    def route(r):
        url = r.request.url
        asked.append(url)
        if "coarse=1" in url or "start=" in url:
            r.continue_()  # the first answer and the zoom's full-resolution fetch
        else:
            held.append(r)  # the full answer: after the zoom

    page.route(lambda url: "/api/runs/big/metrics" in url, route)
    page.goto(server + "/runs/big")
    page.wait_for_selector("[data-charts][data-coarse='1'] .chart-card[data-metric='train/loss'] .uplot")
    assert 1000 < count(page) < ROWS / 2, "drawn from a sample of the file"
    plot = page.locator(".chart-card[data-metric='train/loss'] .uplot").element_handle()
    # the user zooms on the coarse chart
    b = page.locator(".chart-card[data-metric='train/loss'] .u-over").bounding_box()
    y = b["y"] + b["height"] / 2
    page.mouse.move(b["x"] + b["width"] * 0.30, y)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] * 0.50, y, steps=5)
    page.mouse.up()
    page.wait_for_selector("[data-charts][data-zoomed='1']")
    zoomed = scale(page)
    assert 0.25 * ROWS < zoomed[0] < zoomed[1] < 0.55 * ROWS
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(100)
    assert held, f"the chart never asked for the full answer: {asked}"
    for r in held:
        r.continue_()
    page.wait_for_selector("[data-charts][data-refined='1']:not([data-coarse])", timeout=30000)
    assert count(page) == ROWS, "full resolution after the refinement"
    assert plot.evaluate("el => el.isConnected"), "refined in place: the same plot, no rebuild"
    assert scale(page) == zoomed, "the user's zoom is kept"
    assert page.locator("[data-charts][data-zoomed='1']").count() == 1
    # the zoom's own fetch was full resolution: it counts every logged step in the range
    lo, hi = zoomed
    assert page.evaluate(f"{CHART}.zoom.data.get('big').series['train/loss'].count") == math.floor(hi) - math.ceil(lo) + 1
    assert page.errors == []
