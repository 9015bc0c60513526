"""The runs table's rows: filter, sort, group and paginate RUN dicts after a parsed query.

:mod:`viewer.views.runquery` reads the URL into a :class:`~viewer.views.runquery.Query`; this module
applies it (:func:`run_query`) and shapes a run for its row (:func:`row_view`). Pure: no Flask.
"""
from __future__ import annotations

import math
import time
from urllib.parse import parse_qs

from .runquery import (FIXED_GROUPS, GROUP_CHOICES, HP_COLUMNS, NONE_GROUP, STATUSES, TEXT_SORTS, Column,
                       as_number, as_text, duration_of, metric_columns, parse, varying_hparams)

# what a rule's ``runs`` scope may hold of the overview's URL (the rest is how it shows them)
SCOPE_KEYS = frozenset(("q", "regex", "f", "status", "sort", "order", "group", "cols", "page", "per", "sel", "fold"))


def haystack(run):
    """The text ``q`` searches: id, name, status, format, tags, notes, hparams as key=value
    (one field a line, lowercased)."""
    parts = [run["id"], str(run["name"]), run["status"], run["format"], " ".join(map(str, run["tags"])),
             run.get("notes") or ""]
    parts += [f"{k}={v}" for k, v in (run.get("hparams") or {}).items()]
    return "\n".join(parts).lower()


def select(runs, qy, hay=haystack):
    """The runs that pass the text or regex filter, every chip and the status (``hay`` gives
    a run's search text: a caller may cache it)."""
    terms = [] if qy.regex else qy.terms
    pattern = qy.pattern if qy.regex else None
    chips, status = qy.chips, qy.status
    out = []
    for r in runs:
        if status and r["status"] != status:
            continue
        if chips and not all(c.matches(r) for c in chips):
            continue
        if terms or pattern:
            text = hay(r)
            if pattern is not None and not pattern.search(text):
                continue
            if terms and not all(t in text for t in terms):
                continue
        out.append(r)
    return out


def sort_value(run, key, col=None):
    """The value sorted on for column ``key``: (kind, value) with numbers before text, or None
    when the run has none (it then sorts last, whatever the order). ``col``: ``Column(key)``,
    made once by a caller sorting many runs."""
    if key == "name":
        return (1, str(run["name"]).casefold())
    if key == "status":
        return (0, STATUSES.index(run["status"]) if run["status"] in STATUSES else len(STATUSES))
    if key == "format":
        return (1, str(run["format"]))
    if key == "created":
        v = run.get("created_at")
    elif key == "updated":
        v = run.get("updated_at")
    elif key == "duration":
        v = duration_of(run)[0]
    else:
        v = (col or Column(key)).value(run)
    if v is None:
        return None
    n = as_number(v)
    if n is not None:
        return (0, n)
    if isinstance(v, float):  # nan
        return None
    return (1, as_text(v).casefold())


def sort_runs(runs, key, order):
    """Runs sorted by column ``key``; those without a value last in either order. Ties keep
    the incoming order (newest first)."""
    if not key:
        return list(runs)
    col = Column(key) if key.startswith(("hp:", "m:")) else None
    keyed = [(sort_value(r, key, col), r) for r in runs]
    have = [kr for kr in keyed if kr[0] is not None]
    have.sort(key=lambda kr: kr[0], reverse=order == "desc")
    return [r for _v, r in have] + [r for v, r in keyed if v is None]


def group_value(run, group):
    """The value a run is grouped under (its first tag for ``tag``), or None."""
    if group == "status":
        return run["status"]
    if group == "format":
        return run["format"]
    if group == "tag":
        tags = run.get("tags") or ()
        return str(tags[0]) if tags else None
    return (run.get("hparams") or {}).get(group[3:])


def _group_order(group, value):
    if value is None:
        return (2, 0, "")
    if group == "status":
        return (0, STATUSES.index(value) if value in STATUSES else 99, value)
    n = as_number(value)
    return (0, n, "") if n is not None else (1, 0, as_text(value).casefold())


