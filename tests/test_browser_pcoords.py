"""Parallel coordinates in a real browser (Debian's chromium through Playwright): an axis per
differing hparam, log and categorical axes, brushing (the highlighted lines, the count, the
URL, a reload), hover naming the run, click opening it, reordering and colouring; and the
overview's panel for the selected runs, whose brush can filter the table."""
from __future__ import annotations

import json
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from builders import csv_text, sidecar, spt_run
from live_clients import start_server, stop_server

# id -> hparams, last val/loss; lr spans four decades (a log axis by default), opt is text and
# amp a boolean (categorical axes), depth is the same everywhere (no axis by default)
SWEEP = {
    "pc/a": ({"lr": 1e-4, "opt": "adam", "amp": True, "depth": 4}, 0.9),
    "pc/b": ({"lr": 1e-3, "opt": "adam", "amp": False, "depth": 4}, 0.5),
    "pc/c": ({"lr": 1e-2, "opt": "sgd", "amp": True, "depth": 4}, 0.3),
    "pc/d": ({"lr": 1e-1, "opt": "sgd", "amp": False, "depth": 4}, 0.7),
    "pc/e": ({"lr": 1.0, "opt": "lion", "amp": True, "depth": 4}, 1.1),
}
IDS = list(SWEEP)


def write_sweep(root, runs=SWEEP):
    for rid, (hp, last) in runs.items():
        rows = [[s, last + (3 - s) * 0.1] for s in range(4)]   # val/loss falls to `last`
        spt_run(root / rid, sidecar(rid.rsplit("/", 1)[-1], hparams=hp, tags=["pc"], notes=""),
                metrics=csv_text(["step", "val/loss"], rows))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("pc") / "runs"
    write_sweep(root)
    proc, url = start_server("flask", root, VIEWER_HEARTBEAT="2")
    yield url
    stop_server(proc)


def pc_url(base, **params):
    pairs = [("run", rid) for rid in IDS] + [("tab", "pcoords")]
    for k, v in params.items():
        pairs += [(k, x) for x in (v if isinstance(v, list) else [v])]
    return base + "/compare?" + urlencode(pairs)


def axes(page):
    return page.locator(".pcoords .pc-axis").evaluate_all("gs => gs.map(g => g.dataset.key)")


def highlighted(page):
    return page.locator(".pc-run:not(.pc-dim)").evaluate_all("gs => gs.map(g => g.dataset.run).sort()")


def drag(page, box, y0, y1, x=None):
    x = box["x"] + box["width"] / 2 if x is None else x
    page.mouse.move(x, y0)
    page.mouse.down()
    for k in range(1, 6):
        page.mouse.move(x, y0 + (y1 - y0) * k / 5)
    page.mouse.up()


def tick_y(page, key, text):
    """The page y of an axis tick's label."""
    label = page.locator(f".pc-axis[data-key='{key}'] .pc-tick-label", has_text=text).first
    b = label.bounding_box()
    return b["y"] + b["height"] / 2


def query(page):
    return parse_qs(urlparse(page.url).query)


def test_one_axis_per_differing_hparam_with_log_and_categorical_axes(page, server):
    page.goto(pc_url(server))
    page.wait_for_selector(".pcoords .pc-axis")
    # depth is 4 in every run: left out ("only what differs"); the metric differs: in
    assert axes(page) == ["hp:lr", "hp:opt", "hp:amp", "m:val/loss"]
    assert page.locator(".pcoords .pc-run").count() == len(IDS)
    # lr spans four decades: a log axis whose ticks are the decades
    lr = page.locator(".pc-axis[data-key='hp:lr']")
    assert "(log)" in lr.locator(".pc-title").text_content()
    assert lr.locator(".pc-tick-label").all_text_contents() == ["1.000e-4", "0.001", "0.01", "0.1", "1"]
    # text and booleans: one tick per category
    assert page.locator(".pc-axis[data-key='hp:opt'] .pc-tick-label").all_text_contents() == ["adam", "lion", "sgd"]
    assert page.locator(".pc-axis[data-key='hp:amp'] .pc-tick-label").all_text_contents() == ["false", "true"]
    # each line in its run's stable colour, the one the compare chips (and charts) use
    chips = dict(page.locator(".compare-chip").evaluate_all("ls => ls.map(l => [l.dataset.run, l.dataset.runColor])"))
    lines = dict(page.locator(".pc-run").evaluate_all(
        "gs => gs.map(g => [g.dataset.run, g.querySelector('.pc-line').getAttribute('stroke')])"))
    assert lines == chips
    # the log toggle: lr linear, in the URL; its ticks are no longer decades
    page.click(".pc-axes li[data-key='hp:lr'] .pc-log")
    page.wait_for_function("!document.querySelector(\".pc-axis[data-key='hp:lr'] .pc-title\").textContent.includes('(log)')")
    assert query(page)["pclog"] == ["0:hp:lr"]
    assert page.errors == []


