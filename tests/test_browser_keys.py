"""Keyboard shortcuts and the theme switch, in a real browser (Debian's chromium)."""
from __future__ import annotations

from conftest import SPT_ID

BG = "getComputedStyle(document.body).backgroundColor"


def test_question_mark_lists_the_shortcuts_and_escape_closes_them(page, live_server):
    page.goto(live_server + "/")
    page.locator("tr.run-row").first.wait_for()
    page.keyboard.press("?")
    help_ = page.locator("dialog#keys-help")
    help_.wait_for()
    assert help_.evaluate("d => d.open")
    assert "compare the selected runs" in help_.inner_text()
    page.keyboard.press("Escape")
    page.wait_for_function("!document.getElementById('keys-help').open")
    assert page.errors == []


def test_slash_focuses_the_filter_and_typing_there_is_not_a_shortcut(page, live_server):
    page.goto(live_server + "/")
    page.locator("tr.run-row").first.wait_for()
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.name") == "q"
    page.keyboard.type("jx")  # letters that are shortcuts elsewhere go into the field
    assert page.evaluate("document.activeElement.value") == "jx"
    assert page.locator("tr.kbd-focus").count() == 0


def test_j_moves_through_the_runs_and_o_opens_one(page, live_server):
    page.goto(live_server + "/")
    rows = page.locator("tr.run-row")
    rows.first.wait_for()
    page.keyboard.press("j")
    page.keyboard.press("j")
    second = rows.nth(1).get_attribute("data-run")
    assert page.locator("tr.kbd-focus").get_attribute("data-run") == second
    page.keyboard.press("k")
    assert page.locator("tr.kbd-focus").get_attribute("data-run") == rows.nth(0).get_attribute("data-run")
    page.keyboard.press("j")
    page.keyboard.press("o")
    page.wait_for_url("**/runs/**")
    assert page.url.split("/runs/", 1)[1].split("?")[0] == second
    page.keyboard.press("g")
    page.keyboard.press("h")
    page.wait_for_function("location.pathname === '/'")
    assert page.errors == []


def test_number_keys_switch_the_run_tabs(page, live_server):
    page.goto(f"{live_server}/runs/{SPT_ID}")
    page.wait_for_selector("nav.tabs a.on")
    page.keyboard.press("2")
    page.wait_for_selector("pre.log")
    assert "tab=logs" in page.url
    page.keyboard.press("4")
    page.wait_for_function("location.search.includes('tab=config')")
    assert page.errors == []


def test_theme_switch_follows_the_system_then_forces_light_and_dark_and_is_remembered(browser, live_server):
    ctx = browser.new_context(color_scheme="dark")
    page = ctx.new_page()
    try:
        page.goto(live_server + "/")
        page.locator("tr.run-row").first.wait_for()
        dark = page.evaluate(BG)
        assert page.locator(".theme-toggle").inner_text().endswith("system")
        page.keyboard.press("t")  # system -> light
        page.wait_for_function(f"{BG} !== {dark!r}")
        light = page.evaluate(BG)
        assert page.evaluate("document.documentElement.dataset.theme") == "light"
        page.reload()
        page.locator("tr.run-row").first.wait_for()
        assert page.evaluate(BG) == light  # remembered across pages, applied before first paint
        page.click(".theme-toggle")  # light -> dark
        page.wait_for_function(f"{BG} === {dark!r}")
        assert page.locator(".theme-toggle").inner_text().endswith("dark")
    finally:
        ctx.close()


def test_x_selects_runs_and_c_opens_the_compare_view_with_them(page, live_server):
    page.goto(live_server + "/")
    rows = page.locator("tr.run-row")
    rows.first.wait_for()
    first, second = rows.nth(0).get_attribute("data-run"), rows.nth(1).get_attribute("data-run")
    for key in ("j", "x", "j", "x"):
        page.keyboard.press(key)
    page.wait_for_function("document.querySelectorAll('input.run-select:checked').length === 2")
    page.keyboard.press("c")
    page.wait_for_url("**/compare?**")
    from urllib.parse import parse_qs, urlsplit
    assert parse_qs(urlsplit(page.url).query)["run"] == [first, second]
    assert page.errors == []
