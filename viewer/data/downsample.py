"""Bucket downsampling that never loses a spike: each bucket keeps its mean, min and max.

Buckets are equal runs of consecutive points (the order they were logged in), or, for a
logarithmic x axis, even spans of log(x). Non-finite values become ``None`` (JSON ``null``) and
are left out of a bucket's statistics; a bucket of only non-finite values is a ``null`` point,
so the chart shows the gap. The buckets are computed with numpy (``reduceat``): 1,000,000
points to 2,000 in about 2 ms, against 80 ms for the former loop (bench/bench_downsample.py).
"""
from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right
from itertools import islice

import numpy as np

from .cooperative import Turns, each

EPS = float(np.finfo(np.float64).eps)
PURGED_AXES = ("step", "epoch")  # a restart logs steps again; wall time never goes back


def select(xs, ys, start=None, end=None):
    """Indices of points whose x is finite and within [start, end] (a ``range`` when all are)."""
    if start is None and end is None and np.isfinite(np.asarray(xs, dtype=np.float64)).all():
        return range(len(xs))  # no index list needed
    lo = -math.inf if start is None else start
    hi = math.inf if end is None else end
    return [i for i, x in enumerate(xs) if lo <= x <= hi and -math.inf < x < math.inf]


def non_decreasing(xs, start=0):
    """True when ``xs[start:]`` never goes down (NaN, an absent x, is skipped)."""
    a = np.asarray(xs, dtype=np.float64)[start:]
    if np.all(a[:-1] <= a[1:]):
        return True  # the common case, in numpy: sorted and no NaN (a NaN fails every comparison)
    last = -math.inf
    for x in islice(xs, start, None):
        if x < last:
            return False
        if x == x:
            last = x
    return True


def has_nan(xs, start=0):
    """True when ``xs[start:]`` holds a NaN (an absent x)."""
    return bool(np.isnan(np.asarray(xs, dtype=np.float64)[start:]).any())


def select_sorted(xs, start=None, end=None):
    """``select`` for x values known to be sorted and NaN-free: two bisections, a ``range``."""
    lo = 0 if start is None else bisect_left(xs, start)
    hi = len(xs) if end is None else bisect_right(xs, end)
    while lo < hi and not math.isfinite(xs[lo]):
        lo += 1  # -inf sorts first, inf last
    while hi > lo and not math.isfinite(xs[hi - 1]):
        hi -= 1
    return range(lo, hi)


def restart_kept(xs):
    """Indices that survive TensorBoard's purge, in order. A restart is a point whose x is below
    the one logged before it (resumed from a checkpoint); it drops every earlier point whose x
    is >= its own. One backward pass; a NaN x never stays. The kept x never go down."""
    kept = array("l")
    low = math.inf  # the smallest x of the restarts after the current point
    nxt = math.nan  # the next finite x after the current point (an absent x is skipped)
    turns = Turns()
    for i, x in zip(range(len(xs) - 1, -1, -1), reversed(xs)):
        if not i & 4095:
            turns()
        if nxt < x:  # the point after this one is a restart
            low = min(low, nxt)
        if x < low:  # NaN fails it too
            kept.append(i)
        if x == x:
            nxt = x
    kept.reverse()
    return kept


def select_kept(xs, kept, start=None, end=None):
    """The indices of ``kept`` (their x non-decreasing) whose x is finite and in [start, end]."""
    def x_of(i):
        return xs[i]
    lo = 0 if start is None else bisect_left(kept, start, key=x_of)
    hi = len(kept) if end is None else bisect_right(kept, end, key=x_of)
    while lo < hi and not math.isfinite(xs[kept[lo]]):
        lo += 1  # -inf sorts first, inf last
    while hi > lo and not math.isfinite(xs[kept[hi - 1]]):
        hi -= 1
    return kept[lo:hi]


def _values(col, idx):
    """The values of ``col`` at ``idx`` as a float64 array: a view for a ``range`` (an
    ``array('d')`` or any column with ``__array__`` is not copied), a gather for an index list.
    The view pins an ``array('d')``'s buffer: callers hold the run's lock, so no append races it."""
    a = np.asarray(col, dtype=np.float64)
    if isinstance(idx, range):
        return a[idx.start:idx.stop]
    return a[np.asarray(idx, dtype=np.intp)]


def _nullable(a):
    """A float64 array as a list, each non-finite entry None (JSON ``null``)."""
    out = a.tolist()
    for i in np.flatnonzero(~np.isfinite(a)).tolist():
        out[i] = None
    return out


