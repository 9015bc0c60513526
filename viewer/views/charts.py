"""What the charts partial needs: runs with stable colours and groups, metric names, and the
chart view state read back from the URL (every control of the charts panel lives there).

Bad values never fail a page: each falls back to its default (the API keeps its 400s).
"""
from __future__ import annotations

import hashlib
import json
import re

from flask import url_for

from .args import flag, partition_known
from .current import store, viewer

# ~20 mid-tone colours: each keeps a 3:1 contrast on both the light and the dark background
PALETTE = (
    "#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777",
    "#6366f1", "#65a30d", "#0d9488", "#c026d3", "#b45309", "#e11d48", "#0284c7", "#7c3aed",
    "#059669", "#d97706", "#64748b", "#a16207",
)
AXES = ("step", "epoch", "time", "relative")
AGGS = ("none", "mean", "median")
SPREADS = ("minmax", "std", "sem", "ci")
SMOOTHERS = ("ema", "avg", "gauss")
DEFAULTS = {"x": "step", "smooth": 0.0, "logy": False, "logx": False, "band": True, "agg": "none",
            "spread": "minmax", "group": "auto", "metric": "", "better": {}, "fold": [],
            "smoother": "ema", "xmetric": "", "clip": False, "clipq": 5, "skip": 0, "clipc": [],
            "combo": [], "pin": []}
MAX_SMOOTH = 0.99
MAX_CLIPQ = 25     # the outlier scale keeps at least the middle half of the points
MAX_COMBO = 12     # metrics in one combined panel
MAX_FILTER = 200   # characters of the metric filter kept
MAX_LIST = 200     # repeated better=/fold= values kept

# metrics where lower is better, guessed from the name; the same pattern runs in static/charts/data.js
LOWER_IS_BETTER = (r"(?:^|[^a-z0-9])(?:[a-z0-9]*loss|[a-z0-9]*error|err|ppl|perplexity|mse|mae|rmse|"
                   r"nll|wer|cer|bpb|bpc|time|latency)\d*(?:$|[^a-z0-9])")
_LOWER = re.compile(LOWER_IS_BETTER)
SEED_KEY = re.compile(r"^(?:.*_)?seed(?:_.*)?$|^random_state$|^rng$")
IDENTITY_LEAVES = {"output_dir", "run_dir", "log_dir", "logdir", "save_dir", "run_name", "run_id",
                   "job_id", "wandb_id", "timestamp"}
IDENTITY_KEYS = {"name", "id", "version"}   # only at the top level (``data.name`` is a dataset)


def fnv1a(text):
    """32-bit FNV-1a of ``text``'s UTF-8 bytes."""
    h = 0x811C9DC5
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def run_colors(run_ids):
    """A stable ``#rrggbb`` per run: FNV-1a of the id picks a palette slot; on a collision the
    later run takes the next free slot, so earlier runs keep theirs (past 20 runs, slots repeat)."""
    out, used = {}, set()
    for rid in run_ids:
        if rid in out:
            continue
        slot = fnv1a(rid) % len(PALETTE)
        if len(used) < len(PALETTE):
            while slot in used:
                slot = (slot + 1) % len(PALETTE)
        used.add(slot)
        out[rid] = PALETTE[slot]
    return out


def lower_is_better(name):
    """The direction guess: losses, errors, perplexities, times... are better when lower."""
    return bool(_LOWER.search(name.lower()))


# -- view state from the URL ---------------------------------------------------------------


def _smooth(raw):
    try:
        v = float(raw)
    except (TypeError, ValueError):
        return DEFAULTS["smooth"]
    return v if 0 <= v <= MAX_SMOOTH else DEFAULTS["smooth"]


def _group(raw):
    raw = (raw or "").strip()
    if raw in ("auto", "all") or (raw.startswith("hp:") and len(raw) > 3):
        return raw
    return DEFAULTS["group"]


def _better(values):
    """``better=<metric>:min|max`` (repeatable; the last word wins) as {metric: "min"|"max"}."""
    out = {}
    for v in values[:MAX_LIST]:
        name, _, way = v.rpartition(":")
        if name and way in ("min", "max"):
            out[name] = way
    return out


def _int(raw, lo, hi, default):
    try:
        v = int(raw)
    except (TypeError, ValueError):
        return default
    return v if lo <= v <= hi else default


def _names(values):
    """Repeated parameters (``pin=``, ``clipc=``): in order, no repeats, blanks dropped."""
    return [v for v in dict.fromkeys(values[:MAX_LIST]) if v]


def split_names(value):
    """``a,b\\,c`` -> ``["a", "b,c"]``: names joined by commas, a name's own comma or
    backslash escaped with a backslash (static/charts/card.js ``joinNames``)."""
    out, cur, i = [], [], 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            i += 1
            cur.append(value[i])
        elif c == ",":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    out.append("".join(cur))
    return out


def _combos(values):
    """``combo=a,b,c`` (repeatable): the metric lists of the combined panels (two or more names)."""
    out = []
    for v in values[:MAX_LIST]:
        names = list(dict.fromkeys(n for n in split_names(v) if n))[:MAX_COMBO]
        if len(names) > 1 and names not in out:
            out.append(names)
    return out


