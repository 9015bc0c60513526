"""The front end works under the page CSP, and nothing a run's files say can run as script.

Debian's chromium driven by Playwright. Part 1 opens every page and tab of the samples and
collects CSP violations (none allowed). Part 2 plants script and markup payloads in every
string a run's files control (folder names, tags, notes, hparam keys and values, metric names,
log text, media tags and captions, report names), opens every page, tab, picker, tooltip and
live path, and checks that nothing ran, no payload element exists, and each payload is shown
as text. Part 2 runs with the CSP and again with the browser ignoring it (Playwright's
``bypass_csp``; its request routing would also break websockets): escaping must hold alone.
"""
from __future__ import annotations

import base64
import csv
import json
import time
from urllib.parse import quote

import pytest
import yaml
from playwright.sync_api import expect

from builders import csv_text, sidecar, spt_run, write
from conftest import LIGHTNING_ID, SPT_ID
from live_clients import start_server, stop_server
from viewer.web.security import PAGE_CSP

# registered before any page script: every violation the page meets, and where
WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  const t = e.target && e.target.nodeType === 1 ? e.target : null;
  window.__csp.push({directive: e.effectiveDirective, blocked: e.blockedURI, sample: e.sample,
                     inLog: !!(t && t.closest && t.closest('pre.log'))});
}, true);
"""


def watch(page, csp=None):
    """Record violations, CSP console errors and dialogs; ``csp`` replaces the page policy."""
    page.add_init_script(WATCH_CSP)
    page.console_csp = []
    page.dialogs = []
    page.on("console", lambda m: page.console_csp.append(m.text)
            if "Content Security Policy" in m.text or "Refused to" in m.text else None)

    def on_dialog(d):
        page.dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", on_dialog)
    if csp is None:
        return

    def route(r):
        if r.request.resource_type != "document":
            r.fallback()
            return
        resp = r.fetch()
        r.fulfill(response=resp, headers={**resp.headers, "content-security-policy": csp})

    page.route("**/*", route)


def violations(page):
    return page.evaluate("window.__csp")


# -- part 1: the samples under the page CSP ------------------------------------------------

def visit_everything(page, base, samples, live_log=True):
    """Every page and tab, waiting for what each draws (charts, live log socket, media, plots)."""
    page.goto(base + "/")
    page.wait_for_selector("tr.run-row")
    page.wait_for_selector("#activity .strip")
    page.click("details.col-picker summary")
    page.wait_for_selector(".col-lists")
    # a user's click, but not a pointer at a spot: the sticky table bar may cover the row's
    # summary after scrolling on a small or busy screen
    page.locator("tr.run-row details.hp summary").first.dispatch_event("click")
    page.wait_for_selector("tr.run-row details.hp table.kv")
    page.fill("#filter-q", "spt")
    page.wait_for_function("document.querySelectorAll('tr.run-row').length === 1")
    page.keyboard.press("Enter")   # no inline onsubmit any more: still no page load
    yield "/ (filter, picker, hparams)"
    page.goto(f"{base}/runs/{SPT_ID}")
    page.wait_for_selector("[data-drawn]")
    page.hover(".chart-card .u-over")
    page.wait_for_selector(".chart-tip:not([hidden])")
    page.fill(".chart-controls input[name=metric]", "loss")
    page.keyboard.press("Enter")
    page.wait_for_function("location.search.includes('metric=loss')")
    yield "run charts"
    page.click("nav.tabs >> text=Logs")
    page.wait_for_selector("pre.log")
    page.wait_for_function("window.tailboard.followers.size > 0")
    if live_log:
        with open(samples / SPT_ID / "train.out", "a") as f:
            f.write("a line through the websocket\n")   # connect-src 'self' lets the log socket in
        page.wait_for_function("document.body.innerText.includes('a line through the websocket')", timeout=10000)
    yield "run logs"
    page.click("nav.tabs >> text=Media")
    page.wait_for_selector(".media-item img")
    page.wait_for_function("[...document.querySelectorAll('.media-item img')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    yield "run media"
    page.click("nav.tabs >> text=Config")
    page.wait_for_selector(".config-panel")
    yield "run config"
    both = f"run={quote(SPT_ID, safe='')}&run={quote(LIGHTNING_ID, safe='')}"
    page.goto(f"{base}/compare?{both}")
    page.wait_for_selector("[data-drawn]")
    yield "compare charts"
    page.goto(f"{base}/compare?{both}&tab=table")
    page.wait_for_selector("table.compare-table")
    yield "compare table"
    page.goto(f"{base}/compare?{both}&tab=scatter")
    page.wait_for_selector("[data-compare-scatter][data-drawn]")
    yield "compare scatter"
    page.goto(f"{base}/files/spt/")
    page.wait_for_selector("table.listing")
    yield "listing"


def test_no_page_breaks_the_csp(page, live_server, samples):
    watch(page)
    for where in visit_everything(page, live_server, samples):
        assert violations(page) == [], where
        assert page.console_csp == [], where
        assert page.errors == [], where


ANSI_LOG = ("\x1b[31mbasic\x1b[0m \x1b[38;5;196mpalette\x1b[0m \x1b[48;2;1;2;3mtruecolour\x1b[0m "
            "\x1b[1;4mbold\x1b[0m\n")
SHOWN = """(sel) => [...document.querySelectorAll(sel)].map(el => { const s = getComputedStyle(el);
  return [el.textContent, s.color, s.backgroundColor, s.fontWeight, s.textDecorationLine]; })"""


def test_log_colours_show_under_the_policy_without_unsafe_inline(page, live_server, samples):
    """The page policy has no 'unsafe-inline': ANSI colours still show, in the log drawn with the
    page and in lines that arrive live, and the page meets no violation."""
    (samples / "jsonl" / "run1" / "colours.out").write_text(ANSI_LOG)
    watch(page)
    page.goto(f"{live_server}/runs/jsonl/run1?tab=logs")
    page.wait_for_selector("pre.log[data-follow] span[data-bg]")
    page.wait_for_function("[...document.querySelectorAll('.log-stream')].some(box =>"
                           " box.querySelector('pre.log').dataset.follow.endsWith('colours.out')"
                           " && box.querySelector('.follow-state').textContent === 'following')")
    red = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--ansi-red').trim()")
    shown = {row[0]: row[1:] for row in page.evaluate(SHOWN, "pre.log span[class^='ansi'], pre.log span[data-fg], pre.log span[data-bg]")}
    r, g, b = (int(red[i:i + 2], 16) for i in (1, 3, 5))
    assert shown["basic"][0] == f"rgb({r}, {g}, {b})"           # a class: the theme's red
    assert shown["palette"][0] == "rgb(255, 0, 0)"               # 256-palette 196, via CSSOM
    assert shown["truecolour"][1] == "rgb(1, 2, 3)"              # 24-bit background, via CSSOM
    assert shown["bold"][2] == "700" and shown["bold"][3] == "underline"
    with open(samples / "jsonl" / "run1" / "colours.out", "a") as f:
        f.write("\x1b[38;2;10;200;30mlive green\x1b[0m\n")
    page.wait_for_function("[...document.querySelectorAll('pre.log span[data-fg]')]"
                           ".some(el => el.textContent === 'live green' && el.style.color)")
    live = {row[0]: row[1:] for row in page.evaluate(SHOWN, "pre.log span[data-fg]")}
    assert live["live green"][0] == "rgb(10, 200, 30)"
    assert violations(page) == [] and page.console_csp == [] and page.errors == []


def test_run_colours_are_applied_without_style_attributes(page, live_server):
    watch(page)
    page.goto(f"{live_server}/compare?run={quote(SPT_ID, safe='')}&run={quote(LIGHTNING_ID, safe='')}&tab=table")
    page.wait_for_selector("th.compare-run")
    colours = page.evaluate("[...document.querySelectorAll('th.compare-run')].map(th =>"
                            " [th.dataset.runColor, getComputedStyle(th).borderTopColor])")
    assert len(colours) == 2
    for given, shown in colours:
        r, g, b = (int(given[i:i + 2], 16) for i in (1, 3, 5))
        assert shown == f"rgb({r}, {g}, {b})"   # the run's own colour, not the fallback
    assert violations(page) == []


def test_a_report_can_frame_another_report(page, live_server, samples):
    # reports are sandboxed (opaque origin): a frame-ancestors on files would block this
    (samples / "outer.html").write_text('<html><body><iframe src="inner.html"></iframe></body></html>')
    (samples / "inner.html").write_text('<html><body><p id="in">inner</p>'
                                        '<script>document.getElementById("in").textContent = "inner ran"</script>'
                                        '</body></html>')
    page.goto(live_server + "/files/outer.html")
    expect(page.frame_locator("iframe").locator("#in")).to_have_text("inner ran")


# -- part 2: payloads in every user-controlled string --------------------------------------

def payload(mark, slash=True):
    """Markup that would run script (and leave a [data-xss] element) if rendered unescaped.

    Its visible text, once escaped, contains ``<b data-xss>MARK``. Folder names cannot hold
    ``/``: ``slash=False`` leaves the closing tags and the <script> out."""
    core = f"\"'><img src=x onerror=\"window.__xss=1;alert(1)\"><svg onload=alert(2)><b data-xss>{mark}"
    return core + ("</b><script>window.__xss=1;alert(3)</script>" if slash else "")


def seen(mark):
    return f"<b data-xss>{mark}"


PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
RUN1 = payload("RUNDIR", slash=False)     # a folder name
RUN2 = "plain-run"
METRIC = payload("METRIC", slash=False)
LT_METRIC = "val/" + payload("LTMETRIC")


def payload_run(path, name, lr, tags, hkey, hval, notes, status="completed"):
    """An spt run whose every user-controlled string is the given one: sidecar, metrics, media
    index, log and report name."""
    now = time.time()
    media = "".join(json.dumps({"step": step, "tag": payload("MEDIATAG"), "type": "image", "path": "media/" + img,
                                "caption": payload(f"CAPTION{step}")}) + "\n"
                    for step, img in ((1, "a.png"), (2, "b.png")))
    spt_run(path, sidecar(path.name, status, now=now, display_name=name, ended_at=now, tags=tags, notes=notes,
                          hparams={hkey: hval, "lr": lr}, summary={METRIC: lr * 10}),
            metrics=csv_text(["step", METRIC, "loss"], [[step, lr * step, 1.0 / step] for step in range(1, 9)],
                             end="\r\n"),
            files={"media/a.png": PNG, "media/b.png": PNG, "media.jsonl": media,
                   "train.out": "plain line\n\x1b[31m" + payload("LOG") + "\x1b[0m\n" + "bar 10%\r" + payload("PARTIAL"),
                   payload("REPORT", slash=False) + ".html": "<html><body>report</body></html>"})


@pytest.fixture
def hostile(tmp_path):
    """A runs folder whose every user-controlled string is a payload; yields (root, url)."""
    root = tmp_path / "runs"
    payload_run(root / RUN1, payload("NAME"), 0.1, [payload("TAG")], payload("HKEY"), payload("HVALUE"),
                payload("NOTES"), status="running")
    payload_run(root / RUN2, RUN2, 0.01, ["plain"], payload("HKEY"), "other value", "plain notes")
    lt = root / "lt" / "version_0"
    write(lt / "hparams.yaml", yaml.safe_dump({payload("YAMLKEY", slash=False): {"x": payload("YAMLVALUE")}}))
    write(lt / "metrics.csv", csv_text(["step", "epoch", LT_METRIC], [[0, 0, 1.5], [1, 0, 1.2]], end="\r\n"))
    proc, url = start_server("flask", root)
    try:
        yield root, url
    finally:
        stop_server(proc)


def assert_inert(page, where):
    assert page.dialogs == [], where
    assert page.evaluate("window.__xss") is None, where
    assert page.evaluate("document.querySelectorAll('[data-xss]').length") == 0, where
    assert page.errors == [], where


def assert_shows(page, where, *marks):
    """Inert, and each payload is on screen as text (so it was rendered, escaped)."""
    assert_inert(page, where)
    text = page.inner_text("body")
    missing = [m for m in marks if seen(m) not in text]
    assert not missing, (where, missing)


def run_url(url, rid, **args):
    return f"{url}/runs/{quote(rid)}" + ("?" + "&".join(f"{k}={quote(str(v), safe='')}" for k, v in args.items())
                                         if args else "")


@pytest.fixture(params=["page policy", "no policy"])
def any_policy_page(browser, request):
    """A page under the page CSP, then one ignoring it (as if the header were stripped)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=request.param == "no policy")
    pg = ctx.new_page()
    pg.policy = request.param
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    yield pg
    ctx.close()


