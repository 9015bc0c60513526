"""Bucket downsampling that never loses a spike: each bucket keeps its mean, min and max.

Buckets are equal runs of consecutive points (the order they were logged in). Non-finite
values become ``None`` (JSON ``null``) and are left out of a bucket's statistics; a bucket of
only non-finite values is a ``null`` point, so the chart shows the gap.
"""
from __future__ import annotations

import math


def _clean(v):
    return v if math.isfinite(v) else None


def select(xs, ys, start=None, end=None):
    """Indices of points whose x is finite and within [start, end] (a ``range`` when all are)."""
    if start is None and end is None and math.isfinite(math.fsum(xs)):
        return range(len(xs))  # fsum is finite only when every x is: no index list needed
    lo = -math.inf if start is None else start
    hi = math.inf if end is None else end
    return [i for i, x in enumerate(xs) if lo <= x <= hi]


def _bucket(vals):
    """(mean, min, max) of the finite values, or Nones."""
    total = math.fsum(vals)
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
            x, y = xs[idx.start:idx.stop].tolist(), [_clean(v) for v in ys[idx.start:idx.stop]]
        else:
            x, y = [xs[i] for i in idx], [_clean(ys[i]) for i in idx]
        return x, y, list(y), list(y)
    x, y, ymin, ymax = [], [], [], []
    for b in range(points):
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
