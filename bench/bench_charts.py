"""Charts benchmark: the browser's draw time of 10 runs x 2,000 points overlaid, of one combined
panel of 10 series x 2,000 points (two y axes, alone on the page), and the zoom re-fetch of a
1,000,000-row run, in Debian's chromium (Playwright) against the real server.

    python bench/bench_charts.py                  # about 2 minutes on 2 cores
    python bench/bench_charts.py --loads 5 --big-rows 100000   # a quick smoke run

The page is ``/compare?run=...`` (the real compare view including the charts partial); when
that route is missing, a page of our own (``_charts.html`` rendered with ``chart_context`` for
the 10 runs, served at the server's origin so the real static/charts/ modules fetch the real API). The
output says which. Draw time is the page's ``data-draw-ms``: from the metrics being in hand to
the last uPlot paint (building the tree, aligning the runs, smoothing, drawing). Zoom time is
``data-zoom-ms``: from the drag's release to the re-fetched full-resolution points painted.
Prints figures only (no pass/fail): a table, then one line of JSON.
"""
from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import make_runs  # noqa: E402
import bench_read_path  # noqa: E402
from bench_live import ms, pct  # noqa: E402
from bench_read_path import Server, parse_args, render_rows, run_bench  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
BIG_ID = "big/lightning_logs/version_0"
COMBO_ID = "combo/version_0"
TARGET_DRAW = 0.100   # one chart of 10 runs x 2,000 points


def write_runs(root, runs, points, seed=0):
    """``runs`` Lightning runs (2 learning rates x seeds) of ``points`` train/loss steps, a
    val/acc every 100 steps and a time column. Returns their ids."""
    ids = []
    for i in range(runs):
        lr, s = (0.1, 0.3)[i % 2], i // 2
        rid = f"sweep/lr{lr}_seed{s}/version_0"
        rng, t0 = random.Random(seed * 1000 + i), 1767225600.0
        d = os.path.join(root, rid)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "metrics.csv"), "w") as f:
            f.write("epoch,step,train/loss,val/acc,time\n")
            for step in range(points):
                loss = 0.2 + 2.5 * math.exp(-step * lr / 300) + rng.gauss(0, 0.05)
                acc = "" if step % 100 else repr(1 - loss / 3)
                f.write(f"{step // 500},{step},{loss!r},{acc},{t0 + step * 0.5 + rng.random() * 0.01!r}\n")
        with open(os.path.join(d, "hparams.yaml"), "w") as f:
            f.write(f"optim:\n  lr: {lr}\nseed: {s}\n")
        ids.append(rid)
    return ids


def write_combo_run(root, series, points):
    """One run of ``series`` metrics m0.. of ``points`` steps each, half of them 1,000x the others
    (the combined panel then has a second y axis)."""
    d = os.path.join(root, COMBO_ID)
    os.makedirs(d, exist_ok=True)
    names = [f"m{i}" for i in range(series)]
    rng = random.Random(7)
    with open(os.path.join(d, "metrics.csv"), "w") as f:
        f.write("step," + ",".join(names) + "\n")
        for step in range(points):
            vals = [(1000 if i % 2 else 1) * (1 + i / 10 + math.sin(step / 50 + i)) + rng.random() for i in range(series)]
            f.write(f"{step}," + ",".join(repr(v) for v in vals) + "\n")
    return names


def own_page(root, ids, query):
    """The fallback page: ``_charts.html`` for ``ids``, rendered by the app itself."""
    sys.path.insert(0, bench_read_path.REPO)
    from app import create_app
    from flask import render_template_string, request

    from viewer.views.charts import chart_context

    app = create_app({"VIEWER_ROOT": root, "VIEWER_BACKGROUND": False})
    try:
        with app.test_request_context("/?" + query):
            return render_template_string(
                '{% extends "tailboard/base.html" %}{% block events_url %}'
                "{{ url_for('tailboard.stream.events', run=ids) }}{% endblock %}"
                '{% block content %}{% include "tailboard/partials/_charts.html" %}{% endblock %}',
                charts=chart_context(ids, request.args), ids=ids)
    finally:
        app.extensions["tailboard"].stop()


def wait_js(page, expr, timeout=60.0):
    """Poll ``expr`` from Python until it is truthy: the pages' CSP refuses wait_for_function's
    string (it evaluates it)."""
    end = time.monotonic() + timeout
    while not page.evaluate(expr):
        if time.monotonic() > end:
            raise TimeoutError(expr)
        time.sleep(0.02)


def stats(values):
    return {"n": len(values), "p50_s": pct(values, 50), "p95_s": pct(values, 95), "max_s": max(values) if values else None}


def draw_times(page, url, loads):
    """(draw times, page-start-to-drawn times, points drawn) over ``loads`` fresh loads."""
    draws, drawn_at, points = [], [], 0
    for _ in range(loads):
        page.goto(url)
        page.wait_for_selector("[data-charts][data-draw-ms]", timeout=60_000)
        got = page.evaluate("""() => { const el = document.querySelector('[data-charts]');
            const v = window.tailboard.chartViews.get(el);
            let n = 0; v.items.forEach(c => c.spec.lines.forEach(l => { n += l.xs.length; }));
            return [Number(el.dataset.drawMs), Number(el.dataset.drawnAt), n, v.items.length]; }""")
        draws.append(got[0] / 1000)
        drawn_at.append(got[1] / 1000)
        points = got[2]
    return draws, drawn_at, points, got[3]