def test_overview_shows_payloads_as_text(any_policy_page, hostile):
    # the table, strips, filter, chips, grouping, chosen columns, picker, hparams; then live
    page, (root, url) = any_policy_page, hostile
    watch(page)
    page.goto(url + "/")
    page.wait_for_selector("tr.run-row")
    page.wait_for_selector("#activity .strip")
    assert_inert(page, "/")
    if page.policy == "no policy":   # the mode means something: injected markup would run here
        page.evaluate("document.body.insertAdjacentHTML('beforeend',"
                      " '<img id=probe src=x onerror=\"window.__probe = 1\">')")
        page.wait_for_function("window.__probe === 1")
        page.evaluate("document.getElementById('probe').remove()")
    assert_shows(page, "/", "NAME", "TAG", "RUNDIR")
    active = page.inner_text(".strip-active")   # cards: run names and their key metric
    assert seen("NAME") in active and seen("LTMETRIC") in active
    page.evaluate("(id) => [...document.querySelectorAll('tr.run-row')].find(r => r.dataset.run === id)"
                  ".querySelector('details.hp summary').click()", RUN1)
    page.wait_for_selector("details.hp[open] table.kv")
    assert_shows(page, "hparams", "HKEY", "HVALUE")
    page.click("details.col-picker summary")
    page.wait_for_selector(".col-lists")
    assert_shows(page, "column picker", "HKEY", "METRIC", "YAMLKEY")
    page.goto(url + "/?group=tag&cols=" + quote(f"hp:{payload('HKEY')},m:{METRIC}", safe=""))
    page.wait_for_selector("tbody.group")
    assert_shows(page, "grouped", "TAG", "HKEY", "METRIC")
    page.fill("#filter-add", "tag:" + payload("TAG"))
    page.keyboard.press("Enter")
    page.wait_for_selector("li.pill")
    assert_shows(page, "chip", "TAG")
    page.fill("#filter-q", payload("QUERY"))
    page.wait_for_function("location.search.includes('QUERY')")
    page.wait_for_function("document.body.innerText.includes('<b data-xss>QUERY')")
    assert_inert(page, "filter")
    page.goto(url + "/?regex=1&q=" + quote("(" + payload("REGEX"), safe=""))
    page.wait_for_selector(".query-error")
    assert_inert(page, "regex error")

    # live: a row changes (row event), a run appears (runset: the table re-fetches)
    page.goto(url + "/")
    page.wait_for_selector("tr.run-row")
    side = json.loads((root / RUN1 / "sidecar.json").read_text())
    side["tags"].append(payload("LIVETAG"))
    (root / RUN1 / "sidecar.json").write_text(json.dumps(side))
    page.wait_for_function("document.body.innerText.includes('<b data-xss>LIVETAG')", timeout=15000)
    assert_inert(page, "live row")
    payload_run(root / payload("NEWRUN", slash=False), payload("NEWNAME"), 0.5, [], "k", "v", "n")
    page.wait_for_function("document.body.innerText.includes('<b data-xss>NEWNAME')", timeout=15000)
    assert_inert(page, "live new run")


