"""Files benchmark: write-to-reload of an HTML report in a real browser; serving a 1 GiB file.

    python bench/bench_files.py                 # about 4-5 minutes on 2 cores, 1 GiB of disk
    python bench/bench_files.py --json          # and one JSON line with every figure
    python bench/bench_files.py --only 1 --server gunicorn,flask --iterations 20

Prints figures only (no pass/fail; the targets of issue 4 are printed next to them). Part 1
drives Debian's chromium (``/usr/bin/chromium``, through Playwright; never a downloaded
browser); the servers are the real app in subprocesses (``gunicorn -c gunicorn.conf.py``,
``python -m flask run``). See bench/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import threading
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import make_runs  # noqa: E402
from bench_live import Server, cpu_seconds, ms, pct_cells, summary  # noqa: E402
from bench_read_path import mb, parse_args, proc_mem, render_rows, run_bench, set_repo  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
TARGET_RELOAD = 0.200      # issue 4: write -> the browser's reload, p95
WAIT = 10.0                # a reload (or a CSS swap) not seen this long after its write is missed
KINDS = {"gunicorn": "gunicorn -k gevent", "flask": "flask run (dev server)"}

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>eval report</title>
<link rel="stylesheet" href="style.css"></head>
<body><h1 id="t">{label}</h1>
<p>Evaluation of the checkpoint at step <b>{step}</b>; <span id="n">0</span> points inlined.</p>
<img src="plot.png" width="128" height="128" alt="loss curve">
<table><tr><th>metric</th><th>value</th><th>best</th></tr>
{rows}
</table>
{extra}
</body></html>
"""
CSS = "body {{ font-family: sans-serif; margin: 2em }}\nh1 {{ color: {color} }}\ntable {{ border-collapse: collapse }}\n"

# In every document, reported to Python as console messages (so nothing of Playwright's runs in
# the page, and nothing polls, while a reload is measured; times are the browser's clock, ms
# since the epoch):
# - each message of the LiveReload socket, in the old document, before livereload.js acts on it;
# - the document's first contentful paint; its navigation timing once the load event is over.
PAGE_PROBE = """(() => {
  const mark = (m) => console.debug('__tb' + JSON.stringify(m));
  const now = () => performance.timeOrigin + performance.now();
  const WS = window.WebSocket;
  if (WS && !WS.__tb) {
    const Marked = function (url, protocols) {
      const ws = protocols === undefined ? new WS(url) : new WS(url, protocols);
      if (String(url).includes('livereload')) ws.addEventListener('message', (e) => {
        const t = now();
        let m = {};
        try { m = JSON.parse(e.data); } catch (_) {}
        mark({cmd: m.command || null, path: m.path || null, t});
      });
      return ws;
    };
    Marked.prototype = WS.prototype;
    for (const k of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) Marked[k] = WS[k];
    Marked.__tb = true;
    window.WebSocket = Marked;
  }
  new PerformanceObserver((list) => {
    for (const e of list.getEntries())
      if (e.name === 'first-contentful-paint') mark({cmd: 'fcp', t: performance.timeOrigin + e.startTime});
  }).observe({type: 'paint', buffered: true});
  addEventListener('load', () => setTimeout(() => {
    const n = performance.getEntriesByType('navigation')[0], h = document.getElementById('t');
    mark({cmd: 'loaded', label: h ? h.textContent : null, origin: performance.timeOrigin, type: n.type,
          nav: {fetch: n.fetchStart, response_start: n.responseStart, response_end: n.responseEnd,
                commit: n.unloadEventEnd, dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd},
          res: performance.getEntriesByType('resource').filter(r => r.startTime < n.loadEventEnd).map(r => (
            {name: r.name.split('/').pop().split('?')[0], ms: r.responseEnd - r.startTime}))});
  }, 0));
})();"""
CONNECTED = ("() => window.LiveReload && window.LiveReload.connector"
             " && window.LiveReload.connector.protocol === 7")
# CSS: look at the computed style every frame; report the first frame that shows the new colour
CSS_WATCH = """(want) => {
  const el = document.getElementById('t');
  const f = () => {
    if (getComputedStyle(el).color !== want) return requestAnimationFrame(f);
    const r = performance.getEntriesByType('resource').filter(e => e.name.includes('style.css?livereload'));
    console.debug('__tb' + JSON.stringify({cmd: 'css', color: want, t: performance.timeOrigin + performance.now(),
                     fetched: r.length ? performance.timeOrigin + r[r.length - 1].responseEnd : null}));
  };
  requestAnimationFrame(f);
}"""


