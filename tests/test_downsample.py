"""Downsampling as a chart shows it: every logged point lands in exactly one bucket, a bucket is
drawn at its first point's x, and its band (ymin..ymax) keeps the extremes of the bucket whatever
NaN or infinity shares it, so a spike beside a gap is never lost.

Property tests (hypothesis) against ``viewer.data.downsample.downsample``, and the same facts
read back through ``/api/runs/<id>/metrics`` on a real run folder.
"""
from __future__ import annotations

import json
import math
from array import array

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import viewer_app
from viewer.data.downsample import (downsample, has_nan, non_decreasing, restart_kept, select, select_kept,
                                     select_sorted)

# any float a training script can log, NaN and both infinities included
VALUES = st.floats(allow_nan=True, allow_infinity=True, width=64)
FINITE = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def buckets_of(points_x, X):
    """The raw points of each drawn bucket, read from the chart alone: bucket ``b`` holds the
    points from its x up to (not including) the next bucket's x. ``points_x`` are increasing."""
    out = [[] for _ in X]
    b = -1
    for i, x in enumerate(points_x):
        while b + 1 < len(X) and x >= X[b + 1]:
            b += 1
        assert b >= 0, f"point {i} (x={x}) lies before the first bucket's x {X[0]}"
        out[b].append(i)
    return out


def expected_band(vals):
    finite = [v for v in vals if math.isfinite(v)]
    if not finite:
        return None, None, None
    try:
        mean = math.fsum(finite) / len(finite)
    except OverflowError:  # a sum past the float range; the mean is not
        mean = math.fsum(v / len(finite) for v in finite)
    return mean, min(finite), max(finite)


@st.composite
def series(draw):
    """(xs, ys, idx, points): increasing x, any y, a selection (all points, or a zoom), a width."""
    ys = draw(st.lists(VALUES, min_size=1, max_size=120))
    steps = draw(st.lists(st.floats(min_value=0.5, max_value=1e6), min_size=len(ys), max_size=len(ys)))
    xs, x = [], draw(FINITE.filter(lambda v: abs(v) < 1e9))
    for d in steps:
        x += d
        xs.append(x)
    n = len(ys)
    lo = draw(st.integers(0, n - 1))
    hi = draw(st.integers(lo + 1, n))
    contiguous = draw(st.booleans())
    idx = range(lo, hi) if contiguous else list(range(lo, hi))  # a zoom's index list, or a range
    points = draw(st.integers(1, max(1, hi - lo + 3)))
    return array("d", xs), array("d", ys), idx, points


@SETTINGS
@given(series())
@example((array("d", [0, 1, 2, 3]), array("d", [1.0, 5.0, 1.0, 9.0]), range(4), 2))  # a bucket's last point is its max
@example((array("d", [0, 1, 2, 3]), array("d", [1.0, 7.0, math.nan, 2.0]), range(4), 1))  # the spike beside a gap
@example((array("d", [0, 1, 2, 3]), array("d", [math.inf, 3.0, -1.0, math.nan]), [0, 1, 2, 3], 2))
@example((array("d", [0, 1, 2, 3]), array("d", [1e300, 1.0, -1e300, 2.0]), range(4), 1))  # values that cancel: mean 0.75
@example((array("d", [0, 1, 2, 3]), array("d", [1e5, 0.1, -1e5, 0.3]), range(4), 1))  # cancel a little: 0.1, not 0.1000000000022
def test_every_point_is_in_exactly_one_bucket_and_each_band_keeps_its_extremes(case):
    xs, ys, idx, points = case
    X, Y, lo, hi = downsample(xs, ys, idx, points)
    n = len(idx)
    assert len(X) == len(Y) == len(lo) == len(hi) == min(n, points)
    selected_x = [xs[i] for i in idx]
    assert X[0] == selected_x[0], "the first bucket must be drawn at the first point's x"
    assert all(a < b for a, b in zip(X, X[1:])), "bucket x must increase"
    assert set(X) <= set(selected_x), "a bucket is drawn at one of its own points' x"
    groups = buckets_of(selected_x, X)
    assert sum(map(len, groups)) == n and all(groups), "every point in exactly one bucket"
    sizes = [len(g) for g in groups]
    assert max(sizes) - min(sizes) <= 1, f"buckets are equal runs of points, got sizes {sizes}"
    for b, g in enumerate(groups):
        vals = [ys[idx[i]] for i in g]
        assert X[b] == selected_x[g[0]], "a bucket's x is its first point's x"
        mean, mn, mx = expected_band(vals)
        assert (lo[b], hi[b]) == (mn, mx), f"bucket {b} of {vals}: band {(lo[b], hi[b])}, expected {(mn, mx)}"
        if mean is None:
            assert Y[b] is None
        else:
            assert math.isclose(Y[b], mean, rel_tol=1e-12, abs_tol=1e-300), (vals, Y[b], mean)