def test_brushing_dims_the_other_runs_and_lives_in_the_url(page, server):
    page.goto(pc_url(server))
    page.wait_for_selector(".pc-axis[data-key='hp:lr']")
    assert page.locator(".pc-plot").get_attribute("data-highlighted") == "5"
    grab = page.locator(".pc-axis[data-key='hp:lr'] .pc-grab").bounding_box()
    # from just above 0.1 down to just below 0.001: the runs at 1e-3, 1e-2, 1e-1
    drag(page, grab, tick_y(page, "hp:lr", "0.1") - 6, tick_y(page, "hp:lr", "0.001") + 6)
    assert highlighted(page) == ["pc/b", "pc/c", "pc/d"]
    assert "3 of 5 runs" in page.locator(".pc-count").inner_text()
    (brush,) = query(page)["pcb"]
    key, lo, hi = json.loads(brush)
    assert key == "hp:lr" and 1e-4 < lo < 1e-3 and 1e-1 < hi < 1
    # a second brush, on a categorical axis: adam only (with the first: pc/b)
    grab = page.locator(".pc-axis[data-key='hp:opt'] .pc-grab").bounding_box()
    drag(page, grab, tick_y(page, "hp:opt", "adam") - 8, tick_y(page, "hp:opt", "adam") + 8)
    assert highlighted(page) == ["pc/b"]
    assert json.loads(query(page)["pcb"][1]) == ["hp:opt", ["adam"]]
    # a reload draws the same brushes
    page.reload()
    page.wait_for_selector(".pc-axis[data-key='hp:lr'] .pc-brush[visibility=visible]")
    assert highlighted(page) == ["pc/b"]
    # a click on an axis clears its brush
    box = page.locator(".pc-axis[data-key='hp:opt'] .pc-grab").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + 10)
    assert highlighted(page) == ["pc/b", "pc/c", "pc/d"]
    assert len(query(page)["pcb"]) == 1
    assert page.errors == []


def test_hover_names_the_run_and_a_click_opens_it(page, server):
    page.goto(pc_url(server))
    page.wait_for_selector(".pc-axis[data-key='hp:opt']")
    # the middle of pc/c's segment between lr and opt
    pt = page.locator(".pc-run[data-run='pc/c'] .pc-hit").evaluate(
        "p => { const l = p.getTotalLength(), q = p.getPointAtLength(l * 0.15), m = p.getScreenCTM();"
        " return [q.x * m.a + m.e, q.y * m.d + m.f]; }")
    page.mouse.move(pt[0], pt[1])
    tip = page.locator(".pc-tip")
    tip.wait_for(state="visible")
    assert tip.inner_text().splitlines()[0] == "c"
    assert "opt = sgd" in tip.inner_text()
    page.mouse.click(pt[0], pt[1])
    page.wait_for_url("**/runs/pc/c")
    assert page.errors == []


def test_axes_move_add_remove_and_colour_by_a_metric(page, server):
    page.goto(pc_url(server))
    page.wait_for_selector(".pc-axis[data-key='hp:opt']")
    page.click(".pc-axes li[data-key='hp:opt'] .pc-left")
    page.wait_for_function("document.querySelector('.pc-axis').dataset.key === 'hp:opt'")
    assert axes(page) == ["hp:opt", "hp:lr", "hp:amp", "m:val/loss"]
    assert query(page)["pca"] == ["hp:opt", "hp:lr", "hp:amp", "m:val/loss"]
    page.select_option(".pc-add", "hp:depth")
    page.wait_for_selector(".pc-axis[data-key='hp:depth']")
    page.click(".pc-axes li[data-key='hp:amp'] .pc-remove")
    page.wait_for_function("!document.querySelector(\".pc-axis[data-key='hp:amp']\")")
    assert axes(page) == ["hp:opt", "hp:lr", "m:val/loss", "hp:depth"]
    # dragging an axis title onto the first slot moves it there
    title = page.locator(".pc-axis[data-key='m:val/loss'] .pc-title").bounding_box()
    first = page.locator(".pc-axis[data-key='hp:opt'] .pc-title").bounding_box()
    page.mouse.move(title["x"] + title["width"] / 2, title["y"] + 5)
    page.mouse.down()
    page.mouse.move(first["x"] + first["width"] / 2, title["y"] + 5, steps=5)
    page.mouse.up()
    page.wait_for_function("document.querySelector('.pc-axis').dataset.key === 'm:val/loss'")
    page.reload()
    page.wait_for_selector(".pc-axis")
    assert axes(page) == ["m:val/loss", "hp:opt", "hp:lr", "hp:depth"]
    # colour by the loss: the lowest (pc/c) and the highest (pc/e) at the scale's two ends
    page.select_option(".pc-color", "m:val/loss")
    page.wait_for_function("document.querySelector(\".pc-run[data-run='pc/c'] .pc-line\").getAttribute('stroke') === '#440154'")
    assert page.locator(".pc-run[data-run='pc/e'] .pc-line").get_attribute("stroke") == "#fde725"
    assert query(page)["pcc"] == ["m:val/loss"]
    # best values: the loss falls, so the best is the last here; the axis keeps its runs
    page.select_option(".pc-mode", "best")
    page.wait_for_function("new URLSearchParams(location.search).get('pcv') === 'best'")
    assert page.locator(".pc-run").count() == len(IDS)
    page.click(".pc-reset")
    page.wait_for_function("!new URLSearchParams(location.search).has('pca')")
    assert axes(page) == ["hp:lr", "hp:opt", "hp:amp", "m:val/loss"]
    assert page.errors == []
