"""The live path's run-wide figures (``viewer/live/tally.py``): the status counts and the runs
table's key metric columns it publishes, kept from the runs each batch touches, are always
what a count over every run gives, through appends with new metrics, new runs, failures,
deletions and a run that vanishes without a ``removed``."""
from __future__ import annotations

import random
import shutil

from builders import append, lightning_run, sidecar, spt_run
from conftest import scanned
from test_publisher import Recorder
from viewer.data.run import status_counts
from viewer.live.bus import Bus
from viewer.live.publisher import Publisher

HEADER = ("epoch", "step", "train/loss", "val/acc", "time")


def truth(store):
    runs = store.runs()
    return (status_counts(r.status() for r in runs), len(runs)), store.key_metrics(runs)


def test_counts_and_columns_follow_every_change_without_a_count_over_the_tree(tmp_path):
    rng = random.Random(7)
    root = tmp_path / "runs"
    for k in range(12):
        lightning_run(root, f"lt/r{k}/version_0", [(0, s, 1.0 / (s + 1), None, 1e9 + s) for s in range(5)], {"k": k}, HEADER)
    store, bus = scanned(str(root)), Bus()
    sub = bus.subscribe(lambda e: True)
    rec = Recorder()
    pub = Publisher(store, bus, rec)
    published = []
    for step in range(60):
        k = rng.randrange(12)
        run = root / f"lt/r{k}/version_0"
        what = rng.choice(("row", "metric", "new", "fail", "delete"))
        paths = []
        if what == "row" and run.exists():
            append(run / "metrics.csv", f"0,{100 + step},0.5,,{1e9 + step}\n")
            paths = [str(run / "metrics.csv")]
        elif what == "metric" and run.exists():  # a metric nobody logged yet: a column may move
            name = rng.choice(("val/loss", "eval/acc", "grad_norm"))
            (run / "metrics.csv").write_text(f"step,{name}\n" + "".join(f"{s},{s / 10}\n" for s in range(3)))
            paths = [str(run / "metrics.csv")]
        elif what == "new":
            d = root / f"spt/n{step}"
            spt_run(d, sidecar(f"n{step}", status=rng.choice(("running", "completed"))), metrics="step,val/acc\n0,0.5\n")
            paths = [str(d / "sidecar.json"), str(d / "metrics.csv")]
        elif what == "fail":
            d = root / f"spt/f{step}"
            spt_run(d, sidecar(f"f{step}", status="failed"), metrics="step,train/loss\n0,1\n")
            paths = [str(d / "sidecar.json")]
        elif what == "delete" and run.exists():
            shutil.rmtree(run)
            paths = [str(run / "metrics.csv"), str(run)]
        if not paths:
            continue
        pub(store.apply(paths))
        (counts, total), columns = truth(store)
        assert pub.tally.counts() == (counts, total), f"step {step}: {what}"
        assert pub.tally.columns() == columns, f"step {step}: {what}"
        published += [c for c in rec.calls if c[0] == "counts"]
        rec.calls.clear()
    assert published, "the counts moved at least once and were published"
    # a run that went without the store saying so (a rescan drops it): the tally rebuilds
    gone = next(r.id for r in store.runs())
    store._runs.pop(gone)
    pub.tally.update([], [])
    assert pub.tally.counts() == truth(store)[0]
    while sub.get(timeout=0) is not None:
        pass