def test_run_page_shows_payloads_as_text(any_policy_page, hostile):
    # every tab, the chart tooltip, the lightbox; live metrics, log lines and media
    page, (root, url) = any_policy_page, hostile
    watch(page)
    page.goto(run_url(url, RUN1))
    page.wait_for_selector("[data-drawn]")
    assert_inert(page, "run charts")   # chart titles and legends are drawn by static/charts/
    page.locator(".chart-card", has_text=seen("METRIC")).locator(".u-over").hover()
    page.wait_for_selector(".chart-tip:not([hidden])")
    assert_shows(page, "run charts", "NAME", "TAG", "NOTES", "METRIC")
    with open(root / RUN1 / "metrics.csv", "a", newline="") as f:
        csv.writer(f).writerow([9, 0.9, 0.1])
    page.wait_for_function("[...window.tailboard.charts.values()][0].some(c => c.plot && c.plot.data[0].length === 9)",
                           timeout=10000)
    assert_inert(page, "run charts")
    page.goto(run_url(url, RUN1, metric="(" + payload("METRICFILTER")))
    page.wait_for_selector(".chart-filter-error:not([hidden])")
    assert_inert(page, "metric filter")

    page.goto(run_url(url, RUN1, tab="logs"))
    page.wait_for_selector("pre.log")
    page.wait_for_function("window.tailboard.followers && window.tailboard.followers.size > 0")
    assert_shows(page, "logs", "LOG", "PARTIAL")
    with open(root / RUN1 / "train.out", "a") as f:
        f.write("\n\x1b[1;32m" + payload("LIVELOG") + "\x1b[0m\n" + payload("LIVEPARTIAL"))
    page.wait_for_function("document.body.innerText.includes('<b data-xss>LIVELOG')", timeout=10000)
    page.wait_for_function("document.body.innerText.includes('<b data-xss>LIVEPARTIAL')", timeout=10000)
    assert_inert(page, "live logs")

    page.goto(run_url(url, RUN1, tab="media"))
    page.wait_for_selector(".media-item img")
    assert_shows(page, "media", "MEDIATAG", "CAPTION2", "REPORT")
    page.click("[data-media-prev]")
    page.wait_for_function("document.body.innerText.includes('<b data-xss>CAPTION1')")
    page.click(".media-item img")
    page.wait_for_selector("dialog[open]")
    assert_inert(page, "lightbox")
    page.keyboard.press("Escape")
    page.click("[data-media-next]")
    (root / RUN1 / "media" / "c.png").write_bytes(PNG)
    with open(root / RUN1 / "media.jsonl", "a") as f:
        f.write(json.dumps({"step": 3, "tag": payload("MEDIATAG"), "type": "image", "path": "media/c.png",
                            "caption": payload("LIVECAPTION")}) + "\n")
    page.wait_for_function("document.body.innerText.includes('<b data-xss>LIVECAPTION')", timeout=10000)
    assert_inert(page, "live media")

    page.goto(run_url(url, RUN1, tab="media", compare=payload("NOMEDIARUN")))
    page.wait_for_selector(".media-note")
    assert_shows(page, "media compare", "NOMEDIARUN", "MEDIATAG")

    page.goto(run_url(url, RUN1, tab="config"))
    page.wait_for_selector(".config-panel")
    assert_shows(page, "config", "HKEY", "HVALUE", "RUNDIR", "REPORT", "NOTES")
    assert_inert(page, "config")
    page.goto(run_url(url, "lt/version_0", tab="config"))
    page.wait_for_selector(".config-panel")
    assert_shows(page, "yaml config", "YAMLKEY", "YAMLVALUE", "LTMETRIC")
    assert_inert(page, "yaml config")


