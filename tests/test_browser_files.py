"""A real browser keeps a report open while a job rewrites it; a listing updates by itself.

Debian's chromium driven by Playwright, against the real app under ``flask run``.
"""
from __future__ import annotations

import time

from builders import PAGE, html_report


def open_report(page, live_server):
    page.goto(live_server + "/files/reports/bench/index.html")
    page.wait_for_function("() => window.LiveReload && window.LiveReload.connector"
                           " && window.LiveReload.connector.protocol === 7")
    page.evaluate("window.kept = 'this document'")  # gone if the page reloads


def color(page):
    return page.evaluate("getComputedStyle(document.getElementById('t')).color")


def test_an_open_report_reloads_when_rewritten_and_swaps_its_css_in_place(page, live_server, samples):
    rep = html_report(samples)
    open_report(page, live_server)
    assert color(page) == "rgb(255, 0, 0)"
    (rep / "style.css").write_text("h1 { color: rgb(0, 0, 255) }\n")
    page.wait_for_function("getComputedStyle(document.getElementById('t')).color === 'rgb(0, 0, 255)'",
                           timeout=5000)
    assert page.evaluate("window.kept") == "this document"  # swapped in place, no reload
    (rep / "index.html").write_text(PAGE.format(title="epoch 2"))
    page.wait_for_function("document.getElementById('t') && document.getElementById('t').textContent === 'epoch 2'",
                           timeout=5000)
    assert page.evaluate("window.kept") is None  # a new document
    assert color(page) == "rgb(0, 0, 255)"
    page.wait_for_function("() => window.LiveReload && window.LiveReload.connector.protocol === 7")
    (rep / "index.html").write_text(PAGE.format(title="epoch 3"))  # and again, from the reloaded page
    page.wait_for_function("document.getElementById('t') && document.getElementById('t').textContent === 'epoch 3'",
                           timeout=5000)
    assert page.errors == []


def test_a_changed_image_is_refreshed_without_reloading_the_page(page, live_server, samples):
    import base64

    rep = html_report(samples)
    one_px = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
    (rep / "plot.png").write_bytes(one_px)
    open_report(page, live_server)
    before = page.evaluate("document.querySelector('img').src")
    (rep / "plot.png").write_bytes(one_px + b"\0")
    page.wait_for_function(f"document.querySelector('img').src !== {before!r}", timeout=5000)
    assert "livereload=" in page.evaluate("document.querySelector('img').src")  # re-fetched
    assert page.evaluate("window.kept") == "this document"


def test_a_report_script_cannot_read_the_viewer_api(page, live_server, samples):
    # reports are user content: sandboxed to an opaque origin, their fetches are cross-origin
    (samples / "evil.html").write_text("""<html><body><p id="out">pending</p><script>
fetch('/api/runs', {credentials: 'include'}).then(r => r.text())
  .then(t => { document.getElementById('out').textContent = 'read ' + t.length; })
  .catch(e => { document.getElementById('out').textContent = 'blocked'; });
</script></body></html>""")
    page.goto(live_server + "/files/evil.html")
    page.wait_for_function("document.getElementById('out').textContent !== 'pending'", timeout=5000)
    assert page.text_content("#out") == "blocked"
    assert page.evaluate("self.origin") == "null"


def test_with_a_token_a_report_still_loads_its_files_and_live_reloads(page, samples):
    # the sandboxed report's own requests carry no cookie: it is moved under a capability path
    from live_clients import start_server, stop_server

    rep = html_report(samples)
    proc, url = start_server("flask", samples, VIEWER_TOKEN="s3cret")
    try:
        page.goto(url + "/?token=s3cret")
        page.goto(url + "/files/reports/bench/index.html")
        assert "/files/~" in page.url
        page.wait_for_function("() => window.LiveReload && window.LiveReload.connector.protocol === 7")
        assert color(page) == "rgb(255, 0, 0)"  # its stylesheet loaded
        (rep / "index.html").write_text(PAGE.format(title="with a token"))
        page.wait_for_function("document.getElementById('t') && document.getElementById('t').textContent === 'with a token'",
                               timeout=5000)
        cap = page.url.split("/files/~")[1].split("/")[0]
        import requests

        assert requests.get(f"{url}/files/~{cap}/reports/bench/style.css").ok        # files: yes
        assert requests.get(f"{url}/files/~{'0' * 32}/reports/bench/style.css").status_code == 401
        assert requests.get(f"{url}/api/runs?cap={cap}").status_code == 401          # the API: no
    finally:
        stop_server(proc)


def test_a_folder_listing_shows_new_files_by_itself_and_sorts(page, live_server, samples):
    d = samples / "plots"
    d.mkdir()
    (d / "small.png").write_bytes(b"x" * 10)
    (d / "big.png").write_bytes(b"x" * 5000)
    page.goto(live_server + "/files/plots/")
    page.wait_for_selector("tr[data-name='small.png']")
    time.sleep(0.3)  # the page's event stream is open
    (d / "fresh.png").write_bytes(b"x" * 100)
    page.wait_for_selector("tr[data-name='fresh.png']", timeout=5000)
    page.click("th a:has-text('size')")
    page.wait_for_selector("th[aria-sort='ascending'] a:has-text('size')")
    assert page.eval_on_selector_all("tbody tr[data-name]", "rs => rs.map(r => r.dataset.name)") == \
        ["small.png", "fresh.png", "big.png"]
    assert "sort=size" in page.url  # the sort is in the URL: a reload keeps it
    page.click("th a:has-text('size')")
    page.wait_for_selector("th[aria-sort='descending'] a:has-text('size')")
    assert page.eval_on_selector_all("tbody tr[data-name]", "rs => rs.map(r => r.dataset.name)") == \
        ["big.png", "fresh.png", "small.png"]
    assert page.errors == []