@SETTINGS
@given(st.lists(FINITE, min_size=2, max_size=60), st.data())
def test_a_spike_survives_whatever_nan_or_inf_shares_its_bucket(base, data):
    """One spike, and NaN/inf dropped in beside it: the bucket's band still reaches the spike."""
    ys = [min(max(v, -1e6), 1e6) for v in base]
    spike_at = data.draw(st.integers(0, len(ys) - 1))
    ys[spike_at] = 1e9
    for _ in range(data.draw(st.integers(1, 3))):
        j = data.draw(st.integers(0, len(ys) - 1).filter(lambda k: k != spike_at))
        ys[j] = data.draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    points = data.draw(st.integers(1, len(ys) - 1))
    X, Y, lo, hi = downsample(array("d", range(len(ys))), array("d", ys), range(len(ys)), points)
    assert max(v for v in hi if v is not None) == 1e9, f"the spike is lost: ymax {hi}"
    assert all(v is None or (math.isfinite(v) and v <= 1e9) for v in Y + lo + hi)


def test_the_api_keeps_a_spike_next_to_a_gap_and_draws_buckets_at_their_first_step(tmp_path):
    """What a user sees: 1,000 steps drawn as 100 points; step 500 spiked to 100 and step 501
    logged NaN. The chart's band for steps 500-509 still reaches 100, the point sits at step
    500, and no step is missing from any bucket (the band of every bucket is its own)."""
    run = tmp_path / "root" / "spiky"
    run.mkdir(parents=True)
    loss = {s: 1.0 + (s % 10) / 100 for s in range(1000)}  # each bucket's max is its last step
    loss[500], loss[501] = 100.0, math.nan
    (run / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "loss": v}) + "\n" for s, v in loss.items()))
    with viewer_app(tmp_path / "root") as app:
        body = app.test_client().get("/api/runs/spiky/metrics?points=100").get_json()
    s = body["series"]["loss"]
    assert s["count"] == 1000 and s["x"] == list(range(0, 1000, 10))
    assert s["ymax"][50] == 100.0 and s["ymin"][50] == 1.02
    assert s["ymax"][:50] == [1.09] * 50 and s["ymin"][:50] == [1.0] * 50
    assert math.isclose(s["y"][50], (100 + sum(1 + k / 100 for k in range(2, 10))) / 9)


# -- which points a chart draws: the selections downsampling works on ---------------------------
# Each is checked against its one-line definition, with NaN (an absent x) and both infinities.

AXIS = st.lists(st.one_of(st.integers(-5, 5).map(float), st.sampled_from([math.nan, math.inf, -math.inf])),
                max_size=30)
BOUND = st.one_of(st.none(), st.integers(-6, 6).map(float), st.floats(-6, 6))


def wanted(xs, i, start, end):
    x = xs[i]
    return math.isfinite(x) and (start is None or x >= start) and (end is None or x <= end)


@SETTINGS
@given(AXIS, BOUND, BOUND)
def test_a_zoom_selects_exactly_the_finite_points_inside_it(xs, start, end):
    xs = array("d", xs)
    expect = [i for i in range(len(xs)) if wanted(xs, i, start, end)]
    assert list(select(xs, xs, start, end)) == expect
    clean = array("d", sorted(x for x in xs if x == x))  # sorted and NaN-free: the bisection path
    assert list(select_sorted(clean, start, end)) == [i for i in range(len(clean)) if wanted(clean, i, start, end)]


@SETTINGS
@given(AXIS, BOUND, BOUND)
def test_a_zoom_into_a_restarted_run_selects_the_kept_points_inside_it(xs, start, end):
    xs = array("d", xs)
    kept = restart_kept(xs)
    assert [xs[i] for i in kept] == sorted(xs[i] for i in kept), "the kept x never go down"
    assert list(select_kept(xs, kept, start, end)) == [i for i in kept if wanted(xs, i, start, end)]


@SETTINGS
@given(AXIS, st.integers(0, 31))
def test_the_order_facts_of_an_axis_match_their_definitions(xs, start):
    xs = array("d", xs)
    tail = [x for x in xs[start:] if x == x]
    assert non_decreasing(xs, start) == all(a <= b for a, b in zip(tail, tail[1:]))
    assert has_nan(xs, start) == any(x != x for x in xs[start:])


