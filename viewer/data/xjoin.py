"""Another logged series as the x axis (tokens seen, samples seen...), joined to each metric by
step, and where a restarted series resumed. Pure: arrays in, arrays out (numpy, vectorised).

A series can be an x axis only when its values never go down as the step grows (after a
restart's purge, as the charts show it): otherwise one x would name two moments of training.
Each metric's point at step s gets the x series' value at s: exact when both logged s, else
linearly interpolated between the x series' neighbouring steps (a counter logged every 10 steps
still places every step); a point outside the x series' step range gets no x and is not shown.
"""
from __future__ import annotations

import math

from .errors import BadRequest


def _np():
    import numpy as np   # imported on first use, as the CSV readers do: the viewer starts without it
    return np


def restart_xs(xs):
    """The x values at which a series resumed after a restart: each point whose x is below the
    last finite x before it (TensorBoard's purge then drops what it replaced). Sorted, unique."""
    np = _np()
    a = np.asarray(xs, dtype=float)
    a = a[np.isfinite(a)]
    if len(a) < 2:
        return []
    back = a[1:] < a[:-1]
    return sorted({float(v) for v in a[1:][back]})


def step_axis(x_series, name, kept=None):
    """``(steps, values)``: the x series ``name`` by step (its restart-kept points ``kept`` when
    given), finite points only; BadRequest when its values go down as the step grows."""
    np = _np()
    steps = np.asarray(x_series.step, dtype=float)
    vals = np.asarray(x_series.y, dtype=float)
    if kept is not None:
        idx = np.asarray(kept, dtype=np.int64)
        steps, vals = steps[idx], vals[idx]
    ok = np.isfinite(steps) & np.isfinite(vals)
    steps, vals = steps[ok], vals[ok]
    order = np.argsort(steps, kind="stable")
    steps, vals = steps[order], vals[order]
    down = np.nonzero(vals[1:] < vals[:-1])[0]
    if len(down):
        i = int(down[0]) + 1
        raise BadRequest(f"{name!r} cannot be the x axis: it is not monotone in step (it goes down from "
                         f"{vals[i - 1]:g} to {vals[i]:g} at step {steps[i]:g}); pick a counter such as "
                         "tokens or samples seen")
    if not len(steps):
        raise BadRequest(f"{name!r} cannot be the x axis: it has no finite value")
    return steps, vals


def joined_x(steps_of_metric, axis):
    """The x of each point of a metric (its steps ``steps_of_metric``) on ``axis`` =
    ``(steps, values)`` from ``step_axis``: an array('d'), NaN where it has no x."""
    np = _np()
    steps, vals = axis
    s = np.asarray(steps_of_metric, dtype=float)
    out = np.interp(s, steps, vals, left=math.nan, right=math.nan)
    out[~np.isfinite(s)] = math.nan
    return out


def series_by(series, names, points, xname, start=None, end=None):
    """{name: {"x", "y", "ymin", "ymax", "count"[, "purged", "restarts"]}} of ``series`` (a run's
    series by name, read under its lock) with x taken from the series ``xname`` at the same step;
    restarted series are purged as on the step axis. BadRequest when ``xname`` is unknown or not
    monotone in step."""
    from .downsample import downsample, non_decreasing, restart_kept

    np = _np()
    xs_series = series.get(xname)
    if xs_series is None:
        raise BadRequest(f"no metric {xname!r} in this run to use as the x axis")
    kept_x = None if non_decreasing(xs_series.step) else restart_kept(xs_series.step)
    axis = step_axis(xs_series, xname, kept_x)
    out = {}
    for name in names or series:
        s = series.get(name)
        if s is None:
            continue
        kept = None if non_decreasing(s.step) else restart_kept(s.step)
        X = joined_x(s.step, axis)
        idx = np.arange(len(X)) if kept is None else np.asarray(kept, dtype=np.int64)
        xi = X[idx]
        ok = np.isfinite(xi)
        if start is not None:
            ok &= xi >= start
        if end is not None:
            ok &= xi <= end
        idx = idx[ok]
        Xs, Y, lo, hi = downsample(X.tolist(), s.y, idx.tolist(), points)
        out[name] = {"x": Xs, "y": Y, "ymin": lo, "ymax": hi, "count": len(idx)}
        if kept is not None:
            out[name]["purged"] = len(s) - len(kept)
            back = joined_x(restart_xs(s.step), axis)
            out[name]["restarts"] = [float(v) for v in back if math.isfinite(v)]
    return out
