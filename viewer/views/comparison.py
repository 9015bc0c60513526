"""The compare view's data: runs side by side (hparams and summary values), which values
differ, a column order, and a scatter of any two numeric columns.

One builder, ``compare_context``, serves the page (``/compare``) and its JSON twin
(``/api/compare``). A column key names its section: ``hp:<hparam>`` or ``m:<metric>``, as in
the runs table (``h:<hparam>``, the old spelling, is still read from URLs).
"""
from __future__ import annotations

import json
from collections import Counter

from flask import url_for

from .args import flag, ids as ids_from, partition_known
from .charts import run_colors
from .current import store
from ..data.errors import BadRequest, NotFound
from ..data.numbers import is_finite_number, is_number
from ..data.cooperative import each

MAX_RUNS = 50        # columns a table stays readable with; more are dropped with a message
MAX_CHOICES = 2000   # run ids offered by the "add run" input
TABS = ("charts", "table", "scatter", "pcoords")   # pcoords: parallel coordinates (static/pcoords/)
SECTIONS = (("hp", "hparams", "."), ("m", "metrics", "/"))   # prefix, title, group separator
OLD_PREFIXES = {"h": "hp"}   # compare URLs written before the prefix was the runs table's


class CompareError(BadRequest):
    """A bad compare parameter: the API answers 400, the page shows the message and goes on."""


# -- values ----------------------------------------------------------------------------------

MISSING = ("missing",)


def value_key(v):
    """A hashable identity for diffing: 1 == 1.0, but True != 1 and "1" != 1; NaN equals NaN."""
    if isinstance(v, bool):
        return ("b", v)
    if is_number(v):
        return ("n", "nan") if v != v else ("n", float(v))
    if isinstance(v, str):
        return ("s", v)
    return ("o", json.dumps(v, sort_keys=True, default=str))


def odd_cells(cells):
    """Which cells differ: those not holding the row's most common value (missing counts as a
    value). When no value is the most common (a tie, e.g. two runs that disagree), all differ."""
    keys = [MISSING if c is MISSING else value_key(c) for c in cells]
    counts = Counter(keys)
    if len(counts) <= 1:
        return [False] * len(cells)
    ranked = counts.most_common(2)
    if ranked[0][1] == ranked[1][1]:
        return [True] * len(cells)
    mode = ranked[0][0]
    return [k != mode for k in keys]


def sort_key(v):
    """Order for sorting runs by a row: numbers (NaN last among them), then text, then the rest."""
    if is_number(v):
        return (0, 1, 0.0) if v != v else (0, 0, float(v))
    if isinstance(v, str):
        return (1, 0, v.lower())
    return (2, 0, json.dumps(v, sort_keys=True, default=str))


# -- rows ------------------------------------------------------------------------------------

def split_key(name, sep):
    """``optim.lr`` -> ("optim", "lr"); a key without the separator has no group."""
    head, found, rest = name.partition(sep)
    return (head, rest) if found and head and rest else ("", name)


def build_rows(runs):
    """One row per hparam then per metric, grouped by prefix (groups in order of first use)."""
    rows = []
    for prefix, section, sep in SECTIONS:
        field = "hparams" if prefix == "hp" else "summary"
        names = list(dict.fromkeys(k for r in runs for k in r[field]))
        groups = {}
        for name in names:
            groups.setdefault(split_key(name, sep)[0], []).append(name)
        for group, members in groups.items():
            for name in each(members, 256):  # 30,000 metrics x 10 runs: other clients get turns
                cells = [r[field].get(name, MISSING) for r in runs]
                odd = odd_cells(cells)
                rows.append({"key": f"{prefix}:{name}", "section": section, "name": name, "group": group,
                             "label": split_key(name, sep)[1] if group else name,
                             "values": [None if c is MISSING else c for c in cells],
                             "present": [c is not MISSING for c in cells],
                             "odd": odd, "differs": any(odd)})
    return rows


def sections(rows, only_differing=False):
    """Rows for display: ``[{"title", "groups": [{"name", "rows"}]}]`` in row order; with
    ``only_differing`` the rows whose values are all equal are left out."""
    out = []
    for r in rows:
        if only_differing and not r["differs"]:
            continue
        if not out or out[-1]["title"] != r["section"]:
            out.append({"title": r["section"], "groups": []})
        groups = out[-1]["groups"]
        if not groups or groups[-1]["name"] != r["group"]:
            groups.append({"name": r["group"], "rows": []})
        groups[-1]["rows"].append(r)
    return out


def resolve_key(rows, raw, what):
    """The row key ``raw`` names: ``hp:<name>`` (or the old ``h:<name>``), ``m:<name>``, or a
    bare name (hparams first)."""
    keys = {r["key"] for r in rows}
    if raw in keys:
        return raw
    prefix, sep, name = raw.partition(":")
    if sep and prefix in OLD_PREFIXES and f"{OLD_PREFIXES[prefix]}:{name}" in keys:
        return f"{OLD_PREFIXES[prefix]}:{name}"
    for prefix, _title, _sep in SECTIONS:
        if f"{prefix}:{raw}" in keys:
            return f"{prefix}:{raw}"
    raise CompareError(f"unknown {what} column {raw!r}: use hp:<hparam> or m:<metric> of these runs")


def sort_order(rows, raw):
    """Column order (indices) for ``sort=<key>`` (``-<key>``: descending); runs without the
    value stay last either way. Returns (order, key, descending)."""
    desc = raw.startswith("-")
    key = resolve_key(rows, raw[1:] if desc else raw, "sort")
    row = next(r for r in rows if r["key"] == key)
    have = [i for i, p in enumerate(row["present"]) if p]
    have.sort(key=lambda i: sort_key(row["values"][i]), reverse=desc)
    return have + [i for i, p in enumerate(row["present"]) if not p], key, desc


