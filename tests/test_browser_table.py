"""The runs table in a real browser: filters, chips, sorting, groups, selection, pages, the URL
as the table's state, and live row updates that keep what the user did."""
from __future__ import annotations

import json
import os
import re
import time
from urllib.parse import parse_qs, urlparse

import pytest

from builders import replace
from live_clients import SSE, start_server, stop_server

N = 130               # more than two pages of 50 (the default)
PER = 50
ROWS = "#runs tr.run-row"


def sidecar(i, n=N, now=None, **over):
    """A small spt run: status cycles, the first runs are recent (running), the rest stale."""
    now = now or time.time()
    status = ("completed", "running", "failed", "completed", "running")[i % 5]
    updated = now - 5 * i if status == "running" and i < 20 else now - 3600 - 60 * i
    data = {"schema_version": 1, "run_id": f"run{i:03d}", "status": status, "display_name": f"run-{i:03d}",
            "created_at": updated - 600 - i, "updated_at": updated,
            "tags": ["baseline"] if i % 3 == 0 else ["sweep:a", "big"] if i % 3 == 1 else [],
            "hparams": {"optim.lr": (0.1, 0.01, 0.001)[i % 3], "model.name": ("mlp", "resnet")[i % 2],
                        "data.name": "c10"},
            "summary": {"val/acc": round(i / n, 4), "loss": round(1 - i / n, 4)} if i % 7 else {"loss": 0.5}}
    data.update(over)
    return data, updated


def write_run(root, i, **over):
    """Run ``i``'s sidecar, renamed into place as spt writes it, its mtime its ``updated_at``."""
    data, updated = sidecar(i, **over)
    replace(os.path.join(root, "exp", f"run{i:03d}", "sidecar.json"), json.dumps(data), mtime=updated)


@pytest.fixture(scope="module")
def table_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("many")
    for i in range(N):
        write_run(str(root), i)
    proc, url = start_server("flask", root)
    yield url, str(root)
    stop_server(proc)


@pytest.fixture
def base(table_server):
    return table_server[0]


def row_ids(page):
    return page.eval_on_selector_all(ROWS, "rs => rs.map(r => r.dataset.run)")


def wait_rows(page, n):
    page.wait_for_function(f"document.querySelectorAll('{ROWS}').length === {n}")


def query_of(page):
    return parse_qs(urlparse(page.url).query)


def test_typing_narrows_rows_and_lands_in_the_url(page, base):
    page.goto(base + "/")
    wait_rows(page, PER)
    page.fill("#filter-q", "run-01")
    wait_rows(page, 10)
    assert all(r.startswith("exp/run01") for r in row_ids(page))
    assert query_of(page)["q"] == ["run-01"]
    assert "10 of 130 runs" in page.inner_text("#runs .pager")
    assert page.errors == []


def test_a_regex_filters_and_a_bad_one_says_why(page, base):
    page.goto(base + "/")
    wait_rows(page, PER)
    page.check("#table-form input[name=regex]")
    page.fill("#filter-q", "^run-00[0-4]$")
    wait_rows(page, 5)
    assert sorted(row_ids(page)) == [f"exp/run00{i}" for i in range(5)]
    page.fill("#filter-q", "run-(0")
    page.wait_for_selector(".query-error")
    assert "invalid regular expression" in page.inner_text(".query-error")
    assert page.errors == []


def test_clicking_a_tag_adds_a_removable_chip(page, base):
    page.goto(base + "/")
    wait_rows(page, PER)
    page.locator(f"{ROWS} button.tag", has_text="baseline").first.click()
    page.wait_for_selector(".pill[data-chip='tag:baseline']")
    wait_rows(page, 44)  # every third run of 130
    assert page.eval_on_selector_all(ROWS, "rs => rs.every(r => r.innerText.includes('baseline'))")
    assert query_of(page)["f"] == ["tag:baseline"]
    page.click(".pill[data-chip='tag:baseline'] .pill-x")
    wait_rows(page, PER)
    assert page.locator(".pill").count() == 0 and "f" not in query_of(page)
    assert page.errors == []


def test_alt_click_on_a_metric_cell_keeps_runs_at_least_as_good(page, base):
    page.goto(base + "/?sort=m:val/acc&order=desc&per=50")
    wait_rows(page, 50)
    cell = page.locator(f"{ROWS} td[data-col='m:val/acc']").nth(9)
    value = float(cell.inner_text())
    cell.click(modifiers=["Alt"])
    page.wait_for_selector(".pill")
    wait_rows(page, 10)
    values = page.eval_on_selector_all(f"{ROWS} td[data-col='m:val/acc']", "cs => cs.map(c => +c.innerText)")
    assert min(values) == value
    assert page.errors == []