# -- part 1: write -> reload in a browser ----------------------------------------------------


def make_reports(root, big_bytes, seed):
    """``reports/r`` (a few KB) and ``reports/big`` (about ``big_bytes``: a plot's data inlined,
    as plotly or bokeh write a standalone report), each with a stylesheet and an image."""
    rng = random.Random(seed)
    rows = "\n".join(f"<tr><td>val/metric_{i:02d}</td><td>{rng.random():.6f}</td><td>{rng.random():.6f}</td></tr>"
                     for i in range(40))
    points, size = [], 0
    while size < big_bytes:
        points.append(f"{rng.uniform(0.1, 3):.6f}")
        size += len(points[-1]) + 1
    big_extra = ('<script>const fig = {"data": [{"type": "scatter", "y": [' + ",".join(points) + ']}]};\n'
                 "document.getElementById('n').textContent = fig.data[0].y.length;</script>")
    reports = {}
    for name, extra in (("r", ""), ("big", big_extra)):
        d = os.path.join(root, "reports", name)
        make_runs.write(os.path.join(d, "style.css"), CSS.format(color="rgb(200, 0, 0)"))
        make_runs.write(os.path.join(d, "plot.png"), make_runs.png(rng, 128, 128))
        template = PAGE.replace("{rows}", rows).replace("{extra}", extra)
        make_runs.write(os.path.join(d, "index.html"), page_text(template, "start", 0))
        reports[name] = {"dir": d, "url": f"/files/reports/{name}/index.html", "template": template,
                         "bytes": os.path.getsize(os.path.join(d, "index.html"))}
    return reports


def page_text(template, label, step):
    return template.replace("{label}", label).replace("{step}", str(step))  # the data holds braces


def rewrite(path, text, how):
    """``atomic``: a temp file beside it, then os.replace (one rename event); ``inplace``:
    open('w') truncates, then writes (what most report writers do)."""
    if how == "atomic":
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)
    else:
        with open(path, "w") as f:
            f.write(text)


def clock_offset(page, n=15):
    """(browser clock - time.time(), in s; the round trip it was measured within), best of n."""
    best = None
    for _ in range(n):
        a = time.time()
        b = page.evaluate("performance.timeOrigin + performance.now()") / 1000
        c = time.time()
        if best is None or c - a < best[1]:
            best = (b - (a + c) / 2, c - a)
    return best


class Browser:
    """One chromium, one context per server, one page; LiveReload messages marked in the page."""

    def __init__(self):
        from playwright.sync_api import sync_playwright

        self.pw = sync_playwright().start()
        try:
            self.browser = self.pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Exception:
            self.pw.stop()
            raise
        self.marks = []
        self.ctx = self.page = None

    def open(self, base):
        if self.ctx:
            self.ctx.close()
        self.base = base
        self.ctx = self.browser.new_context(viewport={"width": 1200, "height": 800})
        self.ctx.add_init_script(PAGE_PROBE)
        self.page = self.ctx.new_page()
        self.errors = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", self._mark)
        return self.page

    @staticmethod
    def _parse(msg):
        text = msg.text
        return json.loads(text[4:]) if text.startswith("__tb{") else None

    def _mark(self, msg):
        m = self._parse(msg)
        if m is not None:
            self.marks.append(m)

    def goto(self, url):
        self.page.goto(self.base + url)
        self.page.wait_for_function(CONNECTED, timeout=WAIT * 1000)

    def wait_mark(self, ok, timeout=WAIT):
        """The first mark that satisfies ``ok``, or None after ``timeout`` s; blocks on
        Playwright's event loop (it delivers the marks), evaluating nothing in the page."""
        found = next((m for m in self.marks if ok(m)), None)
        if found is not None:
            return found
        try:
            msg = self.page.wait_for_event("console", predicate=lambda c: (m := self._parse(c)) is not None and ok(m),
                                           timeout=timeout * 1000)
        except Exception:  # noqa: BLE001 - Playwright's TimeoutError
            return None
        return self._parse(msg)

    def close(self):
        try:
            self.browser.close()
        finally:
            self.pw.stop()