# -- log-x buckets: a log axis gives each decade the same room ---------------------------------

@st.composite
def log_series(draw):
    """(xs, ys, points): increasing x spanning decades, a few of them <= 0 at the start."""
    ys = draw(st.lists(VALUES, min_size=1, max_size=120))
    x = draw(st.sampled_from([-2.0, 0.0, 1e-3, 1.0, 7.5]))
    xs = []
    for _ in ys:
        xs.append(x)
        x = draw(st.one_of(st.just(x + 1.0), st.floats(1.01, 10.0).map(lambda f, x=x: x * f if x > 0 else x + f)))
    return array("d", xs), array("d", ys), draw(st.integers(1, len(ys) + 3))


@SETTINGS
@given(log_series())
@example((array("d", [0, 1, 2, 3, 10, 100, 1000, 10000]), array("d", [9, 1, 2, 3, 4, 5, 6, 7]), 4))
@example((array("d", [1, 2, 3, 4]), array("d", [1.7e308, 1.7e308, math.nan, 1.0]), 1))  # a sum past the float range
@example((array("d", [5.0] * 6), array("d", [1, 2, 3, 4, 5, 6]), 3))  # one x: one bucket
def test_log_x_buckets_are_even_in_log_space_and_leave_out_x_at_or_below_zero(case):
    xs, ys, points = case
    X, Y, lo, hi = downsample(xs, ys, range(len(xs)), points, xscale="log")
    shown = [i for i, x in enumerate(xs) if x > 0]
    assert len(X) == len(Y) == len(lo) == len(hi) <= points
    if not shown:
        assert X == []
        return
    px = [xs[i] for i in shown]
    if len(shown) <= points:  # room for every point: drawn as logged
        assert X == px and Y == lo == hi == [ys[i] if math.isfinite(ys[i]) else None for i in shown]
        return
    groups = buckets_of(px, X)
    assert sum(map(len, groups)) == len(shown) and all(groups), "every point with x > 0 in exactly one bucket"
    width = (math.log(px[-1]) - math.log(px[0])) / points
    for b, g in enumerate(groups):
        assert X[b] == px[g[0]], "a bucket's x is its first point's x"
        span = math.log(px[g[-1]]) - math.log(px[g[0]])
        assert span <= width * (1 + 1e-9) + 1e-12, f"bucket {b} spans {span} in log x, wider than {width}"
        if b:
            gap = math.log(px[g[0]]) - math.log(px[groups[b - 1][0]])
            assert gap > 0
        vals = [ys[shown[i]] for i in g]
        mean, mn, mx = expected_band(vals)
        assert (lo[b], hi[b]) == (mn, mx)
        if mean is None:
            assert Y[b] is None
        else:
            assert math.isclose(Y[b], mean, rel_tol=1e-12, abs_tol=1e-300), (vals, Y[b], mean)


def test_log_x_gives_the_first_decades_their_own_points_and_an_unsorted_axis_its_buckets():
    """Steps 0..9,999 on 40 points: a linear split draws steps 0, 250, 500...; a log one draws
    step 1, 2, 3... on their own (step 0 has no place on a log axis)."""
    xs = array("d", range(10_000))
    ys = array("d", (1.0 / (1 + i) for i in range(10_000)))
    X, Y, lo, hi = downsample(xs, ys, range(10_000), 40, xscale="log")
    assert X[:3] == [1.0, 2.0, 3.0] and Y[:3] == [0.5, 1 / 3, 0.25]
    assert downsample(xs, ys, range(10_000), 40)[0][:3] == [0.0, 250.0, 500.0]
    # wall times going back (a clock reset): each bucket holds its points whatever their order
    xs = array("d", [100, 1, 10, 1000, 2, 20])
    ys = array("d", [5.0, 1.0, 3.0, 6.0, 2.0, 4.0])
    X, Y, lo, hi = downsample(xs, ys, [0, 1, 2, 3, 4, 5], 3, xscale="log")
    assert X == [1.0, 10.0, 100.0] and Y == [1.5, 3.5, 5.5] and lo == [1.0, 3.0, 5.0] and hi == [2.0, 4.0, 6.0]
    xs = array("d", [1, 100, 10, 1000, 2, 20])  # the first point the smallest: still out of order
    X, Y, lo, hi = downsample(xs, ys, range(6), 3, xscale="log")
    assert X == [1.0, 10.0, 100.0] and lo == [2.0, 3.0, 1.0] and hi == [5.0, 4.0, 6.0] and Y == [3.5, 3.5, 3.5]
