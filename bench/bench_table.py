"""Runs-table benchmark: the overview with 10,000 runs, in chromium and on the server.

    python bench/bench_table.py                     # about 2 minutes the first time (tree + scan)
    python bench/bench_table.py --tries 40 --server gunicorn

Generates (once: ``--tree``, default ``$TMPDIR/tailboard-bench-table-<runs>``, reused: it is
seeded) a tree with ``bench/make_runs.py``, starts the real server (``Server`` of
``bench_read_path.py``), and measures, p50/p95 over ``--tries``:

(a) navigation to ``/`` until the table's rows are painted (target < 1 s);
(b) a filter typed in the box until the table shows the filtered rows, painted
    (target < 200 ms; this includes the box's 25 ms debounce);
(c) the server's time for ``/api/runs?q=...``, the table fragment and a few other queries.

Prints figures (no pass/fail), then one line of JSON with every figure and the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import make_runs  # noqa: E402
from bench_read_path import Server, code_version, machine  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
TERMS = ["resnet50", "vit_s16", "keras", "failed", "convnext_t", "mlp", "hf", "completed", "lightning", "jsonl"]

# rows painted: the first rAF after the rows exist, then a task (the frame has been drawn)
ROWS_PAINTED = """
window.__rowsPainted = null;
new MutationObserver((_m, obs) => {
  if (!document.querySelector('#runs tr.run-row')) return;
  obs.disconnect();
  requestAnimationFrame(() => setTimeout(() => { window.__rowsPainted = performance.now(); }, 0));
}).observe(document, {childList: true, subtree: true});
"""

# type a filter (one input event, as a paste or the last keystroke) and wait for its rows
TYPE_AND_WAIT = """(term) => new Promise((resolve) => {
  const box = document.getElementById('filter-q');
  const runs = document.getElementById('runs');
  const done = () => {
    const shown = runs.querySelector('.pager .shown');
    return shown && shown.textContent.includes('\u201c' + term + '\u201d');
  };
  const obs = new MutationObserver(() => {
    if (!done()) return;
    obs.disconnect();
    requestAnimationFrame(() => setTimeout(() => resolve({ms: performance.now() - t0,
      rows: runs.querySelectorAll('tr.run-row').length, text: runs.querySelector('.pager .shown').textContent}), 0));
  });
  obs.observe(runs, {childList: true, subtree: true});
  const t0 = performance.now();
  box.value = term;
  box.dispatchEvent(new Event('input', {bubbles: true}));
})"""


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))]


def summary(values):
    return {"p50": statistics.median(values), "p95": pct(values, 95), "min": min(values), "max": max(values),
            "n": len(values)}


def ensure_tree(path, runs):
    """The seeded tree, generated once (a marker file says it is complete)."""
    marker = os.path.join(path, ".bench-complete")
    if os.path.exists(marker):
        return False
    t = time.perf_counter()
    make_runs.make_tree(path, runs, seed=0)
    with open(marker, "w") as f:
        f.write(f"{runs} runs in {time.perf_counter() - t:.1f}s\n")
    return True


def server_times(srv, tries):
    """Server time (client-side wall time on loopback) of the table's queries, ms."""
    out = {}
    queries = {
        "api_runs_q": ("/api/runs", {"q": "resnet50"}),
        "api_runs_q_page": ("/api/runs", {"q": "resnet50", "per": "100"}),
        "api_runs_all": ("/api/runs", {}),
        "fragment_q": ("/", {"q": "resnet50"}),
        "fragment_sort_metric": ("/", {"sort": "m:val/acc", "order": "desc"}),
        "fragment_group_status": ("/", {"group": "status"}),
        "fragment_chip": ("/", {"f": "optim.lr<0.01"}),
        "fragment_regex": ("/", {"q": "^spt/.*/[0-9a-f]{3}0", "regex": "1"}),
        "page_full": ("/", {}),
    }
    for name, (path, params) in queries.items():
        headers = {"HX-Request": "true"} if name.startswith("fragment") else {}
        times, size = [], 0
        for _ in range(tries):
            t = time.perf_counter()
            r = srv.get(path, params=params, headers=headers)
            times.append((time.perf_counter() - t) * 1000)
            size = len(r.content)
        out[name] = {**summary(times), "bytes": size}
    return out


