"""What a run's series answer: downsampled, cut to a zoom, purged of what a restart replaced
(a mixin of :class:`store.RunStore`, which gives ``parsed``, ``first`` and ``_orders``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from .cooperative import each
from .downsample import (PURGED_AXES, has_nan, int_if_whole, non_decreasing, restart_kept, select, select_kept,
                         select_sorted, series_answer)
from .errors import BadRequest
from .xjoin import restart_xs, series_by

AXES = ("step", "epoch", "time")
XSCALES = ("linear", "log")
MAX_POINTS = 100_000  # one answer must not hold the server for seconds


class Selection(NamedTuple):
    """The points of one series a metrics answer shows."""

    indices: object         # indices into the series, in x order
    purged: int | None      # points a restart replaced (step or epoch axis), None when none


@dataclass(slots=True)
class AxisOrder:
    """What is known of one series' x values on one axis, kept between requests so that each
    look only reads the points appended since the last."""

    series: object              # the Series these facts are about (a rebuilt one starts over)
    checked: int = 0            # points looked at so far
    ascending: bool = True      # x never goes back: a zoom is two bisections
    has_nan: bool = False       # some x is NaN (a sorted cut would be wrong)
    kept: object = None         # on a purged axis: indices of the points a restart left...
    kept_of: int = -1           # ...computed when the series had this many points


class SeriesQueries:
    """RunStore's series answers: ``metrics`` (downsampled) and ``metrics_columns`` (every point)."""

    def metrics(self, run_id, names=None, points=2000, x="step", start=None, end=None, xscale="linear",
                coarse_ok=False, xmetric=None):
        """Downsampled series of one run (see the HTTP contract for the shape).

        On the step and epoch axes a restarted run is shown as its last segment (TensorBoard's
        purge): ``purged`` then counts the points dropped and ``restarts`` lists the x values
        where it resumed. Only unsorted series pay for it. ``xscale="log"``: buckets even in log
        x, points with x <= 0 left out. ``coarse_ok``: a big run not parsed yet may be answered
        at once from a sample (``"coarse": true``) while it is parsed in the background; a zoom
        (start or end) and an ``xmetric`` answer are always full resolution. ``xmetric``: x is
        that series' value at the same step (viewer/data/xjoin.py).
        """
        if x not in AXES:
            raise BadRequest(f"x must be one of {', '.join(AXES)}, not {x!r}")
        if xscale not in XSCALES:
            raise BadRequest(f"xscale must be one of {', '.join(XSCALES)}, not {xscale!r}")
        if not 1 <= points <= MAX_POINTS:
            raise BadRequest(f"points must be between 1 and {MAX_POINTS} (metrics.csv has every point)")
        if start is not None and end is not None and start > end:
            raise BadRequest(f"start ({start:g}) must not be after end ({end:g})")
        if coarse_ok and start is None and end is None and not xmetric:
            sampled = self.first.answer(run_id, names, points, x, xscale)
            if sampled is not None:
                return sampled
        run = self.parsed(run_id)
        if xmetric:
            with run.lock:
                out = series_by(run.series(), names, points, xmetric, start, end)
            for s in out.values():
                s["x"] = [int_if_whole(v) for v in each(s["x"], 4096)]
            return {"run": run.id, "x": "step", "xmetric": xmetric, "series": out}
        out = {}
        with run.lock:
            series = run.series()
            for name in names or series:
                s = series.get(name)
                if s is None:
                    continue
                chosen = self._select(run.id, name, s, x, start, end)
                out[name] = series_answer(s.axis(x), s.y, chosen.indices, points, xscale, chosen.purged)
                if chosen.purged is not None:
                    out[name]["restarts"] = restart_xs(s.axis(x))
        return {"run": run.id, "x": x, "series": out}

    def _select(self, rid, name, s, axis, start, end):
        """The Selection of points to show. A sorted axis is cut with two bisections (a zoom
        into 1,000,000 points costs microseconds); a step or epoch axis that goes back is
        purged of what the restart replaced."""
        xs = s.axis(axis)
        order = self._order(rid, name, s, axis)
        if not order.ascending:
            if axis not in PURGED_AXES:
                return Selection(select(xs, s.y, start, end), None)
            if order.kept is None or order.kept_of != len(s):
                order.kept, order.kept_of = restart_kept(xs), len(s)
            kept = order.kept
            return Selection(select_kept(xs, kept, start, end), (len(xs) - len(kept)) or None)
        if order.has_nan or (start is None and end is None):
            return Selection(select(xs, s.y, start, end), None)
        return Selection(select_sorted(xs, start, end), None)

    def _order(self, rid, name, s, axis):
        """The cached facts about a series' x on ``axis``: does it go back, does it hold a NaN.
        Only the points appended since the last call are looked at."""
        key = (rid, name, axis)
        order = self._orders.get(key)
        n = len(s)
        if order is None or order.series is not s or order.checked > n:
            order = self._orders[key] = AxisOrder(s)
        if order.checked < n:
            xs = s.axis(axis)
            begin = max(order.checked - 1, 0)
            if order.ascending:
                order.ascending = non_decreasing(xs, begin)
            order.has_nan = order.has_nan or has_nan(xs, begin)
            order.checked = n
        return order

    def metrics_columns(self, run_id):
        """Every point at full resolution: [(metric, step, epoch, time, value arrays)].

        The arrays are copied under the run's lock (a memcpy), so a slow download never
        holds up the next refresh.
        """
        run = self.parsed(run_id)
        with run.lock:
            return [(name, s.step[:], s.epoch[:], s.time[:], s.y[:]) for name, s in run.series().items()]
