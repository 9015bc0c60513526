"""Layout in a real browser (docs/ui.md#layout): on a 390x844 phone no page is wider than the
screen (a wide table scrolls inside its own box), the chart cards fill a 1,400 px screen three
or more across and the S/M/L card size changes how many, and charts work by touch."""
from __future__ import annotations

import os
import time

import pytest

from builders import csv_rows, sidecar, spt_run
from live_clients import start_server, stop_server

PHONE = {"width": 390, "height": 844}
WIDE = {"width": 1400, "height": 900}
SPT = "spt/20261121/142732/1c80a3b1799d"     # lr, train/loss, val/acc, val/loss: three sections
SWEEP = [f"sweep/lr{lr}-seed{s}" for lr in (0.01, 0.03) for s in (0, 1)]
LONG = "a-run-name-written-by-a-sweep-launcher-that-never-heard-of-phones-" + "x" * 60


def wide_runs(root, n=4):
    """Runs that make the table wide: long unbroken names, a dozen varying hparams, many metrics."""
    for i in range(n):
        hp = {f"section{k}.parameter_{k}": f"value-{i}-{k}" for k in range(12)}
        rows = [{"step": s, **{f"metric_{k}/value": s * (k + 1) + i for k in range(10)}} for s in range(1, 6)]
        spt_run(os.path.join(root, "wide", f"{LONG}-{i}"),
                sidecar(f"wide{i}", display_name=f"{LONG}-{i}", hparams=hp, tags=["wide", "x" * 40]),
                metrics=csv_rows(rows))


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    """The bundled demo's runs (examples and the generated sweep, no live job) plus wide ones."""
    from viewer import demo

    root = str(tmp_path_factory.mktemp("demo"))
    demo.prepare(root)
    wide_runs(root)
    proc, url = start_server("flask", root)
    yield url
    stop_server(proc)


def new_page(browser, viewport, **kw):
    ctx = browser.new_context(viewport=viewport, **kw)
    page = ctx.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return ctx, page


def until(page, fn, timeout=20):
    """Poll ``fn`` (a JavaScript function's source) from Python until it returns true: a string
    ``wait_for_function`` would be an eval, which the page CSP refuses."""
    deadline = time.time() + timeout
    while not page.evaluate(fn):
        assert time.time() < deadline, "timed out waiting for " + fn
        time.sleep(0.05)


CHARTS_DRAWN = "() => document.querySelectorAll('.chart-card canvas').length === 4"


def fits(page):
    return page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")


def compare_url(base, tab, ids=SWEEP):
    return base + "/compare?" + "&".join(f"run={i}" for i in ids) + f"&tab={tab}"


PHONE_PAGES = {   # name: (path, a selector that shows the page's content is there)
    "overview": ("/?cols=" + ",".join(f"hp:section{k}.parameter_{k}" for k in range(12)), "tr.run-row"),
    "run charts": (f"/runs/{SPT}", ".chart-card canvas"),
    "run logs": ("/runs/slurm/job_4242?tab=logs", "pre.log"),
    "run media": (f"/runs/{SPT}?tab=media", ".media-tag"),
    "run config": ("/runs/hf-bert?tab=config", ".config-panel"),
    "wide run": (f"/runs/wide/{LONG}-0", ".chart-card canvas"),
    "compare charts": (None, ".chart-card canvas"),
    "compare table": (None, "table.compare-table"),
    "compare pcoords": (None, ".pcoords svg"),
    "alerts": ("/alerts", "table.rules-table"),
    "files": ("/files/", "table.listing"),
    "report": (f"/files/{SPT}/report.html", "body"),
}


@pytest.mark.parametrize("name", list(PHONE_PAGES))
def test_every_page_fits_a_phone(browser, demo_server, name):
    path, ready = PHONE_PAGES[name]
    url = compare_url(demo_server, name.split()[1]) if path is None else demo_server + path
    ctx, page = new_page(browser, PHONE, has_touch=True, is_mobile=True)
    try:
        page.goto(url)
        page.wait_for_selector(ready, state="attached", timeout=20000)
        page.wait_for_timeout(300)          # late layout: fonts, the activity strip, live rows
        # a mobile browser widens its layout viewport to a page that overflows: compare with 390
        width, inner = fits(page)
        assert width <= PHONE["width"] and inner == PHONE["width"], f"{name}: the page is {width} px wide on a 390 px screen"
        if path is None or not path.startswith("/files/"):
            box = page.locator(".keys-toggle").bounding_box()    # the top bar wrapped, nothing cut off
            assert box and box["x"] + box["width"] <= PHONE["width"]
        if name == "overview":               # the wide table is really wide: it scrolls in its box
            wrap = page.evaluate("() => { const w = document.querySelector('.table-wrap');"
                                 " return [w.scrollWidth, w.clientWidth]; }")
            assert wrap[0] > 2 * wrap[1]
        assert page.errors == []
    finally:
        ctx.close()