def test_clicking_a_header_sorts_and_missing_values_go_last(page, base):
    page.goto(base + "/?per=1000")
    wait_rows(page, N)
    page.click("th[data-col='m:val/acc'] a")
    page.wait_for_selector("th[data-col='m:val/acc'][aria-sort=descending]")
    values = page.eval_on_selector_all(f"{ROWS} td[data-col='m:val/acc']", "cs => cs.map(c => c.innerText)")
    present = [float(v) for v in values if v]
    assert present == sorted(present, reverse=True) and present[0] == round(129 / N, 4)
    assert values[len(present):] == [""] * (N - len(present))  # runs without val/acc last
    page.click("th[data-col='m:val/acc'] a")
    page.wait_for_selector("th[data-col='m:val/acc'][aria-sort=ascending]")
    values = page.eval_on_selector_all(f"{ROWS} td[data-col='m:val/acc']", "cs => cs.map(c => c.innerText)")
    present = [float(v) for v in values if v]
    assert present == sorted(present) and values[-1] == ""
    assert query_of(page)["order"] == ["asc"]
    assert page.errors == []


def test_grouping_shows_collapsible_groups_kept_in_the_url(page, base):
    page.goto(base + "/?per=1000")
    wait_rows(page, N)
    page.select_option("#runs select.group-by", "status")
    page.wait_for_selector("tbody.group[data-group='running']")
    groups = page.eval_on_selector_all("tbody.group", "bs => bs.map(b => b.dataset.group)")
    assert groups == ["running", "stale", "failed", "completed"]
    running = page.locator("tbody.group[data-group='running'] tr.run-row")
    assert running.count() == 8 and running.first.is_visible()
    page.click("tbody.group[data-group='running'] button.fold")
    page.wait_for_function("location.search.includes('fold=running')")
    assert not running.first.is_visible()
    page.reload()
    page.wait_for_selector("tbody.group.folded[data-group='running']", state="attached")
    assert not page.locator("tbody.group[data-group='running'] tr.run-row").first.is_visible()
    assert page.locator("tbody.group[data-group='stale'] tr.run-row").first.is_visible()
    assert page.errors == []


def test_selection_survives_reload_paging_and_sorting_and_builds_the_compare_link(page, base):
    page.goto(base + "/")
    wait_rows(page, PER)
    ids = row_ids(page)[:2]
    for rid in ids:
        page.check(f"tr[data-run='{rid}'] input.run-select")
    page.wait_for_function("location.search.split('sel=').length === 3")
    page.reload()
    wait_rows(page, PER)
    for rid in ids:
        assert page.is_checked(f"tr[data-run='{rid}'] input.run-select")
    link = page.locator("#compare-link")
    assert link.inner_text() == "Compare 2 runs"
    assert parse_qs(urlparse(link.get_attribute("href")).query)["run"] == ids
    assert urlparse(link.get_attribute("href")).path == "/compare"
    page.locator("a[rel=next]").first.click()
    page.wait_for_function("location.search.includes('page=2')")
    page.locator("a[rel=prev]").first.click()
    wait_rows(page, PER)
    page.click("th[data-col='name'] a")
    page.wait_for_selector("th[data-col='name'][aria-sort=ascending]")
    for rid in ids:
        assert page.is_checked(f"tr[data-run='{rid}'] input.run-select")
    assert page.locator("#compare-link").inner_text() == "Compare 2 runs"
    page.click("#runs .sel-clear")
    page.wait_for_function("!location.search.includes('sel=')")
    assert not page.is_checked(f"tr[data-run='{ids[0]}'] input.run-select")
    assert page.errors == []


def test_pages_of_50_with_next_and_prev(page, base):
    page.goto(base + "/")
    wait_rows(page, PER)
    assert "130 of 130 runs · 1–50 shown" in page.inner_text("#runs .pager")
    assert page.locator("a[rel=prev]").count() == 0
    page.locator("a[rel=next]").first.click()
    page.wait_for_function("location.search.includes('page=2')")
    assert "51–100 shown" in page.inner_text("#runs .pager")
    page.locator("a[rel=next]").first.click()
    wait_rows(page, 30)
    assert "101–130 shown" in page.inner_text("#runs .pager") and query_of(page)["page"] == ["3"]
    assert page.locator("a[rel=next]").count() == 0
    page.go_back()
    wait_rows(page, PER)
    page.go_back()
    wait_rows(page, PER)
    assert page.errors == []


def test_the_url_restores_a_filtered_sorted_grouped_view(page, base):
    page.goto(base + "/")
    wait_rows(page, PER)
    page.fill("#filter-q", "resnet")
    wait_rows(page, min(65, PER))
    page.click("th[data-col='m:val/acc'] a")
    page.wait_for_selector("th[data-col='m:val/acc'][aria-sort=descending]")
    page.select_option("#runs select.group-by", "hp:optim.lr")
    page.wait_for_selector("tbody.group")
    before = (row_ids(page), page.eval_on_selector_all("tbody.group", "bs => bs.map(b => b.dataset.group)"))
    url = page.url
    page.goto("about:blank")
    page.goto(url)
    wait_rows(page, min(65, PER))
    after = (row_ids(page), page.eval_on_selector_all("tbody.group", "bs => bs.map(b => b.dataset.group)"))
    assert after == before and before[1] == ["0.001", "0.01", "0.1"]
    assert page.input_value("#filter-q") == "resnet"
    assert page.errors == []


