"""The logs tab's rank selector in a real browser (Debian's chromium driven by Playwright):
an spt run whose submitit task has six ranks opens on rank 0, the choice goes to the URL and
only the chosen rank's tails are on the page and followed."""
from __future__ import annotations

import pytest

from builders import append, sidecar, spt_run, write
from test_browser_xss import violations, watch

RUN = "ranked/runs/r"
RANKS = 6


@pytest.fixture
def samples(samples):
    """The samples plus an spt run whose task 7_3 logged from six ranks, before the server starts."""
    for rank in range(RANKS):
        for kind in ("out", "err"):
            write(samples / "ranked" / "outputs" / "7_3" / ".submitit" / f"7_3_{rank}_log.{kind}",
                  f"rank {rank} {kind} says hello\n")
    write(samples / "ranked" / "outputs" / "own" / "train.out", "the plain log\n")
    spt_run(samples / "ranked" / "runs" / "r",
            sidecar("a_3", "running", tags=["sweep:7"], hparams={"output_dir": "../../outputs/own"}))
    return samples


def stream_names(page):
    return sorted(page.locator(".log-stream header b").all_inner_texts())


def shows_rank(page, rank):
    """Wait until the tab holds exactly rank ``rank``'s tails and the plain log, each followed."""
    expected = sorted(["train.out", f"7_3 rank {rank} (out)", f"7_3 rank {rank} (err)"])
    page.wait_for_function(f"document.querySelectorAll('.log-stream').length === 3 && "
                           f"document.querySelector('#log-7_3_{rank}_log-out') !== null")
    assert stream_names(page) == expected
    page.wait_for_function("window.tailboard && window.tailboard.followers.size === 3")  # no hidden tail followed


def test_choosing_a_rank_shows_only_its_streams_and_survives_a_reload(page, live_server, samples):
    watch(page)
    page.goto(f"{live_server}/runs/{RUN}?tab=logs")
    shows_rank(page, 0)  # six ranks: rank 0 by default, not twelve tails
    select = page.locator("form.log-ranks select[name=rank]")
    assert select.input_value() == "0"
    assert select.locator("option").all_inner_texts() == ["all ranks (6)"] + [f"rank {r}" for r in range(RANKS)]

    select.select_option("3")
    page.wait_for_function("new URLSearchParams(location.search).get('rank') === '3'")
    shows_rank(page, 3)
    # the followed tail is live
    append(samples / "ranked" / "outputs" / "7_3" / ".submitit" / "7_3_3_log.out", "rank 3 goes on\n")
    page.locator("#log-7_3_3_log-out pre.log", has_text="rank 3 goes on").wait_for()

    page.reload()
    shows_rank(page, 3)
    assert page.locator("form.log-ranks select[name=rank]").input_value() == "3"
    # the tab links keep the choice: charts and back
    page.click("nav.tabs >> text=Charts")
    page.wait_for_function("new URLSearchParams(location.search).get('tab') === 'charts'")
    assert "rank=3" in page.url
    page.click("nav.tabs >> text=Logs")
    shows_rank(page, 3)

    page.locator("form.log-ranks select[name=rank]").select_option("all")
    page.wait_for_function("document.querySelectorAll('.log-stream').length === 13")
    assert "rank=all" in page.url
    assert page.errors == [] and violations(page) == [] and page.console_csp == []