def zoom_times(page, base, n, width):
    """Zoom re-fetch times on the big run: drag over ``width`` of the chart at ``n`` places."""
    page.goto(base + f"/runs/{BIG_ID}")
    page.wait_for_selector("[data-charts][data-draw-ms]", timeout=120_000)
    over = page.locator(".chart-card[data-metric='train/loss'] .u-over")
    b = over.bounding_box()
    y = b["y"] + b["height"] / 2
    out, shown = [], []
    for i in range(n):
        left = 0.05 + (0.9 - width) * i / max(1, n - 1)
        done = int(page.get_attribute("[data-charts]", "data-zooms") or 0)
        page.mouse.move(b["x"] + b["width"] * left, y)
        page.mouse.down()
        page.mouse.move(b["x"] + b["width"] * (left + width), y, steps=3)
        page.mouse.up()
        wait_js(page, f"Number(document.querySelector('[data-charts]').dataset.zooms || 0) > {done}")
        out.append(float(page.get_attribute("[data-charts]", "data-zoom-ms")) / 1000)
        shown.append(page.evaluate("""() => { const u = [...window.tailboard.chartViews.values()][0].charts.get('train/loss').plot;
            return u.data[0].filter(x => x >= u.scales.x.min && x <= u.scales.x.max).length; }"""))
        page.mouse.dblclick(b["x"] + b["width"] / 2, y)
        wait_js(page, "!document.querySelector('[data-charts]').dataset.zoomed")
    return out, shown


def bench(tmp, args, fig, servers):
    from playwright.sync_api import sync_playwright

    root = os.path.join(tmp, "runs")
    t = time.perf_counter()
    ids = write_runs(root, args.runs, args.points)
    make_runs.write_big_run(root, args.big_rows)
    combo = write_combo_run(root, 10, args.points)
    fig["generate_s"] = time.perf_counter() - t
    srv = Server("flask", root, os.path.join(tmp, "server.log"))
    servers.append(srv)
    srv.wait_scan()
    t = time.perf_counter()
    srv.get(f"/api/runs/{BIG_ID}/metrics")  # the first read parses the whole file: not a zoom
    fig["big_first_read_s"] = time.perf_counter() - t
    query = "&".join(f"run={rid}" for rid in ids)
    has_compare = srv.http.get(srv.url("/compare?" + query), timeout=60).status_code == 200
    fig["page"] = "/compare" if has_compare else "bench page (no /compare route)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        fig["variants"] = {}
        for name, extra in (("overlay", ""), ("smoothing 0.6", "&smooth=0.6"), ("mean of groups", "&agg=mean")):
            if has_compare:
                url = srv.url("/compare?" + query + extra)
            else:
                html = own_page(root, ids, query + extra)
                url = srv.url("/-/bench-charts")
                page.route(url, lambda route, html=html: route.fulfill(body=html, content_type="text/html"))
            draws, drawn_at, points, charts = draw_times(page, url, args.loads)
            fig["variants"][name] = {"draw": stats(draws), "drawn_at": stats(drawn_at), "points": points, "charts": charts}
        # the combined panel alone: the metric filter matches no single chart (a panel always shows)
        url = srv.url(f"/runs/{COMBO_ID}?metric=%5E%24&combo=" + ",".join(combo))
        draws, drawn_at, points, charts = draw_times(page, url, args.loads)
        fig["variants"][f"combined panel, {len(combo)} series"] = {"draw": stats(draws), "drawn_at": stats(drawn_at),
                                                                 "points": points, "charts": charts}
        fig["zoom"] = {}
        for width in (0.1, 0.01):
            times, shown = zoom_times(page, srv.base, args.zooms, width)
            fig["zoom"][f"{width:g}"] = {**stats(times), "points_in_range": shown}
        fig["page_errors"] = errors
        browser.close()


def table(fig):
    rows = [(f"(a) draw in chromium, page: {fig['page']}", None, None)]
    for name, v in fig["variants"].items():
        d, a = v["draw"], v["drawn_at"]
        rows.append((f"{name}: draw p50 / p95", f"{ms(d['p50_s'])} / {ms(d['p95_s'])}",
                     f"{v['charts']} charts, {v['points']:,} points; {d['n']} loads; page start to drawn "
                     f"p50 {ms(a['p50_s'])}; target < {ms(TARGET_DRAW)} for 10 x 2,000"))
    rows.append((f"(b) zoom on the {fig['big_rows']:,}-row run (first read {ms(fig['big_first_read_s'])})", None, None))
    for width, z in fig["zoom"].items():
        rows.append((f"drag over {float(width) * 100:g}% of the x range: p50 / p95",
                     f"{ms(z['p50_s'])} / {ms(z['p95_s'])}",
                     f"{z['n']} zooms; points then drawn in range: {min(z['points_in_range']):,}-{max(z['points_in_range']):,}"))
    if fig["page_errors"]:
        rows.append(("page errors", str(len(fig["page_errors"])), fig["page_errors"][0][:80]))
    return render_rows(rows, value_width=22)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10, help="runs overlaid (default 10)")
    ap.add_argument("--points", type=int, default=2000, help="points per run (default 2000)")
    ap.add_argument("--big-rows", type=int, default=1_000_000, help="rows of the run zoomed into (default 1,000,000)")
    ap.add_argument("--loads", type=int, default=20, help="page loads per variant (default 20)")
    ap.add_argument("--zooms", type=int, default=10, help="zooms per width (default 10)")
    args = parse_args(ap, argv, bench_read_path.set_repo)

    def parts(tmp, fig, servers):
        fig["big_rows"] = args.big_rows
        bench(tmp, args, fig, servers)

    run_bench("Tailboard charts", "tailboard-bench-charts-", args, parts, table)


if __name__ == "__main__":
    main()