def test_a_sort_clicked_while_the_filter_box_waits_is_kept(page, base):
    """A keystroke's request starts 25 ms later and replaces any in flight: a sort clicked in
    between must survive it (the click lands in the form at once, not when its answer does)."""
    page.goto(base + "/")
    wait_rows(page, PER)
    page.evaluate("""() => {
      const box = document.querySelector('#filter-q');
      box.value = 'resnet';
      box.dispatchEvent(new Event('input', {bubbles: true}));     // its request waits 25 ms...
      document.querySelector("th[data-col='m:val/acc'] a").click();  // ...the click's goes first
    }""")
    page.wait_for_selector("th[data-col='m:val/acc'][aria-sort=descending]")
    page.wait_for_url(lambda url: "q=resnet" in url and "sort=m%3Aval%2Facc" in url)
    ids = row_ids(page)
    assert ids and all(int(rid[-3:]) % 2 == 1 for rid in ids)   # the odd runs are the resnets
    assert page.errors == []


def test_column_picker_and_hparams_on_demand(page, base):
    page.goto(base + "/")
    wait_rows(page, PER)
    page.click("#runs .col-picker summary")
    page.check("#runs .col-picker input[value='hp:data.name']")
    page.uncheck("#runs .col-picker input[value='m:loss']")
    page.click("#runs .cols-apply")
    page.wait_for_selector("th[data-col='hp:data.name']")
    assert page.locator("th[data-col='m:loss']").count() == 0
    assert "hp:data.name" in query_of(page)["cols"][0]
    assert page.locator(f"{ROWS} td[data-col='hp:data.name']").first.inner_text() == "c10"
    page.locator(f"{ROWS} details.hp summary").first.click()
    page.wait_for_selector(f"{ROWS} details.hp .hp-body table")
    assert "optim.lr" in page.locator(f"{ROWS} details.hp .hp-body").first.inner_text()
    page.click("#runs .col-picker summary")
    page.click("#runs .cols-default")
    page.wait_for_selector("th[data-col='m:loss']")
    assert "cols" not in query_of(page)
    assert page.errors == []


def test_default_columns_fit_a_laptop_screen(browser, base):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = ctx.new_page()
    pg.goto(base + "/")
    pg.wait_for_selector(ROWS)
    assert pg.evaluate("document.documentElement.scrollWidth <= innerWidth")
    assert pg.locator("#activity .card").count() == 8  # the running runs, latest first
    ctx.close()


def test_a_live_row_update_keeps_its_checkbox_and_columns(page, table_server):
    base, root = table_server
    page.goto(base + "/")
    wait_rows(page, PER)
    acc = "document.querySelector(\"tr[data-run='exp/run001'] td[data-col='m:val/acc']\").innerText"
    # the server's first change also announces its key metrics (the whole table re-fetches):
    # get it out of the way so that the next one is a plain row event
    write_run(root, 1, summary={"val/acc": 0.4141, "loss": 0.1}, updated_at=time.time())
    page.wait_for_function(acc + " === '0.4141'", timeout=10000)
    row = page.locator("tr[data-run='exp/run001']")
    cells = row.locator("td").count()
    row.locator("input.run-select").check()
    page.wait_for_function("location.search.includes('sel=')")
    write_run(root, 1, summary={"val/acc": 0.4242, "loss": 0.1}, updated_at=time.time())
    page.wait_for_function(acc + " === '0.4242'", timeout=10000)
    assert row.locator("input.run-select").is_checked()
    assert row.locator("td").count() == cells  # the table's hparam columns are still there
    assert row.locator("td[data-col='hp:optim.lr']").inner_text() == "0.01"
    assert page.errors == []


def test_a_change_made_before_the_page_stream_opens_still_reaches_it(page, table_server):
    """The page resumes its stream from the newest event id the server had when it drew the page
    (``data-event-id``): a change published in between is replayed, not lost."""
    base, root = table_server
    held = []
    page.route(re.compile(r"/events(\?.*)?$"), lambda route: held.append(route))  # the page's stream waits here
    page.goto(base + "/")
    wait_rows(page, PER)
    assert len(held) == 1 and "last_event_id=" in held[0].request.url
    watcher = SSE(base, "/events")  # another client: proof that the server published the change
    write_run(root, 1, summary={"val/acc": 0.5151, "loss": 0.1}, updated_at=time.time())
    watcher.next("row", timeout=10, where=lambda e: "exp/run001" in e["data"] and "0.5151" in e["data"])
    watcher.close()
    held[0].continue_()  # the stream opens only now, after the change went out
    acc = "document.querySelector(\"tr[data-run='exp/run001'] td[data-col='m:val/acc']\")"
    page.wait_for_function(f"{acc} && {acc}.innerText === '0.5151'", timeout=10000)
    assert page.errors == []
