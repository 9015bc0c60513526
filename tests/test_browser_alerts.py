"""Alerts in a real browser: the bell's count goes up live, desktop notifications are switched
on by a click (the permission granted the way a user would), and an alert links to its chart
zoomed at the step that fired."""
from __future__ import annotations

import os
import time

import requests

from builders import append
from conftest import LIGHTNING_ID


def test_the_bell_counts_a_new_alert_live_and_notifies(page, live_server, samples):
    page.context.grant_permissions(["notifications"], origin=live_server)
    page.goto(live_server + "/alerts")
    button = page.locator("[data-alerts-notify]")
    button.wait_for()
    assert button.inner_text() == "Enable desktop notifications"
    button.click()
    page.wait_for_selector("[data-alerts-notify-state][data-on='1']")
    assert "on in this browser" in page.locator("[data-alerts-notify-state]").inner_text()

    page.goto(live_server + "/")
    page.locator("tr.run-row").first.wait_for()
    count = page.locator(".bell .bell-count")
    assert count.is_hidden()
    csv = os.path.join(samples, LIGHTNING_ID, "metrics.csv")
    append(csv, "5,0.05,80,nan,,\r\n")
    count.wait_for(state="visible", timeout=15000)
    assert count.inner_text() == "1"
    page.wait_for_function("window.tailboard.alerts.notified.length === 1", timeout=10000)
    # the run's row shows its badge (the live row event carries it)
    badge = page.locator(f"tr.run-row[data-run='{LIGHTNING_ID}'] .alert-badge")
    badge.wait_for(timeout=10000)

    page.click(".bell")
    row = page.locator(".alerts-table tr.alert-row")
    row.first.wait_for()
    assert row.count() == 1 and "train/loss" in row.inner_text() and "NaN" in row.inner_text()
    assert page.locator(".bell .bell-count").is_hidden()  # the alerts page marks them seen
    page.click(".alerts-table tr.alert-row a:has-text('chart')")
    page.wait_for_selector("[data-charts][data-zoomed='1']", timeout=15000)
    assert "zoom=" in page.url and "tab=charts" in page.url
    assert page.errors == []


def test_a_files_page_bell_counts_a_new_alert_live(page, live_server, samples):
    """A folder listing's event stream carries what every page gets: the bell goes up there too,
    and the listing still follows its folder."""
    page.goto(live_server + "/files/" + LIGHTNING_ID + "/")
    count = page.locator(".bell .bell-count")
    page.locator(".bell").wait_for()
    deadline = time.monotonic() + 15  # the page's event stream is open (the server counts it)
    while requests.get(live_server + "/healthz", timeout=5).json()["streams"] < 1:
        assert time.monotonic() < deadline, "the files page never opened its event stream"
        time.sleep(0.05)
    assert count.is_hidden()
    append(os.path.join(samples, LIGHTNING_ID, "metrics.csv"), "5,0.05,80,nan,,\r\n")
    count.wait_for(state="visible", timeout=15000)
    assert count.inner_text() == "1"
    with open(os.path.join(samples, LIGHTNING_ID, "notes.txt"), "w") as f:
        f.write("new file\n")
    page.locator("a:has-text('notes.txt')").wait_for(timeout=15000)  # the listing is live as before
    assert page.errors == []