def test_the_runs_table_box_keeps_its_scroll_when_the_table_is_fetched_again(browser, demo_server):
    ctx, page = new_page(browser, PHONE, has_touch=True, is_mobile=True)
    try:
        page.goto(demo_server + PHONE_PAGES["overview"][0])
        page.wait_for_selector("tr.run-row")
        page.evaluate("() => { const w = document.querySelector('#runs .table-wrap'); w.scrollLeft = 600; }")
        old = page.evaluate("() => document.querySelector('#runs .table-wrap').scrollLeft")
        assert old > 500
        # what a live `runset` event does: the table re-fetched and swapped in
        page.evaluate("() => { window.tbSwapped = 0; document.body.addEventListener('htmx:afterSettle', () => window.tbSwapped++);"
                      " htmx.trigger('#runs', 'sse:runset'); }")
        until(page, "() => window.tbSwapped > 0")
        assert page.evaluate("() => document.querySelector('#runs .table-wrap').scrollLeft") == old
        assert page.errors == []
    finally:
        ctx.close()


def first_row(page):
    """How many chart cards share the top row."""
    tops = page.eval_on_selector_all(".chart-card", "cs => cs.map(c => Math.round(c.getBoundingClientRect().top))")
    return sum(1 for t in tops if abs(t - min(tops)) < 4)


# every plot as wide as its card (the card's padding aside)
PLOTS_FOLLOW_CARDS = ("() => [...document.querySelectorAll('.chart-card')].every(c => { const u = c.querySelector('.uplot');"
                      " return u && Math.abs(u.offsetWidth - (c.clientWidth - 16)) <= 1; })")


@pytest.mark.parametrize("where", ["run", "compare"])
def test_chart_cards_fill_a_wide_screen_and_the_size_control_changes_how_many(browser, demo_server, where):
    url = demo_server + f"/runs/{SPT}" if where == "run" else compare_url(demo_server, "charts")
    ctx, page = new_page(browser, WIDE)
    try:
        page.goto(url)
        until(page, CHARTS_DRAWN)
        medium = first_row(page)
        assert medium >= 3                   # small sections share a row (lr | train | val)
        page.click(".card-size label:has(input[value=L])")
        until(page, "() => new Set([...document.querySelectorAll('.chart-card')]"
                    ".map(c => Math.round(c.getBoundingClientRect().top))).size > 1")
        large = first_row(page)
        assert large < medium
        until(page, PLOTS_FOLLOW_CARDS)
        tall = page.eval_on_selector(".chart-card .uplot", "u => u.offsetHeight")
        page.click(".card-size label:has(input[value=S])")
        until(page, PLOTS_FOLLOW_CARDS)
        assert first_row(page) >= medium
        assert page.eval_on_selector(".chart-card .uplot", "u => u.offsetHeight") < tall
        page.reload()                        # the size is the browser's: kept across pages
        until(page, CHARTS_DRAWN)
        assert page.is_checked(".card-size input[value=S]")
        assert page.evaluate("document.documentElement.dataset.cardSize") == "S"
        until(page, PLOTS_FOLLOW_CARDS)
        assert page.errors == []
    finally:
        ctx.close()


def test_a_tap_on_a_chart_shows_its_tooltip_and_a_tap_elsewhere_hides_it(browser, demo_server):
    ctx, page = new_page(browser, PHONE, has_touch=True, is_mobile=True)
    try:
        page.goto(compare_url(demo_server, "charts"))
        until(page, CHARTS_DRAWN)
        card = page.locator(".chart-card[data-metric='train/loss']")
        card.scroll_into_view_if_needed()
        box = card.locator(".u-over").bounding_box()
        page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        tip = card.locator(".chart-tip")
        tip.wait_for(state="visible", timeout=5000)
        assert "step" in tip.inner_text() and "lr0.01-seed0" in tip.inner_text()
        title = card.locator(".chart-title b").bounding_box()
        page.touchscreen.tap(title["x"] + 5, title["y"] + 5)
        tip.wait_for(state="hidden", timeout=5000)
        assert page.errors == []
    finally:
        ctx.close()


def touch_swipe(page, x0, x1, y):
    """One finger from x0 to x1 (Playwright's touchscreen only taps: the DevTools protocol swipes)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x0, "y": y}]})
    for k in range(1, 9):
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x0 + (x1 - x0) * k / 8, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def test_a_swipe_across_a_chart_zooms_every_chart_and_a_double_tap_resets(browser, demo_server):
    ctx, page = new_page(browser, PHONE, has_touch=True, is_mobile=True)
    try:
        page.goto(demo_server + f"/runs/{SWEEP[0]}")
        until(page, CHARTS_DRAWN)
        over = page.locator(".chart-card[data-metric='train/loss'] .u-over")
        over.scroll_into_view_if_needed()
        box = over.bounding_box()
        y = box["y"] + box["height"] / 2
        touch_swipe(page, box["x"] + box["width"] * 0.25, box["x"] + box["width"] * 0.5, y)
        until(page, "() => document.querySelector('[data-charts]').dataset.zoomed === '1'")
        span = page.evaluate("() => { const c = window.tailboard.charts.values().next().value[0].plot.scales.x;"
                             " return c.max - c.min; }")
        assert 60 < span < 160               # a quarter of 400 steps, not the whole run
        box = over.bounding_box()
        page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        until(page, "() => document.querySelector('[data-charts]').dataset.zoomed === undefined")
        assert page.errors == []
    finally:
        ctx.close()