def browser_times(base, tries):
    from playwright.sync_api import sync_playwright

    nav, typed, first_paint, examples = [], [], [], []
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        ctx = b.new_context(viewport={"width": 1400, "height": 900})
        ctx.add_init_script(ROWS_PAINTED)
        page = ctx.new_page()
        page.goto(base + "/")  # warm: assets cached, as for a returning user
        for _ in range(tries):
            page.goto(base + "/", wait_until="commit")
            page.wait_for_function("window.__rowsPainted !== null", timeout=30000)
            nav.append(page.evaluate("window.__rowsPainted"))
            fcp = page.evaluate("(performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || null")
            if fcp:
                first_paint.append(fcp)
        page.wait_for_selector("#filter-q")
        for i in range(tries):
            term = TERMS[i % len(TERMS)]
            res = page.evaluate(TYPE_AND_WAIT, term)
            typed.append(res["ms"])
            if i < len(TERMS):
                examples.append({"q": term, "rows": res["rows"], "shown": res["text"].strip()})
        version = b.version
        b.close()
    return {"navigate_rows_painted_ms": summary(nav), "first_contentful_paint_ms": summary(first_paint),
            "type_filter_rows_painted_ms": summary(typed), "filters": examples, "chromium": version}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10000)
    ap.add_argument("--tree", help="run tree to use or create (default: $TMPDIR/tailboard-bench-table-<runs>)")
    ap.add_argument("--tries", type=int, default=20, help="measurements of each figure (p50/p95)")
    ap.add_argument("--server", choices=("flask", "gunicorn"), default="flask")
    args = ap.parse_args(argv)
    tree = args.tree or os.path.join(tempfile.gettempdir(), f"tailboard-bench-table-{args.runs}")
    fig = {"runs": args.runs, "tree": tree, "server": args.server}
    t = time.perf_counter()
    fig["tree_generated"] = ensure_tree(tree, args.runs)
    fig["tree_s"] = time.perf_counter() - t
    log = os.path.join(tempfile.gettempdir(), f"tailboard-bench-table-{os.getpid()}.log")
    srv = Server(args.server, tree, log, VIEWER_POLL="3600")
    try:
        fig["scan_s"] = srv.wait_scan("/healthz")["done"]
        t = time.perf_counter()
        srv.get("/", params={"q": "warm-up"}, headers={"HX-Request": "true"})
        fig["first_query_after_scan_ms"] = (time.perf_counter() - t) * 1000  # builds the RUN dict cache
        fig["server"] = {"kind": args.server, **server_times(srv, args.tries)}
        fig["browser"] = browser_times(srv.base, args.tries)
        fig["server_rss_bytes"] = srv.mem().get("VmRSS")
    finally:
        srv.stop()
        os.unlink(log)
    report(fig)
    print(json.dumps({"machine": machine(), "code": code_version(os.path.dirname(HERE)), "figures": fig}))


def report(fig):
    b, s = fig["browser"], fig["server"]
    print(f"runs table, {fig['runs']} runs ({fig['server']['kind']}), scan {fig['scan_s']:.1f} s, "
          f"first query after the scan {fig['first_query_after_scan_ms']:.0f} ms, chromium {b['chromium']}")
    print(f"{'what':58} {'p50':>8} {'p95':>8}")

    def line(label, d, unit="ms"):
        print(f"{label:58} {d['p50']:8.1f} {d['p95']:8.1f} {unit}")

    line("(a) navigate to / until rows painted (target < 1000)", b["navigate_rows_painted_ms"])
    line("    first contentful paint", b["first_contentful_paint_ms"])
    line("(b) type a filter until its rows are painted (target < 200)", b["type_filter_rows_painted_ms"])
    for name, d in s.items():
        if isinstance(d, dict):
            line(f"(c) server {name} ({d['bytes'] / 1024:.0f} KiB)", d)
    print("filters typed:", "; ".join(f"{e['q']}: {e['rows']} rows" for e in b["filters"]))


if __name__ == "__main__":
    main()