def html_series(br, report, how, args, rng, iterations=None):
    """Rewrite the report ``warmup + iterations`` times (a new heading each time); for each,
    the new document's timings against the write, on time.time()'s clock. ``how="reload"``:
    no write, the page calls location.reload() (what the browser alone costs)."""
    page = br.page
    path = os.path.join(report["dir"], "index.html")
    br.goto(report["url"])
    offset, rtt = clock_offset(page)
    rows, missed, extra_reloads, types = [], 0, 0, {}
    for i in range(args.warmup + (iterations or args.iterations)):
        try:
            page.wait_for_function(CONNECTED, timeout=WAIT * 1000)
        except Exception:  # noqa: BLE001 - a Playwright timeout: start again from a fresh load
            br.goto(report["url"])
        time.sleep(args.pause)
        label = f"{how} {i} {rng.randrange(1 << 30):x}"
        text = page_text(report["template"], label, 1000 * (i + 1))
        del br.marks[:]
        t0 = time.time()
        if how == "reload":  # the control: the same reload, asked by the page itself, no write
            page.evaluate("setTimeout(() => location.reload(), 0)")
        else:
            rewrite(path, text, how)
        loaded = br.wait_mark(lambda m: m["cmd"] == "loaded" and (how == "reload" or m["label"] == label))
        if loaded is None:
            missed += i >= args.warmup
            br.goto(report["url"])
            continue
        fcp = br.wait_mark(lambda m: m["cmd"] == "fcp", timeout=1.0)
        if i < args.warmup:
            continue
        reloads = [m["t"] for m in br.marks if m["cmd"] == "reload"]
        extra_reloads += max(0, len(reloads) - 1)
        types[loaded["type"]] = types.get(loaded["type"], 0) + 1
        origin = loaded["origin"] / 1000 - offset  # the new document's navigation start, python clock
        row = {"command": reloads[0] / 1000 - offset - t0 if reloads else None, "nav": origin - t0}
        row.update({k: origin + v / 1000 - t0 if v else None for k, v in loaded["nav"].items()})
        row["fcp"] = fcp["t"] / 1000 - offset - t0 if fcp else None
        row["res"] = {r["name"]: r["ms"] / 1000 for r in loaded["res"]}
        rows.append(row)
    offset_end, _ = clock_offset(page)
    return _series_figures(rows, missed, {
        "offset_s": offset, "offset_rtt_s": rtt, "offset_drift_s": offset_end - offset,
        "extra_reloads": extra_reloads, "nav_types": types, "page_bytes": report["bytes"]})


def _series_figures(rows, missed, extra):
    out = dict(extra)
    stages = [k for k in (rows[0] if rows else {}) if k != "res"]
    for k in stages:
        vals = [r[k] for r in rows if r[k] is not None]
        out[k] = summary(vals, len(rows) - len(vals) + missed)
    names = sorted({n for r in rows for n in r.get("res", {})})
    out["resources_median_s"] = {n: statistics.median([r["res"][n] for r in rows if n in r["res"]])
                                 for n in names}
    out["n"], out["missed"] = len(rows), missed
    return out


def css_series(br, report, args, rng):
    """Rewrite the stylesheet in place (a new colour each time); time the write to the first
    frame whose computed style shows it, detected in the page (requestAnimationFrame)."""
    page = br.page
    path = os.path.join(report["dir"], "style.css")
    br.goto(report["url"])
    page.evaluate("window.__tbKept = true")  # gone if the page reloads instead of swapping the sheet
    offset, rtt = clock_offset(page)
    rows, missed = [], 0
    for i in range(args.warmup + args.iterations):
        time.sleep(args.pause)
        color = f"rgb({10 + i % 240}, {rng.randrange(256)}, {rng.randrange(256)})"
        page.evaluate(CSS_WATCH, color)
        del br.marks[:]
        t0 = time.time()
        rewrite(path, CSS.format(color=color), "inplace")
        done = br.wait_mark(lambda m: m["cmd"] == "css" and m["color"] == color)
        if done is None:
            missed += i >= args.warmup
            br.goto(report["url"])
            page.evaluate("window.__tbKept = true")
            continue
        if i < args.warmup:
            continue
        cmds = [m["t"] for m in br.marks if m["cmd"] == "reload"]
        rows.append({"command": cmds[0] / 1000 - offset - t0 if cmds else None,
                     "fetched": done["fetched"] / 1000 - offset - t0 if done["fetched"] else None,
                     "applied": done["t"] / 1000 - offset - t0})
    kept = page.evaluate("window.__tbKept === true")
    offset_end, _ = clock_offset(page)
    return _series_figures(rows, missed, {"offset_s": offset, "offset_rtt_s": rtt,
                                          "offset_drift_s": offset_end - offset, "same_document": kept})