def _exact_mean(vals):
    """The mean of the finite ``vals``, summed exactly (``math.fsum``); None when none is finite."""
    finite = [v for v in vals if math.isfinite(v)]
    if not finite:
        return None
    try:
        return math.fsum(finite) / len(finite)
    except OverflowError:  # finite values whose sum leaves the float range: their mean does not
        return math.fsum(v / len(finite) for v in finite)


def _buckets(x, y, starts):
    """(x, mean, min, max) lists of the buckets of ``y`` beginning at ``starts`` (increasing,
    the first 0, none empty): the x of each bucket's first point, and the mean, min and max of
    its finite values (None for a bucket with none)."""
    finite = np.isfinite(y)
    clean = finite.all()  # the common case: no NaN nor infinity in the series
    vals = y if clean else np.where(finite, y, 0.0)
    counts = np.diff(np.append(starts, len(y))) if clean else np.add.reduceat(finite, starts, dtype=np.int64)
    lo = np.minimum.reduceat(y if clean else np.where(finite, y, np.inf), starts)
    hi = np.maximum.reduceat(y if clean else np.where(finite, y, -np.inf), starts)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        sums = np.add.reduceat(vals, starts)  # pairwise summation, as ndarray.sum
        mean = sums / counts  # 0/0 (no finite value): NaN, sent as null
        # pairwise summation errs by at most ~(128 + log2 n) ulp of the sum of |v|: where that
        # could reach 1e-13 of the sum (values that cancel), or the sum overflowed, sum exactly
        bound = np.add.reduceat(np.abs(vals), starts) * (EPS * (128 + np.log2(np.maximum(counts, 1))))
        risky = (counts > 0) & ~(np.isfinite(sums) & (bound <= 1e-13 * np.abs(sums)))
    out = _nullable(mean)
    ends = np.append(starts[1:], len(y))
    for b in np.flatnonzero(risky).tolist():
        out[b] = _exact_mean(y[starts[b]:ends[b]].tolist())
    return x[starts].tolist(), out, _nullable(lo), _nullable(hi)


def log_buckets(x, points):
    """(order, starts): ``order`` the indices of the points with x > 0 (a log axis has no room
    for the others) grouped by bucket, the buckets even in log(x) from the smallest x to the
    largest; ``starts`` where each non-empty bucket begins in ``order`` (None when there are
    no more such points than ``points``: each is its own)."""
    order = np.flatnonzero(x > 0)
    if len(order) <= points:
        return order, None
    lx = np.log(x[order])
    low, high = lx.min(), lx.max()
    if not high > low:  # one x: one bucket
        return order, np.zeros(1, dtype=np.int64)
    bucket = np.minimum(((lx - low) * (points / (high - low))).astype(np.int64), points - 1)
    if np.any(bucket[1:] < bucket[:-1]):  # an axis that goes back: each bucket's points in their order
        keep = np.argsort(bucket, kind="stable")
        order, bucket = order[keep], bucket[keep]
    return order, np.concatenate(([0], np.flatnonzero(np.diff(bucket)) + 1))


def downsample(xs, ys, idx, points, xscale="linear"):
    """(x, y, ymin, ymax) lists of at most ``points`` entries over the points at ``idx``.

    Buckets are equal runs of consecutive points; with ``xscale="log"`` they are even in
    log(x) instead (a log axis gives each decade the same room; empty buckets are skipped)
    and points with x <= 0 are left out."""
    x, y = _values(xs, idx), _values(ys, idx)
    if xscale == "log":
        order, starts = log_buckets(x, points)
        x, y = x[order], y[order]
    elif len(x) > points:
        starts = np.arange(points, dtype=np.int64) * len(x) // points
    if len(x) > points:
        return _buckets(x, y, starts)
    vals = _nullable(y)
    return x.tolist(), vals, list(vals), list(vals)


def series_answer(xs, ys, idx, points, xscale="linear", purged=None):
    """One series of a metrics answer (docs/api.md): the points at ``idx`` downsampled, whole
    x values as integers, ``count`` the points chosen, ``purged`` when a restart dropped some."""
    X, Y, lo, hi = downsample(xs, ys, idx, points, xscale)
    out = {"x": [int_if_whole(v) for v in each(X, 4096)], "y": Y, "ymin": lo, "ymax": hi, "count": len(idx)}
    if purged is not None:
        out["purged"] = purged
    return out


def int_if_whole(v):
    return int(v) if math.isfinite(v) and v == int(v) and abs(v) < 2**53 else v
