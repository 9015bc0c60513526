"""Take the README's screenshots of the bundled demo in Debian's chromium.

    python docs/make_screenshots.py            # writes docs/*.png

Starts the real app on the demo (a fresh copy under a temporary TMPDIR, so the live run is
young), waits for its first scan, and saves the main screens in the light and dark themes at
1440x900, then the overview, a run and the compare page on a 390x844 phone (touch, 2x pixels).
The compare page's parallel coordinates (`tab=pcoords`) are shot when the app has them.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time

import requests
from playwright.sync_api import sync_playwright

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
SWEEP = [f"sweep/lr{lr}-seed{s}" for lr in (0.01, 0.03) for s in (0, 1, 2)]


def start():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIEWER_")}
    env["TMPDIR"] = tempfile.mkdtemp(prefix="tailboard-shots-")
    proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "run", "--port", str(port)],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            h = requests.get(url + "/healthz", timeout=1).json()
            if h["scan"]["phase"] == "done":
                return proc, url
        except (requests.ConnectionError, ValueError):
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("the app did not start")


def runs_query(ids, **extra):
    q = "&".join(f"run={i}" for i in ids)
    return q + "".join(f"&{k}={v}" for k, v in extra.items())


PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


def shoot(page, url, name, wait, settle=600):
    page.goto(url)
    page.wait_for_selector(wait, state="attached")
    page.wait_for_timeout(settle)  # let fonts, charts and the live stream settle
    page.screenshot(path=os.path.join(HERE, name))
    print("wrote", os.path.join("docs", name))


def main():
    proc, url = start()
    try:
        time.sleep(8)  # the demo's live run logs a few steps
        live = [r["id"] for r in requests.get(url + "/api/runs", timeout=5).json()["runs"] if "live" in r["tags"]]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for scheme in ("light", "dark"):
                ctx = browser.new_context(viewport={"width": 1440, "height": 900}, color_scheme=scheme,
                                          device_scale_factor=1)
                page = ctx.new_page()
                if scheme == "light":
                    shoot(page, url + "/", "overview.png", "tr.run-row")
                    shoot(page, url + "/?group=hp:optim.lr&q=sweep", "table-grouped.png", "tr.run-row")
                    shoot(page, f"{url}/compare?{runs_query(SWEEP, tab='charts', smooth='0.6', metric='loss')}",
                          "compare-charts.png", ".chart-card canvas", 1200)
                    shoot(page, f"{url}/compare?{runs_query(SWEEP, tab='charts', agg='mean', spread='std', metric='loss')}",
                          "compare-mean.png", ".chart-card canvas", 1200)
                    shoot(page, f"{url}/compare?{runs_query(SWEEP, tab='table')}", "compare-table.png", "table")
                    shoot(page, f"{url}/compare?{runs_query(SWEEP, tab='scatter', sx='h:optim.lr', sy='m:val/loss', slx=1)}",
                          "compare-scatter.png", "canvas", 1000)
                    page.goto(f"{url}/compare?{runs_query(SWEEP, tab='pcoords')}")
                    if page.locator("[data-pcoords]").count():
                        shoot(page, f"{url}/compare?{runs_query(SWEEP, tab='pcoords')}", "compare-pcoords.png",
                              "[data-pcoords] svg, [data-pcoords] canvas", 1000)
                    else:
                        print("skipped docs/compare-pcoords.png: this app has no parallel coordinates")
                else:
                    if live:
                        shoot(page, f"{url}/runs/{live[0]}", "run-dark.png", ".chart-card canvas", 1200)
                        shoot(page, f"{url}/runs/{live[0]}?tab=logs", "logs-dark.png", "pre.log")
                    shoot(page, url + "/", "overview-dark.png", "tr.run-row")
                ctx.close()
            ctx = browser.new_context(color_scheme="light", **PHONE)
            page = ctx.new_page()
            shoot(page, url + "/", "phone-overview.png", "tr.run-row")
            if live:
                shoot(page, f"{url}/runs/{live[0]}", "phone-run.png", ".chart-card canvas", 1200)
            shoot(page, f"{url}/compare?{runs_query(SWEEP, tab='charts', smooth='0.6')}", "phone-compare.png",
                  ".chart-card canvas", 1200)
            ctx.close()
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