def test_compare_shows_payloads_as_text(any_policy_page, hostile):
    # charts (tooltip), table, scatter (tooltip), with an unknown run id listed
    page, url = any_policy_page, hostile[1]
    watch(page)
    both = (f"run={quote(RUN1, safe='')}&run={quote(RUN2, safe='')}&run=lt%2Fversion_0"
            f"&run={quote(payload('NOSUCHRUN'), safe='')}")
    page.goto(f"{url}/compare?{both}")
    page.wait_for_selector("[data-drawn]")
    assert_inert(page, "compare charts")
    page.locator(".chart-card", has_text=seen("METRIC")).locator(".u-over").hover()
    page.wait_for_selector(".chart-tip:not([hidden])")
    assert_shows(page, "compare charts", "NAME", "METRIC", "NOSUCHRUN")
    assert_inert(page, "compare charts")
    page.goto(f"{url}/compare?{both}&tab=table")
    page.wait_for_selector("table.compare-table")
    assert_shows(page, "compare table", "NAME", "HKEY", "HVALUE", "METRIC", "YAMLKEY")
    assert_inert(page, "compare table")
    page.goto(f"{url}/compare?{both}&tab=scatter&sx=h:lr&sy=" + quote("m:" + METRIC, safe=""))
    page.wait_for_selector("[data-compare-scatter][data-drawn]")
    x, y = page.evaluate("""() => {
      const item = [...window.tailboard.comparePlots.values()][0], u = item.plot, p = item.points[0];
      const r = u.over.getBoundingClientRect();
      return [r.left + u.valToPos(p.x, 'x'), r.top + u.valToPos(p.y, 'y')];
    }""")
    page.mouse.move(x, y)
    page.wait_for_selector(".compare-tip:not([hidden])")
    assert_shows(page, "compare scatter", "NAME", "METRIC")
    assert_inert(page, "compare scatter")