def reorder(rows, runs, order):
    runs[:] = [runs[i] for i in order]
    for r in rows:
        for field in ("values", "present", "odd"):
            r[field] = [r[field][i] for i in order]


# -- scatter ---------------------------------------------------------------------------------

def numeric_rows(rows):
    return [r for r in rows if any(p and is_finite_number(v) for v, p in zip(r["values"], r["present"]))]


def default_axes(numeric):
    """x: the hparam with the most distinct numeric values; y: the first summary metric."""
    hps = [r for r in numeric if r["section"] == "hparams"]
    mets = [r for r in numeric if r["section"] == "metrics"]
    x = max(hps, key=lambda r: len({v for v in r["values"] if is_finite_number(v)}), default=None)
    y = mets[0] if mets else None
    x = x or next((r for r in numeric if r is not y), None)
    y = y or next((r for r in numeric if r is not x), x)
    return (x and x["key"]), (y and y["key"])


def scatter_context(rows, runs, args, report):
    """Columns to choose from, the chosen axes (``sx``/``sy``, log ``slx``/``sly``), one point
    per run with numeric values on both, and the runs not plotted with the reason."""
    numeric = numeric_rows(rows)
    by_key = {r["key"]: r for r in numeric}
    defaults = dict(zip(("x", "y"), default_axes(numeric)))
    axes, chosen = dict(defaults), {"x": "", "y": ""}
    for axis, param in (("x", "sx"), ("y", "sy")):
        if args.get(param):
            try:
                axes[axis] = chosen[axis] = resolve_key(numeric, args[param], f"{axis} axis (numeric)")
            except CompareError as e:
                report(e, "")
    log = {"x": flag(args.get("slx")), "y": flag(args.get("sly"))}
    points, skipped = [], []
    for i, run in enumerate(runs):
        vals, why = {}, None
        for axis in ("x", "y"):
            row = by_key.get(axes[axis])
            v = row["values"][i] if row and row["present"][i] else None
            if not is_finite_number(v):
                why = why or f"no numeric {row['name'] if row else axis}"
            elif log[axis] and v <= 0:
                why = why or f"{row['name']} ≤ 0 on a log axis"
            vals[axis] = v
        if why:
            skipped.append({"id": run["id"], "name": run["name"], "color": run["color"], "reason": why})
        else:
            points.append({"id": run["id"], "name": run["name"], "color": run["color"], "url": run["url"],
                           "x": vals["x"], "y": vals["y"]})
    columns = [{"key": r["key"], "section": r["section"], "name": r["name"]} for r in numeric]
    return {"columns": columns, "x": axes["x"], "y": axes["y"], "chosen": chosen,
            "x_name": by_key[axes["x"]]["name"] if axes["x"] else "",
            "y_name": by_key[axes["y"]]["name"] if axes["y"] else "",
            "log_x": log["x"], "log_y": log["y"], "points": points, "skipped": skipped}


# -- the whole view --------------------------------------------------------------------------

def compare_context(args, strict=False):
    """The compare view for request ``args``: runs (found, in the URL's or the sorted order),
    ``missing`` ids, table ``rows``, ``scatter``, and ``messages`` about what was ignored.

    ``strict`` (the API) raises instead: 400 for no runs or a bad ``sort``/``sx``/``sy``, 404
    when no id is known. The page shows the same problems as messages and goes on.
    """
    s = store()
    asked = ids_from(args, whole=("run",), commas=("runs",))
    messages = []

    def report(error, suffix):
        if strict:
            raise error
        messages.append(error.message + suffix)

    if strict and not asked:
        raise BadRequest("no runs to compare: pass run=<id> (repeatable) or runs=<id>,<id>")
    dropped = asked[MAX_RUNS:]
    if dropped:
        messages.append(f"{len(asked)} runs asked for: only the first {MAX_RUNS} are compared.")
    ids, missing = partition_known(asked[:MAX_RUNS], s.has)
    if strict and not ids:
        raise NotFound("unknown runs: " + ", ".join(missing))
    runs = []
    for rid in list(ids):
        try:
            data = s.get(rid).to_json()
        except NotFound:  # deleted between the lookup and the read
            ids.remove(rid)
            missing.append(rid)
            continue
        runs.append({"id": rid, "name": data["name"], "status": data["status"],
                     "url": url_for("tailboard.pages.run", run_id=rid),
                     "hparams": data["hparams"], "summary": data["summary"]})
    colors = run_colors(ids)   # the overlay charts' colours: a run looks the same in every tab
    for r in runs:
        r["color"] = colors.get(r["id"])
    rows = build_rows(runs)
    tab = args.get("tab") or "charts"
    if tab not in TABS:
        messages.append(f"unknown tab {tab!r}: showing charts")
        tab = "charts"
    sort, desc = "", False
    if args.get("sort"):
        try:
            order, sort, desc = sort_order(rows, args["sort"])
            reorder(rows, runs, order)
        except CompareError as e:
            report(e, "; runs are in the order given")
    scatter = scatter_context(rows, runs, args, report)
    for r in runs:
        del r["hparams"], r["summary"]
    chosen = set(ids) | set(missing)
    return {
        "ids": ids, "runs": runs, "missing": missing, "dropped": len(dropped), "messages": messages,
        "rows": rows, "differing": sum(r["differs"] for r in rows),
        "tab": tab, "diff": flag(args.get("diff")), "sort": sort, "desc": desc,
        "scatter": scatter,
        "choices": [r.id for r in s.runs() if r.id not in chosen][:MAX_CHOICES],
    }
