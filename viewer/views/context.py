"""Context builders shared by the pages and their JSON twins (one source for each answer)."""
from __future__ import annotations

import itertools
import posixpath
import time
import weakref
from urllib.parse import quote, urlencode

from flask import current_app, url_for

from . import runquery, runtable
from ..data.formats.base import safe_text
from ..data.run import STATUSES, Run

MEDIA_PER_STEP = 16   # items drawn at one step of a tag (the lightbox pages through them all)
URL_SAFE = "!$&'()*+,/:;=@"  # what werkzeug's path converter leaves unquoted


def viewer():
    return current_app.extensions["tailboard"]


def store():
    return viewer().store


def matches(run, terms):
    """Every term matches the id, name, status, format, a tag, or an hparam ``key=value``."""
    if not terms:
        return True
    hay = " ".join([run["id"], str(run["name"]), run["status"], run["format"],
                    " ".join(run["tags"]), run.get("notes") or ""]
                   + [f"{k}={v}" for k, v in run["hparams"].items()]).lower()
    return all(t in hay for t in terms)


def runs_context(q="", status=None, *, args=None, paginate=False, strict=False):
    """The runs table: one page of RUN dicts after the query in ``args`` (see
    ``runquery``; without ``args``, just ``q`` and ``status``), plus scan progress, status
    counts, the data columns and the groups. ``rows``/``groups`` are the page's runs ready for
    the row template; ``errors`` lists the parameters left out (``strict`` raises instead).
    ``paginate`` (the page) cuts pages of ``per`` runs even when ``page``/``per`` are absent."""
    s = store()
    items, hays, stamp = store_run_dicts(s)
    counts = {st: 0 for st in STATUSES}
    for r in items:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
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
    for r in runs:
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
            for rid in dict.fromkeys(runquery.getlist(args, "run")[:ROWS_MAX]) if s.has(rid)]
    return {"rows": rows, "cols": qy.cols or [], "sel": qy.sel}


ROWS_MAX = 1000    # rows one /-/partials/rows answer renders (a page holds at most 1000)
PICKER_MAX = 300   # names listed per kind in the column picker
ACTIVITY_MAX = 8   # cards in each overview strip


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


def run_context(run_id):
    """One run: its RUN dict plus log streams, media and HTML reports."""
    s = store()
    run = s.get(run_id)
    data = run.to_json()
    data["logs"] = [{k: v for k, v in st.items() if k != "path"} for st in run.streams()]
    data["reports"] = [{"path": p, "url": url_for("tailboard.files.serve", relpath=p)}
                       for p in s.reports(run_id)]
    data["path"] = safe_text(run.path)  # a folder name may hold bytes that are not UTF-8
    data["sidecar"] = run.meta.get("sidecar", {})
    data["text"] = run.meta.get("text", {})  # TensorBoard text summaries: tag -> last text (step)
    return data


def media_context(run_id):
    return media_json(store().media(run_id), run_id)


def media_json(items, run_id=None):
    """Media items as the API gives them: ``path`` (relative to the root) becomes a ``url``;
    an item inside a file (``blob``: an image in an event file) is served by the run's API."""
    files_root = url_for("tailboard.files.serve", relpath="")
    return [{"tag": m["tag"], "step": m["step"], "type": m["type"], "caption": m["caption"],
             "url": url_for("tailboard.api.run_path", path=f"{run_id}/media/{m['index']}")
             if "blob" in m else files_root + quote(m["path"], safe=URL_SAFE)} for m in items]


def _step_key(m):
    """Sort key of a media item: items without a step first, then by step (stable otherwise)."""
    return (m["step"] is not None, m["step"] or 0)


def parse_compare(values):
    """Run ids from ``compare=a,b`` (the parameter may also repeat), in order, without repeats."""
    out = []
    for v in values:
        for rid in str(v).split(","):
            rid = rid.strip().strip("/")
            if rid and rid not in out:
                out.append(rid)
    return out


def media_panel_context(run_id, compare=()):
    """The media tab: per tag, one row per run (the run, then the runs compared), one slider.

    Each row carries its items as compact rows ``[step, path, caption, type]`` (``path``
    relative to the row's ``base`` URL) for the page's script, plus the items at the latest
    step, drawn server-side. Unknown compare ids are listed in ``missing``, not an error.
    """
    s = store()
    ids, missing = [run_id], []
    for rid in compare:
        if rid in ids:
            continue
        (ids if s.has(rid) else missing).append(rid)
    files_root = url_for("tailboard.files.serve", relpath="")
    tags, counts = {}, {}
    for rid in ids:
        items = s.media(rid)
        counts[rid] = len(items)
        for m in items:
            tags.setdefault(m["tag"], {}).setdefault(rid, []).append(m)
    names = {rid: s.get(rid, refresh=False).meta.get("name") or rid for rid in ids}
    out = []
    for tag, by_run in tags.items():
        runs = []
        for rid in ids:
            items = sorted(by_run.get(rid, ()), key=_step_key)
            base = posixpath.dirname(posixpath.commonprefix([m["path"] for m in items])) if items else ""
            base = base + "/" if base else ""
            runs.append({"id": rid, "name": names[rid], "items": items,
                         "base": files_root + quote(base, safe=URL_SAFE),
                         "rows": [[m["step"], quote(m["path"][len(base):], safe=URL_SAFE), m["caption"], m["type"]]
                                  for m in items]})
        out.append(_latest_view(tag, runs, files_root))
    choices = [r.id for r in s.runs() if r.id not in ids][:2000]
    return {"run": run_id, "runs": ids, "missing": missing, "compare": ids[1:], "tags": out,
            "count": counts[run_id], "per_step": MEDIA_PER_STEP, "choices": choices}


def _latest_view(tag, runs, files_root):
    """A tag at its latest position: the slider's size and what each row shows there."""
    steps = {m["step"] for r in runs for m in r["items"] if m["step"] is not None}
    nulls = max(sum(m["step"] is None for m in r["items"]) for r in runs)
    positions = nulls + len(steps)
    step = max(steps) if steps else None
    rows = []
    for r in runs:
        if steps:   # the largest step of each run (every one is <= the latest)
            mine = [m for m in r["items"] if m["step"] is not None]
            shown = [m for m in mine if m["step"] == mine[-1]["step"]] if mine else []
        else:       # no steps at all: the last item without one
            mine = [m for m in r["items"] if m["step"] is None]
            shown = [mine[-1]] if len(mine) == nulls else []
        rows.append({"id": r["id"], "name": r["name"],
                     "data": {"id": r["id"], "base": r["base"], "items": r["rows"]},
                     "count": len(r["items"]),
                     "shown": [{**m, "url": files_root + quote(m["path"], safe=URL_SAFE)}
                               for m in shown[:MEDIA_PER_STEP]],
                     "more": max(0, len(shown) - MEDIA_PER_STEP)})
    return {"tag": tag, "rows": rows, "positions": positions, "step": step,
            "count": sum(r["count"] for r in rows), "data": {"runs": [r["data"] for r in rows]}}
