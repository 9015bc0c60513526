"""The publisher (``viewer/live/publisher.py``) decides what a change publishes, with no Flask:
these tests hand it a store, a bus and a renderer that only records what it was asked for."""
from __future__ import annotations

import contextlib
import json

from conftest import LIGHTNING_ID, scanned
from viewer.live.bus import RESYNC, Bus
from viewer.live.publisher import Publisher

LIGHTNING_CSV = ("lightning", "lightning_logs", "version_0", "metrics.csv")


class Recorder:
    """A renderer: each fragment is a tag naming what was asked; ``sessions`` counts batches."""

    def __init__(self):
        self.calls, self.sessions = [], 0

    @contextlib.contextmanager
    def session(self):
        self.sessions += 1
        yield

    def scan(self, state):
        self.calls.append(("scan", state["phase"]))
        return f"<scan {state['phase']}>"

    def run_head(self, run):
        self.calls.append(("run_head", run["id"], run.get("gone", False)))
        return f"<head {run['id']}>"

    def run_row(self, run, columns):
        self.calls.append(("run_row", run["id"], tuple(columns)))
        return f"<row {run['id']}>"

    def counts(self, counts, total):
        self.calls.append(("counts", sum(counts.values()), total))
        return f"<counts {total}>"

    def media(self, items):
        return [{"url": "/files/" + m["path"]} for m in items]


def drain(sub):
    out = []
    while (ev := sub.get(timeout=0)) is not None:
        out.append(ev)
    return out


def test_with_nobody_listening_nothing_is_rendered_but_files_are_announced(samples):
    store, bus, rec = scanned(samples), Bus(), Recorder()
    pub = Publisher(store, bus, rec)
    with open(samples.joinpath(*LIGHTNING_CSV), "a") as f:
        f.write("5,0.05,83,1.5,,\r\n")
    changes = store.apply([str(samples.joinpath(*LIGHTNING_CSV))])
    assert LIGHTNING_ID in changes.changed
    pub(changes)
    assert rec.calls == [] and rec.sessions == 0
    assert bus.last_id()  # the internal ``file`` event went out all the same


def test_a_page_back_after_a_change_nobody_heard_reloads_instead_of_missing_it(samples):
    """The run's only page lost its stream; a row was written meanwhile and nobody listened,
    so no ``metrics`` event exists to replay: resuming from its last id gives a resync."""
    store, bus, rec = scanned(samples), Bus(), Recorder()
    pub = Publisher(store, bus, rec)
    store.follow([LIGHTNING_ID])
    page = bus.subscribe(lambda e: e.audience in (LIGHTNING_ID, "*"))
    with open(samples.joinpath(*LIGHTNING_CSV), "a") as f:
        f.write("5,0.05,83,1.5,,\r\n")
    pub(store.apply([str(samples.joinpath(*LIGHTNING_CSV))]))
    last = [e for e in drain(page) if e.name == "metrics"][-1].id
    bus.unsubscribe(page)                                      # the stream breaks
    with open(samples.joinpath(*LIGHTNING_CSV), "a") as f:
        f.write("6,0.04,84,1.6,,\r\n")
    pub(store.apply([str(samples.joinpath(*LIGHTNING_CSV))]))  # heard by nobody
    back = bus.subscribe(lambda e: e.audience in (LIGHTNING_ID, "*"), last_event_id=last)
    assert drain(back) == [RESYNC]


def test_a_changed_run_gives_its_head_metrics_row_and_the_counts_once(samples):
    store, bus, rec = scanned(samples), Bus(), Recorder()
    pub = Publisher(store, bus, rec)
    store.follow([LIGHTNING_ID])  # a page follows the run (as /events?run= does): it has what is on disk so far
    sub = bus.subscribe(lambda e: True)
    with open(samples.joinpath(*LIGHTNING_CSV), "a") as f:
        f.write("5,0.05,83,1.5,,\r\n")
    pub(store.apply([str(samples.joinpath(*LIGHTNING_CSV))]))
    events = drain(sub)
    by_name = {}
    for ev in events:
        by_name.setdefault(ev.name, []).append(ev)
    assert rec.sessions == 1                                   # one request context for the batch
    assert [e.data for e in by_name["run"]] == [f"<head {LIGHTNING_ID}>"]
    assert by_name["run"][0].audience == LIGHTNING_ID
    assert [e.data for e in by_name["row"]] == [f"<template><row {LIGHTNING_ID}></template>"]
    metrics = json.loads(by_name["metrics"][0].data)
    assert metrics["run"] == LIGHTNING_ID and metrics["series"]
    assert "NaN" not in by_name["metrics"][0].data             # non-finite values are null
    assert by_name["counts"][0].data == f"<counts {store.count()}>"
    # the same change again moves no run between statuses: no second counts fragment
    with open(samples.joinpath(*LIGHTNING_CSV), "a") as f:
        f.write("6,0.04,84,1.6,,\r\n")
    pub(store.apply([str(samples.joinpath(*LIGHTNING_CSV))]))
    assert "counts" not in {e.name for e in drain(sub)}


def test_a_vanished_run_tells_its_page_it_is_gone(samples):
    import shutil

    store, bus, rec = scanned(samples), Bus(), Recorder()
    pub = Publisher(store, bus, rec)
    sub = bus.subscribe(lambda e: e.audience == LIGHTNING_ID)
    shutil.rmtree(samples.joinpath(*LIGHTNING_CSV[:-1]))
    pub(store.poll(full=True))
    assert ("run_head", LIGHTNING_ID, True) in rec.calls
    assert any(e.name == "run" for e in drain(sub))


def test_scan_progress_is_rendered_only_for_listeners_and_always_its_last_state(samples):
    store, bus, rec = scanned(samples), Bus(), Recorder()
    Publisher(store, bus, rec).progress({"phase": "loading", "total": 3, "done": 1})
    assert rec.calls == []                                     # nobody listens
    pub = Publisher(store, bus, rec)
    sub = bus.subscribe(lambda e: True)
    pub.progress({"phase": "loading", "total": 3, "done": 2})
    pub.progress({"phase": "loading", "total": 3, "done": 3})  # within 0.2 s: skipped
    pub.progress({"phase": "done", "total": 3, "done": 3})     # the last state always goes
    assert [e.data for e in drain(sub)] == ["<scan loading>", "<scan done>"]
