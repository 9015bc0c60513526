"""bench/compare.py's own parts: the generated data, the spt folders both viewers read, and
the clients' bookkeeping (no servers: the figures themselves are the benchmark's business)."""
from __future__ import annotations

import json
import os
import sys
import threading
import time

import pytest

from conftest import REPO, scanned, series

sys.path.insert(0, os.path.join(REPO, "bench"))

import compare  # noqa: E402
import peer_spt  # noqa: E402


def test_rows_are_deterministic_and_lazy():
    rows = compare.Rows(1_000_000)
    assert len(rows) == 1_000_000
    assert rows[999_999] == compare.values_at(999_999)
    assert rows[-1] == rows[999_999]
    assert [r[0] for r in rows[10:13]] == [10, 11, 12]
    assert compare.Rows(5)[2] == compare.Rows(5)[2]
    with pytest.raises(IndexError):
        rows[1_000_000]


def test_tailboard_reads_the_spt_folder_the_spt_peer_reads(tmp_path):
    fmt = peer_spt.SptFormat()
    fmt.write_tree(str(tmp_path), [{"name": "live", "rows": compare.Rows(100), "log_lines": ["hello"]}])
    fmt.append_row(str(tmp_path), "live", 100, compare.values_at(100)[1])
    store = scanned(str(tmp_path))
    [run] = store.runs()
    assert run.to_json()["id"] == "live" and run.to_json()["format"] == "spt"
    loss = series(store, "live", names=["train/loss"], points=1000)["train/loss"]
    assert loss["x"][-1] == 100
    assert loss["y"][-1] == pytest.approx(compare.values_at(100)[1]["train/loss"])
    with open(fmt.log_file(str(tmp_path), "live")) as f:
        assert f.read() == "hello\n"


def test_the_spt_viewer_reads_the_same_values(tmp_path):
    peer_spt.SptPeer().setup()  # the spt wheel's viewer, unpacked once (cached under /tmp/tailboard-peers)
    sys.path.insert(0, peer_spt.SPT_SRC)
    from stable_pretraining.web.scan import RunScanner

    peer_spt.SptFormat().write_tree(str(tmp_path), [{"name": "live", "rows": compare.Rows(50), "log_lines": []}])
    scanner = RunScanner(tmp_path)
    scanner._scan(initial=True)
    loss = scanner.metrics_json("live")["metrics"]["train/loss"]
    assert (loss["step"][-1], loss["y"][-1]) == (49, compare.values_at(49)[1]["train/loss"])


def test_arrivals_wait_for_the_first_time_a_step_was_held():
    a = peer_spt.Arrivals()
    a.saw([1, 2], 10.0)
    a.saw_up_to(5, 11.0)
    assert a.wait_for(2, 0) == 10.0
    assert a.wait_for(4, 0) == 11.0  # held through the fetch that brought 5
    assert a.wait_for(6, 0.05) is None
    threading.Timer(0.05, a.saw, ([6], 12.0)).start()
    assert a.wait_for(6, 5) == 12.0


def test_push_events_name_the_step_or_ask_for_a_fetch():
    tb, spt = compare.TailboardPeer(), peer_spt.SptPeer()
    data = json.dumps({"run": "live", "reset": False, "series": {"train/loss": {"from": 3, "step": [7, 8], "y": [1, 2]}}})
    assert tb.push_step("metrics", data, "live", "train/loss") == 8
    assert tb.push_step("metrics", json.dumps({"reset": True, "series": {}}), "live", "train/loss") is True
    assert tb.push_step("run", "<div>", "live", "train/loss") is None
    assert spt.push_step("update", json.dumps({"changed": ["live"], "removed": []}), "live", "train/loss") is True
    assert spt.push_step("update", json.dumps({"changed": ["other"], "removed": []}), "live", "train/loss") is None


def test_poller_holds_a_step_when_a_poll_returns_it():
    state = {"top": 1}
    poller = compare.Poller(lambda: [state["top"]], 0.01)
    try:
        t = time.time()
        state["top"] = 3
        got = poller.wait_for(3, 5)
        assert got is not None and got >= t
    finally:
        poller.close()


def test_table_says_who_is_ahead():
    class Peer:
        def __init__(self, name):
            self.name = name
    results = {"Tailboard": {"latency": {"p50_s": 0.01, "p95_s": 0.02}},
               "spt": {"latency": {"p50_s": 0.5, "p95_s": 0.01}}}
    text = compare.table(results, [Peer("Tailboard"), Peer("spt")], compare.QUICK)
    p50 = next(ln for ln in text.splitlines() if ln.startswith("update latency p50"))
    p95 = next(ln for ln in text.splitlines() if ln.startswith("update latency p95"))
    assert "50.00x" in p50 and p50.rstrip().endswith("Tailboard")
    assert "0.50x" in p95 and p95.rstrip().endswith("peer")
