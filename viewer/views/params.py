"""The parallel-coordinates data (``/api/compare/params``): per compared run its hparams and
each metric's last and best value, as axes the browser draws (``static/pcoords/``).

Built on ``compare_context`` (the compare table's rows: one per hparam, then per summary
metric, with which ones differ), plus each metric's best value over the full-resolution series,
in the direction the charts use (``lower_is_better``, overridden by ``better=<metric>:min|max``).
"""
from __future__ import annotations

import math

from .args import getlist
from .charts import _better, lower_is_better
from .comparison import compare_context
from .current import store
from ..data.cooperative import Turns
from ..data.errors import NotFound


def extremes(rid, turns):
    """{metric: (min, max)} of a run's finite values at full resolution (parses the run)."""
    out = {}
    try:
        columns = store().metrics_columns(rid)
    except NotFound:   # deleted since the lookup: no best values
        return out
    for name, _step, _epoch, _t, y in columns:
        lo = hi = None
        for i in range(0, len(y), 65536):
            turns()
            finite = [v for v in y[i:i + 65536] if math.isfinite(v)]
            if finite:
                a, b = min(finite), max(finite)
                lo = a if lo is None or a < lo else lo
                hi = b if hi is None or b > hi else hi
        if lo is not None:
            out[name] = (lo, hi)
    return out


def params_context(args):
    """``{"runs", "missing", "dropped", "messages", "axes"}``; an axis is ``{"key", "section",
    "name", "values", "present", "differs"}`` (values in run order), and for a metric also
    ``"better"`` (``min``/``max``) and ``"best"`` (each run's best value, or None). Bad input
    raises as ``/api/compare`` does (400 with no runs, 404 when none is known)."""
    ctx = compare_context(args, strict=True)
    overrides = _better(getlist(args, "better"))
    turns = Turns()
    ranges = [extremes(r["id"], turns) for r in ctx["runs"]]
    axes = []
    for row in ctx["rows"]:
        axis = {k: row[k] for k in ("key", "section", "name", "values", "present", "differs")}
        if row["section"] == "metrics":
            way = overrides.get(row["name"]) or ("min" if lower_is_better(row["name"]) else "max")
            pick = 0 if way == "min" else 1
            axis["better"] = way
            axis["best"] = [r[row["name"]][pick] if row["name"] in r else None for r in ranges]
        axes.append(axis)
    return {"runs": ctx["runs"], "missing": ctx["missing"], "dropped": ctx["dropped"],
            "messages": ctx["messages"], "axes": axes}