def view_state(args):
    """The validated chart controls of a request's query (a MultiDict); bad values -> defaults."""
    x = args.get("x", "step")
    state = {
        "x": x if x in AXES else DEFAULTS["x"],
        "smooth": _smooth(args.get("smooth")),
        "logy": flag(args.get("logy"), False),
        "logx": flag(args.get("logx"), False),
        "band": flag(args.get("band"), True),
        "agg": args.get("agg") if args.get("agg") in AGGS else DEFAULTS["agg"],
        "spread": args.get("spread") if args.get("spread") in SPREADS else DEFAULTS["spread"],
        "group": _group(args.get("group")),
        "metric": (args.get("metric") or "")[:MAX_FILTER],
        "better": _better(args.getlist("better")),
        "fold": [f for f in dict.fromkeys(args.getlist("fold")[:MAX_LIST]) if f],
        "smoother": args.get("smoother") if args.get("smoother") in SMOOTHERS else DEFAULTS["smoother"],
        "xmetric": (args.get("xmetric") or "")[:MAX_FILTER],
        "clip": flag(args.get("clip"), False),
        "clipq": _int(args.get("clipq"), 0, MAX_CLIPQ, DEFAULTS["clipq"]),
        "skip": _int(args.get("skip"), 0, 10**12, DEFAULTS["skip"]),
        "clipc": _names(args.getlist("clipc")),
        "combo": _combos(args.getlist("combo")),
        "pin": _names(args.getlist("pin")),
        "metric_error": None,
    }
    if state["xmetric"]:
        state["x"] = "step"   # another series is joined to each metric by step
    if state["metric"]:
        try:
            re.compile(state["metric"])
        except re.error as e:
            state["metric_error"] = f"not a valid pattern ({e}): matching it as plain text"
    return state


# -- groups of runs (seeds) ----------------------------------------------------------------


def is_seed_like(key):
    """Keys that differ between the seeds of one configuration (or only name the run)."""
    leaf = key.rsplit(".", 1)[-1].lower()
    return bool(SEED_KEY.match(leaf)) or leaf in IDENTITY_LEAVES or key.lower() in IDENTITY_KEYS


def config_key(hparams):
    """The run's configuration without its seed-like keys, as a canonical string."""
    return json.dumps({k: v for k, v in hparams.items() if not is_seed_like(k)}, sort_keys=True, default=str)


def _digest(text):
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def varying_keys(runs):
    """Hparam keys whose values differ between the runs (the choices of ``group=hp:<key>``)."""
    keys = {}
    for r in runs:
        for k in r["hparams"]:
            keys.setdefault(k, set())
    for k in keys:
        keys[k] = {json.dumps(r["hparams"].get(k), sort_keys=True, default=str) for r in runs}
    return sorted(k for k, vals in keys.items() if len(vals) > 1)


def _short(v):
    text = v if isinstance(v, str) else json.dumps(v, default=str)
    return text if len(text) <= 40 else text[:39] + "…"


def auto_labels(runs):
    """{config key: label}: the hparams telling each configuration apart from the others."""
    by_key = {}
    for r in runs:
        by_key.setdefault(config_key(r["hparams"]), r)
    if len(by_key) == 1:
        return {k: "all runs" for k in by_key}
    reps = list(by_key.values())
    differ = [k for k in varying_keys(reps) if not is_seed_like(k)]
    out = {}
    for key, r in by_key.items():
        parts = [f"{k}={_short(r['hparams'].get(k))}" for k in differ[:3]]
        out[key] = ", ".join(parts) or "config " + str(len(out) + 1)
    return out


def group_runs(runs, group):
    """[{key, label, runs: [ids]}] for ``group`` = auto | all | hp:<key>, in the runs' order."""
    labels = auto_labels(runs) if group == "auto" else {}
    groups = {}
    for r in runs:
        if group == "all":
            key, label = "all", "all runs"
        elif group.startswith("hp:"):
            hp = group[3:]
            value = r["hparams"].get(hp)
            key = json.dumps(value, sort_keys=True, default=str)
            label = f"{hp}={_short(value) if hp in r['hparams'] else '(none)'}"
        else:
            label = labels[config_key(r["hparams"])]
            key = _digest(config_key(r["hparams"]))
        groups.setdefault(key, {"key": key, "label": label, "runs": []})["runs"].append(r["id"])
    return list(groups.values())


# -- the context ---------------------------------------------------------------------------


def chart_context(run_ids, args):
    """Everything ``_charts.html`` needs for these runs: runs (id, name, color, group, metrics
    URL), the union of their metric names, groups, and the validated view state from ``args``.
    Unknown run ids are listed in ``missing``, not an error."""
    s = store()
    known, missing = partition_known(run_ids, s.has)
    colors = run_colors(known)
    runs = []
    for rid in known:
        data = s.get(rid).to_json()
        runs.append({"id": rid, "name": data["name"] or rid, "color": colors[rid], "metrics": data["metrics"],
                     "hparams": data["hparams"], "auto": _digest(config_key(data["hparams"])),
                     "metrics_url": url_for("tailboard.api.run_path", path=rid + "/metrics"),
                     "csv_url": url_for("tailboard.api.run_path", path=rid + "/metrics.csv"),
                     "page_url": url_for("tailboard.pages.run", run_id=rid)})
    state = view_state(args)
    names = sorted({n for r in runs for n in r["metrics"]})
    groups = group_runs(runs, state["group"])
    for g in groups:
        g["color"] = colors[g["runs"][0]]
    varying = varying_keys(runs)
    labels = auto_labels(runs)
    keys = varying + [state["group"][3:]] if state["group"].startswith("hp:") else varying
    for r in runs:  # the browser regroups on its own when the group control changes
        r["group_hparams"] = {k: r["hparams"][k] for k in keys if k in r["hparams"]}
        r["auto_label"] = labels[config_key(r["hparams"])]
    return {"runs": runs, "missing": missing, "metrics": names, "groups": groups, "state": state,
            "varying": varying, "axes": AXES, "points": viewer().config["VIEWER_POINTS"],
            "lower_pattern": LOWER_IS_BETTER, "lower": {n: lower_is_better(n) for n in names},
            "max_smooth": MAX_SMOOTH, "max_clipq": MAX_CLIPQ}