def group_runs(runs, group):
    """[(key, value, runs)] in group order (statuses in their order, numbers numerically,
    text alphabetically, runs without the value last); ``key`` is the value as text."""
    groups = {}
    for r in runs:
        v = group_value(r, group)
        k = NONE_GROUP if v is None else as_text(v)
        if k not in groups:
            groups[k] = (v, [])
        groups[k][1].append(r)
    keys = sorted(groups, key=lambda k: _group_order(group, groups[k][0]))
    return [(k, groups[k][0], groups[k][1]) for k in keys]


def run_query(items, qy, key_metrics=(), hay=haystack, clamp=True):
    """Apply the query to RUN dicts (newest first). Returns a dict: ``runs`` (this page),
    ``total``, ``matched``, ``page``, ``pages``, ``per``, ``cols`` (the data columns),
    ``group_choices`` (``status``, ``tag``, ``format``, then hparams that vary) and
    ``groups`` (``[{"key", "value", "count", "best", "runs", "folded"}]`` for this page, or
    None when not grouped). ``clamp`` brings a page past the end back to the last one."""
    matched = select(items, qy, hay)
    ordered = sort_runs(matched, qy.sort, qy.order)
    grouped = group_runs(ordered, qy.group) if qy.group else None
    if grouped is not None:
        ordered = [r for _k, _v, rs in grouped for r in rs]
    pages = max(1, math.ceil(len(ordered) / qy.per)) if qy.paginate else 1
    page = min(qy.page, pages) if clamp else qy.page  # a narrowed list: its last page
    shown = ordered[(page - 1) * qy.per: page * qy.per] if qy.paginate else ordered
    varying = varying_hparams(matched, k=GROUP_CHOICES)
    if qy.cols is not None:
        cols = list(qy.cols)
    else:
        cols = metric_columns(key_metrics) + [Column("hp:" + k) for k in varying[:HP_COLUMNS]]
    choices = list(FIXED_GROUPS) + ["hp:" + k for k in varying]
    if qy.group and qy.group not in choices:
        choices.append(qy.group)
    return {"runs": shown, "total": len(items), "matched": len(matched), "page": page, "pages": pages,
            "per": qy.per, "cols": cols, "group_choices": choices,
            "groups": _page_groups(shown, grouped, qy) if grouped else None}


def _page_groups(shown, grouped, qy):
    """The groups present on this page, each with its count over every page and the first
    value of the sort column in it (the best, in the chosen order)."""
    on_page = {}
    for r in shown:
        on_page.setdefault(id(r), r)
    folded = set(qy.fold)
    out = []
    for key, value, runs in grouped:
        here = [r for r in runs if id(r) in on_page]
        if not here:
            continue
        best = None
        if qy.sort and qy.sort not in TEXT_SORTS:  # runs are sorted: the first value is the best
            best = next((v[1] for v in (sort_value(r, qy.sort) for r in runs) if v is not None), None)
        out.append({"key": key, "value": value, "count": len(runs), "best": best,
                    "runs": here, "folded": key in folded})
    return out


def row_view(run, now=None):
    """A RUN dict plus ``view``: what its table row shows beyond the raw fields (duration and
    how it was measured, whether it is ongoing, seconds since its last update)."""
    now = time.time() if now is None else now
    seconds, how = duration_of(run)
    updated = run.get("updated_at")
    return {**run, "view": {"duration": seconds, "how": how, "ongoing": run["status"] == "running",
                            "idle": (now - updated) if updated else None}}


def run_matcher(spec):
    """A predicate over RUN dicts from a runs-table query, for alert rule scopes: the overview's
    query string (``f=tag:x&q=y``; a whole URL works, its query is taken) or a list of chips.
    ValueError names what cannot be read."""
    if isinstance(spec, str):
        args = parse_qs(spec.split("?", 1)[1] if "?" in spec else spec)
        unknown = sorted(set(args) - SCOPE_KEYS)
        if unknown:
            raise ValueError(f"runs: unknown parameter(s) {', '.join(unknown)} "
                             f"(a scope takes {', '.join(sorted(SCOPE_KEYS))})")
    else:
        args = {"f": list(spec)}
    qy = parse(args, paginate=False)
    if qy.errors:
        raise ValueError("runs: " + "; ".join(qy.errors))
    return lambda run: bool(select([run], qy))
