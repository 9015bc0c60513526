"""A run folder deleted while inotify watches is dropped at once, not at the next safety-net
rescan: the runs list stops showing it and an open overview hears a ``runset`` event naming it,
and an open run page hears that its run is gone.

The mutation audit found that dropping the check for a vanished run folder (so that the deletion
waited for the periodic rescan, 30 s by default) survived every existing test: here the rescan
is an hour away, so only the inotify path can pass.
"""
from __future__ import annotations

import json
import shutil
import time

import pytest
import requests

from conftest import LIGHTNING_ID, SPT_ID
from live_clients import SSE, start_server, stop_server, wait_for

RUN = "jsonl/run1"
PROMPT = 5.0  # seconds: inotify answers in milliseconds; the rescan would take an hour


@pytest.fixture(params=["flask", "gunicorn"])
def server(request, samples):
    proc, url = start_server(request.param, samples, VIEWER_RESCAN="3600")
    yield url
    stop_server(proc)


def run_ids(url):
    return {r["id"] for r in requests.get(url + "/api/runs").json()["runs"]}


def removed_event(sse, rid):
    ev = sse.next("runset", timeout=PROMPT, where=lambda e: rid in json.loads(e["data"])["removed"])
    return json.loads(ev["data"])


def test_a_deleted_run_folder_leaves_the_list_and_the_streams_say_so(server, samples, tmp_path):
    health = requests.get(server + "/healthz").json()
    assert health["watcher"] == "inotify", health  # the path under test, not polling
    assert {"keras", "jsonl/run1"} <= run_ids(server)
    overview = SSE(server, "/events")
    run_page = SSE(server, "/events?run=keras")
    t0 = time.monotonic()
    shutil.rmtree(samples / "keras")  # a run at the top of the root, deleted
    assert removed_event(overview, "keras") == {"added": [], "removed": ["keras"]}
    gone = run_page.next("run", timeout=PROMPT, where=lambda e: "gone" in e["data"].lower())
    assert 'id="run-head"' in gone["data"]
    shutil.move(samples / "jsonl" / "run1", tmp_path / "archived")  # a nested run, moved out of the root
    assert removed_event(overview, "jsonl/run1") == {"added": [], "removed": ["jsonl/run1"]}
    wait_for(lambda: run_ids(server) == {"hf", LIGHTNING_ID, SPT_ID}, timeout=PROMPT,
             what="the runs list to drop both runs and keep the others")
    assert time.monotonic() - t0 < 2 * PROMPT
    assert requests.get(f"{server}/api/runs/keras").status_code == 404
    overview.close()
    run_page.close()
