"""Run.take_delta: the points a live chart gets, appended since the last call, or a reset;
and the refreshes feeding it, which must not lose a row written while they read."""
from __future__ import annotations

import math
import os


from builders import append, write
from conftest import LIGHTNING_ID
from viewer.data.store import RunStore

HEADER = "epoch,lr,step,train/loss,val/acc,val/loss"


def lightning_csv(samples):
    return os.path.join(samples, LIGHTNING_ID, "metrics.csv")


def delta(store, rid=LIGHTNING_ID):
    store.parsed(rid)  # a chart asked for the run's series (deltas exist for charted runs only)
    run = store.get(rid)  # refreshes: what the watcher does before publishing
    return run.take_delta()


def started(samples):
    """A store whose Lightning run had its first delta taken (the chart has everything)."""
    store = RunStore(samples)
    store.scan()
    first = delta(store)
    assert first["reset"] is False and first["series"]["train/loss"]["from"] == 0
    assert len(first["series"]["train/loss"]["y"]) == 20
    return store


def test_first_delta_is_every_point(samples):
    store = RunStore(samples)
    store.scan()
    d = delta(store)
    m = store.metrics(LIGHTNING_ID, points=100_000)["series"]
    assert set(d["series"]) == set(m)
    for name, s in d["series"].items():
        assert s["from"] == 0 and s["y"] == m[name]["y"] and s["step"] == m[name]["x"]


def test_appended_rows_give_exactly_the_new_points_from_the_previous_length(samples):
    store = started(samples)
    append(lightning_csv(samples), "5,0.05,83,1.5,,\r\n5,,83,,0.5,2.0\r\n")
    d = delta(store)
    assert d["reset"] is False
    assert set(d["series"]) == {"lr", "train/loss", "val/acc", "val/loss"}
    loss = d["series"]["train/loss"]
    assert loss == {"from": 20, "step": [83.0], "epoch": [5.0], "time": [loss["time"][0]], "y": [1.5]}
    assert math.isnan(loss["time"][0])  # Lightning's csv has no time column
    assert (d["series"]["val/acc"]["from"], d["series"]["val/acc"]["y"]) == (5, [0.5])
    assert (d["series"]["val/loss"]["from"], d["series"]["val/loss"]["y"]) == (5, [2.0])
    assert d["series"]["lr"]["y"] == [0.05]


def test_nothing_new_gives_an_empty_delta(samples):
    store = started(samples)
    assert delta(store) == {"series": {}, "reset": False}
    append(lightning_csv(samples), "5,0.05,83,1.5,")  # an unfinished row is not a point yet
    assert delta(store) == {"series": {}, "reset": False}
    append(lightning_csv(samples), ",\r\n")
    assert delta(store)["series"]["train/loss"]["from"] == 20


def test_consecutive_deltas_chain_without_gaps_or_repeats(samples):
    store = started(samples)
    got = []
    for i in range(5):
        append(lightning_csv(samples), f"5,0.05,{100 + i},{i}.5,,\r\n")
        s = delta(store)["series"]["train/loss"]
        assert s["from"] == 20 + i
        got += s["y"]
    assert got == [0.5, 1.5, 2.5, 3.5, 4.5]


def test_a_rewrite_with_a_new_column_gives_reset(samples):
    store = started(samples)
    path = lightning_csv(samples)
    with open(path, newline="") as f:
        rows = f.read().split("\r\n")[1:-1]
    write(path, "epoch,lr,step,test/acc,train/loss,val/acc,val/loss\r\n"
          + "".join(",".join(r.split(",")[:3] + [""] + r.split(",")[3:]) + "\r\n" for r in rows))
    assert delta(store) == {"series": {}, "reset": True}
    append(path, "5,0.05,83,0.9,1.5,,\r\n")
    d = delta(store)  # after a reset, deltas continue from the rebuilt series
    assert d["reset"] is False and d["series"]["train/loss"]["from"] == 20
    assert (d["series"]["test/acc"]["from"], d["series"]["test/acc"]["y"]) == (0, [0.9])


def test_a_truncated_file_gives_reset(samples):
    store = started(samples)
    write(lightning_csv(samples), HEADER + "\r\n0,0.1,1,9.0,,\r\n")
    assert delta(store) == {"series": {}, "reset": True}


def test_a_metric_that_vanishes_gives_reset(samples):
    store = started(samples)
    os.remove(lightning_csv(samples))
    assert delta(store)["reset"] is True


def test_more_than_5000_new_points_give_reset_and_then_deltas_resume(samples):
    store = started(samples)
    append(lightning_csv(samples), "".join(f"5,,{100 + i},{i},,\r\n" for i in range(5001)))
    assert delta(store) == {"series": {}, "reset": True}
    append(lightning_csv(samples), "5,,9999,7.0,,\r\n")
    s = delta(store)["series"]["train/loss"]
    assert (s["from"], s["y"]) == (20 + 5001, [7.0])


def test_exactly_5000_new_points_are_still_a_delta(samples):
    store = started(samples)
    append(lightning_csv(samples), "".join(f"5,,{100 + i},{i},,\r\n" for i in range(5000)))
    d = delta(store)
    assert d["reset"] is False and len(d["series"]["train/loss"]["y"]) == 5000


def test_nan_stays_nan_in_the_delta(samples):
    store = started(samples)
    append(lightning_csv(samples), "5,0.05,83,nan,,\r\n5,0.05,84,inf,,\r\n")
    y = delta(store)["series"]["train/loss"]["y"]
    assert math.isnan(y[0]) and y[1] == math.inf


def test_a_new_metric_appearing_in_a_jsonl_starts_from_zero(samples):
    path = os.path.join(samples, "jsonl", "run1", "metrics.jsonl")
    store = RunStore(samples)
    store.scan()
    delta(store, "jsonl/run1")
    append(path, '{"step": 500, "loss": 0.1, "grad_norm": 3.0}\n')
    d = delta(store, "jsonl/run1")
    assert d["reset"] is False
    assert (d["series"]["grad_norm"]["from"], d["series"]["grad_norm"]["y"]) == (0, [3.0])
    assert (d["series"]["loss"]["from"], d["series"]["loss"]["y"]) == (40, [0.1])


# -- a write racing a refresh -------------------------------------------------------------------

def racing_store(samples):
    """A store whose next Lightning refresh sees a row written just after the csv was read."""
    store = RunStore(samples)
    store.scan()
    store.parsed(LIGHTNING_ID)  # a chart follows it: refreshes read its series
    src = store.get(LIGHTNING_ID, refresh=False).sources[0]
    read = src.refresh

    def refresh_then_write():
        out = read()
        src.refresh = read  # once
        append(src.path, "5,0.05,84,2.5,,\r\n")
        return out

    src.refresh = refresh_then_write
    append(src.path, "5,0.05,83,1.5,,\r\n")
    return store, src.path


def test_a_row_written_while_an_event_is_handled_is_read_on_the_next_event(samples):
    store, path = racing_store(samples)
    store.apply([path])
    store.apply([path])  # the racing write's own event
    assert store.metrics(LIGHTNING_ID)["series"]["train/loss"]["count"] == 22
    assert store.get(LIGHTNING_ID).take_delta()["series"]["train/loss"]["y"][-2:] == [1.5, 2.5]


def test_a_row_written_while_polling_is_read_by_the_next_poll(samples):
    store, _path = racing_store(samples)
    store.poll()
    store.poll()
    assert store.metrics(LIGHTNING_ID)["series"]["train/loss"]["count"] == 22
