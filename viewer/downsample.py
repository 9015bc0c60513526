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
    """Indices of points whose x is finite and within [start, end]."""
    lo = -math.inf if start is None else start
    hi = math.inf if end is None else end
    return [i for i, x in enumerate(xs) if lo <= x <= hi]


def downsample(xs, ys, idx, points):
    """(x, y, ymin, ymax) lists of at most ``points`` entries over the points at ``idx``."""
    n = len(idx)
    if n <= points:
        x = [xs[i] for i in idx]
        y = [_clean(ys[i]) for i in idx]
        return x, y, list(y), list(y)
    x, y, ymin, ymax = [], [], [], []
    for b in range(points):
        lo, hi = b * n // points, (b + 1) * n // points
        if lo >= hi:
            continue
        vals = [ys[i] for i in idx[lo:hi]]
        finite = [v for v in vals if math.isfinite(v)]
        x.append(xs[idx[lo]])
        if finite:
            y.append(math.fsum(finite) / len(finite))
            ymin.append(min(finite))
            ymax.append(max(finite))
        else:
            y.append(None)
            ymin.append(None)
            ymax.append(None)
    return x, y, ymin, ymax
