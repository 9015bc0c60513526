"""Another logged series as the x axis (``xmetric=``): joined by step, interpolated between the
x series' steps, refused with a 400 when it is not monotone; and ``restarts``, where a restarted
series resumed."""
from __future__ import annotations

import pytest

from builders import lightning_run
from conftest import scanned, series, viewer_app

HEADER = ("epoch", "step", "train/loss", "tokens", "val/acc", "time")


def rows(n=100):
    """loss every step, tokens (512 a step) every 10 steps, val/acc every 25 steps."""
    return [(0, s, 1.0 / (s + 1), 512 * s if s % 10 == 0 else None, 0.5 + s / 1000 if s % 25 == 0 else None, 1000.0 + s)
            for s in range(n)]


def test_points_take_the_x_series_value_at_their_step(tmp_path):
    lightning_run(tmp_path, "r", rows(), header=HEADER)
    got = scanned(tmp_path).metrics("r", xmetric="tokens")
    assert got["xmetric"] == "tokens"
    acc = got["series"]["val/acc"]
    assert acc["x"] == [0, 25 * 512, 50 * 512, 75 * 512]   # steps 25 and 75 lie between logged tokens
    loss = got["series"]["train/loss"]
    assert loss["x"] == [512 * s for s in range(91)]          # after step 90 tokens has no value: not shown
    assert loss["y"][3] == pytest.approx(1 / 4)


def test_start_and_end_cut_on_the_chosen_series(tmp_path):
    lightning_run(tmp_path, "r", rows(), header=HEADER)
    s = series(scanned(tmp_path), "r", xmetric="tokens", start=1000, end=5120)
    assert s["train/loss"]["x"] == [512 * k for k in range(2, 11)]


def test_a_series_that_goes_down_is_refused_with_a_400_that_says_why(tmp_path):
    lightning_run(tmp_path, "r", rows(), header=HEADER)
    with viewer_app(tmp_path) as app:
        ok = app.test_client().get("/api/runs/r/metrics?xmetric=tokens")
        assert ok.status_code == 200 and ok.get_json()["xmetric"] == "tokens"
        bad = app.test_client().get("/api/runs/r/metrics?xmetric=train/loss")
        assert bad.status_code == 400
        assert "not monotone in step" in bad.get_json()["error"] and "train/loss" in bad.get_json()["error"]
        missing = app.test_client().get("/api/runs/r/metrics?xmetric=nope")
        assert missing.status_code == 400 and "no metric 'nope'" in missing.get_json()["error"]


def test_a_restart_is_purged_and_its_position_given(tmp_path):
    data = [(0, s, 10.0 + s, 100 * s, None, 1000.0 + s) for s in range(150)]
    data += [(0, s, 1.0 + s, 100 * s, None, 2000.0 + s) for s in range(100, 200)]
    lightning_run(tmp_path, "r", data, header=HEADER)
    store = scanned(tmp_path)
    step = series(store, "r")["train/loss"]
    assert step["purged"] == 50 and step["restarts"] == [100]
    by = series(store, "r", xmetric="tokens")["train/loss"]
    assert by["x"] == [100 * s for s in range(200)] and by["purged"] == 50 and by["restarts"] == [10000]
    assert by["y"][120] == 121.0   # the value logged after the restart