def bench_reload(tmp, args, fig, servers):
    """(1) for each server: the report rewritten atomically and in place, small and ~2 MB; the CSS."""
    root = os.path.join(tmp, "reports-root")
    reports = make_reports(root, args.big_kb * 1024, args.seed)
    fig["report_bytes"] = {k: r["bytes"] for k, r in reports.items()}
    try:
        br = Browser()
    except Exception as e:  # noqa: BLE001 - no chromium, no playwright: part 2 still runs
        fig["browser_error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        return
    try:
        fig["chromium"] = br.browser.version
        for kind in args.server.split(","):
            srv = Server(kind, root, os.path.join(tmp, f"server-reload-{kind}.log"))
            servers.append(srv)
            h = srv.wait_ready()
            br.open(srv.base)
            rng = random.Random(args.seed)
            res = {"watcher": h["watcher"]}
            for key, name, how in (("small_atomic", "r", "atomic"), ("small_inplace", "r", "inplace")):
                res[key] = html_series(br, reports[name], how, args, rng)
            res["css"] = css_series(br, reports["r"], args, rng)
            for key, name, how in (("big_atomic", "big", "atomic"), ("big_inplace", "big", "inplace")):
                res[key] = html_series(br, reports[name], how, args, rng)
            for name in ("r", "big"):  # the controls: the browser alone, the server alone
                res[f"control_{name}"] = html_series(br, reports[name], "reload", args, rng, args.control)
                times = []
                for _ in range(20):
                    t = time.perf_counter()
                    srv.get(reports[name]["url"])
                    times.append(time.perf_counter() - t)
                res[f"control_{name}"]["get_s"] = statistics.median(times)
            res["page_errors"] = br.errors[:5]
            fig[f"reload_{kind}"] = res
            srv.stop()
    finally:
        br.close()


# -- part 2: a 1 GiB file ------------------------------------------------------------------


class RssSampler:
    """VmRSS of one process every ``every`` seconds, in a thread: (perf_counter, bytes)."""

    def __init__(self, pid, every=0.05):
        self.pid, self.every = pid, every
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while True:
            try:
                self.samples.append((time.perf_counter(), proc_mem(self.pid)["VmRSS"]))
            except (OSError, KeyError):
                return
            if self._stop.wait(self.every):
                return

    def peak(self, since, until):
        vals = [v for t, v in self.samples if since <= t <= until]
        return max(vals) if vals else None

    def stop(self):
        self._stop.set()
        self._thread.join(2)


class Prober:
    """Another client, as a page's own requests would be: GET /healthz every ``every`` s in a
    thread, (start, seconds) each; shows whether serving the file holds up everyone else."""

    def __init__(self, base, every=0.1):
        self.url, self.every = base + "/healthz", every
        self.times = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        http = requests.Session()
        while not self._stop.is_set():
            t = time.perf_counter()
            try:
                http.get(self.url, timeout=30).raise_for_status()
                self.times.append((t, time.perf_counter() - t))
            except requests.RequestException:
                self.times.append((t, None))
            self._stop.wait(max(0.0, self.every - (time.perf_counter() - t)))

    def window(self, since, until):
        return [d for t, d in self.times if since <= t <= until]

    def stop(self):
        self._stop.set()
        self._thread.join(35)


BLOCK = 1 << 20


def make_big_file(path, size, seed):
    """``size`` bytes of real data (one random 1 MiB block repeated) when the disk has room
    (5 GiB free after it), else a sparse file; returns (kind, the block or None)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if shutil.disk_usage(os.path.dirname(path)).free - size < 5 << 30:
        with open(path, "wb") as f:
            f.truncate(size)
        return "sparse", None
    block = random.Random(seed).randbytes(BLOCK)
    with open(path, "wb") as f:
        for _ in range(size // BLOCK):
            f.write(block)
        f.write(block[:size % BLOCK])
    return "real data", block


def download(url):
    n = 0
    with requests.get(url, stream=True, timeout=300) as r:
        r.raise_for_status()
        for chunk in r.iter_content(BLOCK):
            n += len(chunk)
    return n


def seek_reads(url, size, n, rng, block):
    """``n`` open-ended range requests (``bytes=OFF-``) at random offsets, each reading 1 MiB
    and closing the connection: what a video element does when seeking."""
    times, bad = [], []
    for _ in range(n):
        off = rng.randrange(0, size - BLOCK)
        t = time.perf_counter()
        with requests.get(url, headers={"Range": f"bytes={off}-"}, stream=True, timeout=60) as r:
            got = b""
            for chunk in r.iter_content(64 << 10):
                got += chunk
                if len(got) >= BLOCK:
                    break
            ok = (r.status_code == 206 and r.headers.get("Content-Range", "").startswith(f"bytes {off}-")
                  and len(got) >= BLOCK)
            if ok and block is not None:  # the bytes are the file's: the block repeats every 1 MiB
                ok = got[:64] == (block[off % BLOCK:] + block)[:64]
            if not ok:
                bad.append((off, r.status_code, r.headers.get("Content-Range")))
        times.append(time.perf_counter() - t)
    return times, bad


def bench_bigfile(tmp, args, fig, servers):
    """(2) serving a big file: one download, ``--clients`` at once, ``--ranges`` seeks; worker RSS."""
    root = os.path.join(tmp, "bigfile-root")
    rel = "videos/big.mp4"
    size = int(args.file_gib * (1 << 30))
    t = time.perf_counter()
    fig["bigfile_kind"], block = make_big_file(os.path.join(root, rel), size, args.seed)
    fig["bigfile_write_s"], fig["bigfile_bytes"] = time.perf_counter() - t, size
    for kind in args.file_servers.split(","):
        srv = Server(kind, root, os.path.join(tmp, f"server-bigfile-{kind}.log"))
        servers.append(srv)
        srv.wait_ready()
        url = srv.base + "/files/" + rel
        pid = srv.worker_pid()
        srv.get("/files/" + rel, headers={"Range": "bytes=0-1023"})  # warm: the route, the file's stat
        time.sleep(0.5)
        res = {"rss_before": proc_mem(pid)["VmRSS"]}
        sampler, prober = RssSampler(pid), Prober(srv.base)
        try:
            def phase(name, fn):
                cpu, t = cpu_seconds(pid), time.perf_counter()
                out = fn()
                end = time.perf_counter()
                probes = prober.window(t, end)
                res[name] = {"s": end - t, "rss_peak": sampler.peak(t, end + 0.06), "cpu_s": cpu_seconds(pid) - cpu,
                             "healthz": summary([d for d in probes if d is not None], probes.count(None))}
                return out

            n = phase("one", lambda: download(url))
            res["one"]["bytes"] = n
            res["one"]["mb_s"] = n / res["one"]["s"] / 1e6
            got = [0] * args.clients

            def many():
                def one(i):
                    got[i] = download(url)
                ts = [threading.Thread(target=one, args=(i,)) for i in range(args.clients)]
                for th in ts:
                    th.start()
                for th in ts:
                    th.join()

            phase("many", many)
            res["many"]["bytes"] = sum(got)
            res["many"]["complete"] = sum(g == size for g in got)
            res["many"]["mb_s"] = sum(got) / res["many"]["s"] / 1e6
            times, bad = phase("ranges", lambda: seek_reads(url, size, args.ranges, random.Random(args.seed), block))
            res["ranges"].update(summary(times, len(bad)))
            res["ranges"]["bad"] = bad[:5]
            time.sleep(1.0)  # aborted responses end, buffers go back
            t = time.perf_counter()
            srv.healthz()
            res["healthz_after_s"] = time.perf_counter() - t
            time.sleep(0.2)
        finally:
            sampler.stop()
            prober.stop()
        mem = proc_mem(pid)
        res["rss_after"], res["rss_hwm"] = mem["VmRSS"], mem["VmHWM"]
        res["rss_peak"] = max(v for _, v in sampler.samples)
        res["samples"] = len(sampler.samples)
        fig[f"bigfile_{kind}"] = res
        srv.stop()


# -- report --------------------------------------------------------------------------------


def _ms_or(v):
    return ms(v) if v is not None else "-"


def _size(b):
    return f"{b / 1e3:.1f} kB" if b < 1e6 else mb(b)


def _target(r):
    return f"target p95 < {ms(TARGET_RELOAD)}: " + ("ok" if r["p95_s"] is not None and r["p95_s"] < TARGET_RELOAD
                                                     else "MISSED")


def reload_rows(fig, args, kind):
    res = fig[f"reload_{kind}"]
    small, big = fig["report_bytes"]["r"], fig["report_bytes"]["big"]
    first = res["small_atomic"]
    rows = [(f"(1) write -> browser reload, {KINDS[kind]} ({res['watcher']}); {args.iterations} per series, "
             f"{args.pause:g} s apart; chromium {fig.get('chromium', '?')}", None, None),
            ("", "p50 / p95 / p99 / max", ""),
            ("  clock: browser - python (time.time)", f"{first['offset_s'] * 1000:+.2f} ms",
             f"measured within {ms(first['offset_rtt_s'])}, drift over a series {first['offset_drift_s'] * 1000:+.2f} ms;"
             " browser times are corrected by it")]
    for key, what in (("small_atomic", f"report {_size(small)}, tmp + os.replace"),
                      ("small_inplace", f"report {_size(small)}, open('w') in place"),
                      ("big_atomic", f"report {_size(big)}, tmp + os.replace"),
                      ("big_inplace", f"report {_size(big)}, open('w') in place")):
        r = res[key]
        if "nav" not in r:
            rows.append((what, "-", f"nothing measured: missed {r['missed']}"))
            continue
        res_note = ", ".join(f"{n} {ms(v)}" for n, v in r["resources_median_s"].items())
        steps = ("command", "nav", "fetch", "response_start", "response_end", "commit", "fcp", "dcl", "load")
        rows += [
            (what, None, None),
            ("  write -> reload starts (new document's timeOrigin)", pct_cells(r["nav"]),
             f"n={r['n']}, missed={r['missed']}, extra reloads={r['extra_reloads']}; {_target(r['nav'])}"),
            ("  write -> first contentful paint (new text shown)", pct_cells(r["fcp"]), _target(r["fcp"])),
            ("  write -> DOMContentLoaded", pct_cells(r["dcl"]), _target(r["dcl"])),
            ("  write -> load", pct_cells(r["load"]), ""),
            ("  p50 from the write of each step", "", " / ".join(f"{k} {_ms_or(r[k]['p50_s'])}" for k in steps)),
            ("  the reloaded page's requests (median duration)", "", res_note),
        ]
    for name, size in (("r", small), ("big", big)):
        r = res.get(f"control_{name}")
        if r and "nav" in r:
            rows += [
                (f"control, report {_size(size)}: no write, the page calls location.reload()", None, None),
                ("  call -> reload starts / FCP / DCL / load, p50", " / ".join(
                    _ms_or(r[k]["p50_s"]) for k in ("nav", "fcp", "dcl", "load")),
                 f"p95 {' / '.join(_ms_or(r[k]['p95_s']) for k in ('nav', 'fcp', 'dcl', 'load'))}; "
                 f"n={r['n']}: the browser's own cost of a reload"),
                ("  GET the report with requests (median of 20)", ms(r["get_s"]), "the server's own cost"),
            ]
    c = res["css"]
    if "applied" in c:
        rows += [
            ("stylesheet rewritten in place (CSS swapped in, no reload)", None, None),
            ("  write -> new style applied (requestAnimationFrame)", pct_cells(c["applied"]),
             f"n={c['n']}, missed={c['missed']}; "
             + ("same document throughout" if c["same_document"] else "the page RELOADED at least once")),
            ("  p50: command / new sheet fetched", " / ".join(_ms_or(c[k]["p50_s"]) for k in ("command", "fetched")),
             ""),
        ]
    if res["page_errors"]:
        rows.append(("page errors", str(len(res["page_errors"])), "; ".join(res["page_errors"])[:200]))
    return rows


def bigfile_rows(fig, args, kind):
    r = fig[f"bigfile_{kind}"]
    size = fig["bigfile_bytes"]
    one, many, ranges = r["one"], r["many"], r["ranges"]
    return [
        (f"(2) a {size / (1 << 30):g} GiB file ({fig['bigfile_kind']}), {KINDS[kind]}: worker RSS every 50 ms",
         None, None),
        ("RSS before / peak / after", f"{mb(r['rss_before'])} / {mb(r['rss_peak'])} / {mb(r['rss_after'])}",
         f"peak - before {mb(r['rss_peak'] - r['rss_before'])}; VmHWM {mb(r['rss_hwm'])}; {r['samples']} samples"),
        ("one client downloads it all", f"{one['mb_s']:,.0f} MB/s",
         f"{ms(one['s'])}, RSS peak {mb(one['rss_peak'])}, worker CPU {ms(one['cpu_s'])}"),
        (f"{args.clients} clients at once", f"{many['mb_s']:,.0f} MB/s",
         f"all {many['complete']}/{args.clients} complete in {ms(many['s'])}, RSS peak {mb(many['rss_peak'])}, "
         f"worker CPU {ms(many['cpu_s'])}"),
        (f"{args.ranges} seeks (Range: bytes=N-, read 1 MiB, close)", pct_cells(ranges),
         f"p50/p95/p99/max; {ms(ranges['s'])} in all, RSS peak {mb(ranges['rss_peak'])}, "
         f"wrong answers {ranges['missed']} {ranges['bad'] or ''}"),
        ("another client meanwhile: GET /healthz every 100 ms", "p50 / p95 / p99 / max", ""),
        *((f"  during {what}", pct_cells(r[k]["healthz"]), f"n={r[k]['healthz']['n']}, failed {r[k]['healthz']['missed']}")
          for k, what in (("one", "the download"), ("many", f"the {args.clients} downloads"), ("ranges", "the seeks"))),
        ("GET /healthz right after", ms(r["healthz_after_s"]), ""),
    ]


def table(fig, args):
    rows = []
    if "browser_error" in fig:
        rows.append(("(1) write -> browser reload", "-", "not measured: " + fig["browser_error"]))
    for kind in args.server.split(","):
        if f"reload_{kind}" in fig:
            rows += reload_rows(fig, args, kind)
    for kind in args.file_servers.split(","):
        if f"bigfile_{kind}" in fig:
            rows += bigfile_rows(fig, args, kind)
    return render_rows(rows, value_width=41)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=50, help="rewrites per reload series (default 50)")
    ap.add_argument("--warmup", type=int, default=2, help="rewrites not counted at the start of each series")
    ap.add_argument("--control", type=int, default=20, help="plain location.reload() per report (default 20)")
    ap.add_argument("--pause", type=float, default=0.3, help="seconds between a reload and the next write")
    ap.add_argument("--big-kb", type=int, default=2048, help="size of the big report in KiB (default 2048)")
    ap.add_argument("--server", default="gunicorn", help="servers for part 1: gunicorn, flask or both")
    ap.add_argument("--file-gib", type=float, default=1.0, help="size of the big file in GiB (default 1)")
    ap.add_argument("--file-servers", default="gunicorn,flask", help="servers for part 2 (default both)")
    ap.add_argument("--clients", type=int, default=4, help="simultaneous downloads (default 4)")
    ap.add_argument("--ranges", type=int, default=200, help="range requests (default 200)")
    ap.add_argument("--only", default="1,2", help="parts to run: 1, 2 or 1,2")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="also print one JSON line with every figure")
    args = parse_args(ap, argv, set_repo)
    for opt in ("server", "file_servers"):
        if set(getattr(args, opt).split(",")) - set(KINDS):
            ap.error(f"--{opt.replace('_', '-')}: gunicorn, flask or gunicorn,flask")
    parts = set(args.only.split(","))

    def run_parts(tmp, fig, servers):
        if "1" in parts:
            bench_reload(tmp, args, fig, servers)
        if "2" in parts:
            bench_bigfile(tmp, args, fig, servers)

    run_bench("Tailboard files", "tailboard-bench-files-", args, run_parts, lambda fig: table(fig, args),
              json_line=args.json)


if __name__ == "__main__":
    main()