def test_listing_and_error_page_show_payloads_as_text(any_policy_page, hostile):
    page, (root, url) = any_policy_page, hostile
    watch(page)
    page.goto(f"{url}/files/{quote(RUN1)}/")
    page.wait_for_selector("table.listing")
    assert_shows(page, "listing", "RUNDIR", "REPORT")
    (root / RUN1 / (payload("NEWFILE", slash=False) + ".txt")).write_text("x")
    page.wait_for_function("document.body.innerText.includes('<b data-xss>NEWFILE')", timeout=10000)
    assert_inert(page, "live listing")
    page.goto(run_url(url, payload("UNKNOWN", slash=False)))
    assert_shows(page, "error page", "UNKNOWN")


def test_a_runs_folder_script_cannot_run_on_a_viewer_page(page, live_server, samples):
    # script-src 'self' would allow /files/evil.js: the server refuses it to our own pages
    (samples / "evil.js").write_text("window.__xss = 1")
    watch(page)
    page.goto(live_server + "/")
    page.wait_for_selector("tr.run-row")
    status = page.evaluate("""() => new Promise((done) => {
      const s = document.createElement('script');
      s.src = 'files/evil.js';
      s.addEventListener('load', () => done('ran'));
      s.addEventListener('error', () => done('refused'));
      document.head.append(s);
    })""")
    assert status == "refused" and page.evaluate("window.__xss") is None
