"""Bucket downsampling that never loses a spike: each bucket keeps its mean, min and max.

Buckets are equal runs of consecutive points (the order they were logged in). Non-finite
values become ``None`` (JSON ``null``) and are left out of a bucket's statistics; a bucket of
only non-finite values is a ``null`` point, so the chart shows the gap.
"""
from __future__ import annotations

import math
import operator
from array import array
from bisect import bisect_left, bisect_right
from itertools import islice

from .cooperative import Turns
from .numbers import all_finite, finite_or_none


def select(xs, ys, start=None, end=None):
    """Indices of points whose x is finite and within [start, end] (a ``range`` when all are)."""
    if start is None and end is None and all_finite(xs):
        return range(len(xs))  # no index list needed
    lo = -math.inf if start is None else start
    hi = math.inf if end is None else end
    return [i for i, x in enumerate(xs) if lo <= x <= hi and -math.inf < x < math.inf]


def non_decreasing(xs, start=0):
    """True when ``xs[start:]`` never goes down (NaN, an absent x, is skipped)."""
    tail = islice(xs, start, None)
    if all(map(operator.le, tail, islice(xs, start + 1, None))):
        return True  # the common case, in C: sorted and no NaN
    last = -math.inf
    for x in islice(xs, start, None):
        if x < last:
            return False
        if x == x:
            last = x
    return True


def has_nan(xs, start=0):
    """True when ``xs[start:]`` holds a NaN (an absent x)."""
    if all_finite(islice(xs, start, None)):
        return False  # the common case, in C
    return any(x != x for x in islice(xs, start, None))


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


def _bucket(vals):
    """(mean, min, max) of the finite values, or Nones."""
    try:
        total = math.fsum(vals)
    except (ValueError, OverflowError):  # -inf and inf in one bucket
        total = math.nan
    if math.isfinite(total):  # the common case, all in C: no non-finite value in the bucket
        return total / len(vals), min(vals), max(vals)
    finite = [v for v in vals if math.isfinite(v)]
    if not finite:
        return None, None, None
    return math.fsum(finite) / len(finite), min(finite), max(finite)


def downsample(xs, ys, idx, points):
    """(x, y, ymin, ymax) lists of at most ``points`` entries over the points at ``idx``."""
    n = len(idx)
    contiguous = isinstance(idx, range)
    if n <= points:
        if contiguous:
            x, y = xs[idx.start:idx.stop].tolist(), [finite_or_none(v) for v in ys[idx.start:idx.stop]]
        else:
            x, y = [xs[i] for i in idx], [finite_or_none(ys[i]) for i in idx]
        return x, y, list(y), list(y)
    x, y, ymin, ymax = [], [], [], []
    turns = Turns()  # 100,000 buckets of a 500,000-point series: seconds other clients must not wait
    for b in range(points):
        if not b & 255:
            turns()
        lo, hi = b * n // points, (b + 1) * n // points
        if lo >= hi:
            continue
        if contiguous:
            vals = ys[idx.start + lo:idx.start + hi]  # an array slice: a memcpy
        else:
            vals = [ys[i] for i in idx[lo:hi]]
        mean, mn, mx = _bucket(vals)
        x.append(xs[idx[lo]])
        y.append(mean)
        ymin.append(mn)
        ymax.append(mx)
    return x, y, ymin, ymax
