"""The runs overview: the table after the URL's query (the page, its fragment and
``/api/runs`` share :func:`runs_context`), the column picker, live rows and the activity strips."""
from __future__ import annotations

import itertools
import time
import weakref
from urllib.parse import urlencode

from flask import url_for

from . import runquery, runtable
from .args import ids
from .current import store
from ..data.cooperative import each
from ..data.run import Run, status_counts

ROWS_MAX = 1000    # rows one /-/partials/rows answer renders (a page holds at most 1000)
PICKER_MAX = 300   # names listed per kind in the column picker
ACTIVITY_MAX = 8   # cards in each overview strip


def runs_context(q="", status=None, *, args=None, paginate=False, strict=False):
    """The runs table: one page of RUN dicts after the query in ``args`` (see
    ``runquery``; without ``args``, just ``q`` and ``status``), plus scan progress, status
    counts, the data columns and the groups. ``rows``/``groups`` are the page's runs ready for
    the row template; ``errors`` lists the parameters left out (``strict`` raises instead).
    ``paginate`` (the page) cuts pages of ``per`` runs even when ``page``/``per`` are absent."""
    s = store()
    items, hays, stamp = store_run_dicts(s)
    counts = status_counts(r["status"] for r in items)
    qy = runquery.parse({"q": q or "", "status": status or ""} if args is None else args, paginate=paginate)
    if strict and qy.errors:
        raise runquery.QueryError("; ".join(qy.errors))
    columns = key_metrics(s, items, stamp)
    res = runtable.run_query(items, qy, columns, hay=lambda r: hays[r["id"]], clamp=not strict)
    qy.page = res["page"]
    now = time.time()
    views = {r["id"]: runtable.row_view(r, now) for r in res["runs"]}
    groups = [{**g, "runs": [views[r["id"]] for r in g["runs"]]} for g in res["groups"] or ()]
    base = url_for("tailboard.pages.index")
    return {
        **res,
        "rows": [views[r["id"]] for r in res["runs"]],
        "groups": groups if res["groups"] is not None else None,
        "counts": counts,
        "scan": dict(s.scan_state),
        "columns": columns,
        "query": qy,
        "errors": qy.errors,
        "q": qy.q,
        "status": qy.status,
        "sel": qy.sel,
        "base": base,
        "compare_base": base + "compare",
        "sel_qs": urlencode([("run", rid) for rid in qy.sel]),
    }


_RUN_CACHE = {}  # Run -> ((version, format), build, RUN dict, search text); pruned in run_dicts
_KEY_METRICS = weakref.WeakKeyDictionary()  # RunStore -> ((runs, newest build), key metric names)
_builds = itertools.count(1)


_LISTS = weakref.WeakKeyDictionary()  # RunStore -> (key, run_dicts() result)
STATUS_TICK = 5.0  # seconds: how stale a time-driven status (running -> stale) may be in a list


def store_run_dicts(s):
    """``run_dicts()`` of the store's runs (newest first), kept while no run changed (and for
    STATUS_TICK at most, since a running run turns stale with time alone): a filter keystroke
    then skips even sorting and walking every run."""
    key = (s.count(), Run.changes, int(time.time() // STATUS_TICK))
    hit = _LISTS.get(s)
    if hit is None or hit[0] != key:
        hit = _LISTS[s] = (key, run_dicts(s.runs()))
    return hit[1]


def run_dicts(runs):
    """RUN dicts of ``runs``, their search text by id, and a stamp that changes whenever one
    of them does. Only runs that changed are rebuilt (10,000 ``to_json`` calls cost 0.3 s; a
    filter keystroke must not pay that). The dicts are shared: read them, never change them."""
    items, hays, newest = [], {}, 0
    for r in each(runs, 16):  # a run of 30,000 metrics costs ms to build: others get turns
        key = (r.version, r.format)
        hit = _RUN_CACHE.get(r)
        # a file change bumps the version; time alone only moves a running run (to stale/unknown)
        if hit is None or hit[0] != key or (hit[2]["status"] == "running" and r.status() != "running"):
            data = r.to_json()
            hit = _RUN_CACHE[r] = (key, next(_builds), data, runtable.haystack(data))
        items.append(hit[2])
        hays[hit[2]["id"]] = hit[3]
        if hit[1] > newest:
            newest = hit[1]
    if len(_RUN_CACHE) > 2 * len(items) + 1000:  # runs that vanished (or another store's)
        keep = set(runs)
        for r in list(_RUN_CACHE):  # list() copies in one step: other requests may insert meanwhile
            if r not in keep:
                _RUN_CACHE.pop(r, None)
    return items, hays, (len(items), newest)


def key_metrics(s, items, stamp):
    """The store's key metric columns for these RUN dicts, recomputed only when one changed."""
    cached = _KEY_METRICS.get(s)
    if cached is None or cached[0] != stamp:
        cached = _KEY_METRICS[s] = (stamp, s.key_metrics([_Summary(r) for r in items]))
    return cached[1]


class _Summary:
    """A RUN dict seen as the store's ``key_metrics`` expects a run (one ``summary()``)."""

    __slots__ = ("data",)

    def __init__(self, data):
        self.data = data

    def summary(self):
        return self.data["summary"]


def columns_context(args):
    """The column picker: every metric and hparam key of the runs the query matches."""
    ctx = runs_context(args=args, paginate=False)
    metrics, hparams = {}, {}
    for r in ctx["runs"]:
        for k in r["summary"]:
            metrics[k] = metrics.get(k, 0) + 1
        for k in r["hparams"]:
            hparams[k] = hparams.get(k, 0) + 1
    shown = [c.key for c in ctx["cols"]]
    return {"shown": shown, "cols_param": ctx["query"].cols is not None,
            "metrics": sorted(metrics, key=lambda k: (-metrics[k], k))[:PICKER_MAX],
            "hparams": sorted(hparams, key=lambda k: (-hparams[k], k))[:PICKER_MAX],
            "more": max(0, len(metrics) - PICKER_MAX) + max(0, len(hparams) - PICKER_MAX)}


def rows_context(args):
    """Rows for the runs named by ``run`` (repeatable; unknown ones skipped) with the columns
    in ``cols`` and the boxes of ``sel`` checked."""
    s = store()
    qy = runquery.parse(args)
    if qy.errors:
        raise runquery.QueryError("; ".join(qy.errors))
    now = time.time()
    rows = [runtable.row_view(s.get(rid, refresh=False).to_json(), now)
            for rid in ids(args)[:ROWS_MAX] if s.has(rid)]
    return {"rows": rows, "cols": qy.cols or [], "sel": qy.sel}



def activity_context():
    """The overview strips: running runs (latest update first) and the latest created runs,
    each with its first key metric's last value."""
    s = store()
    items, _hays, stamp = store_run_dicts(s)
    key = key_metrics(s, items, stamp)
    active = [r for r in items if r["status"] == "running"][:ACTIVITY_MAX]  # already newest first
    recent = sorted(items, key=lambda r: -(r["created_at"] or 0))[:ACTIVITY_MAX]

    def card(r):
        metric = next((m for m in key if m in r["summary"]), None)
        return {**r, "metric": metric, "value": r["summary"].get(metric) if metric else None}

    return {"active": [card(r) for r in active], "recent": [card(r) for r in recent],
            "running": sum(r["status"] == "running" for r in items), "scan": dict(s.scan_state)}
