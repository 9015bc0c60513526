"""Alert rules: the built-in ones and the user's, read from the ``VIEWER_ALERTS`` file.

The file is TOML (``.toml``) or YAML (anything else), outside the runs folder::

    [builtin]                 # on by default: nan, diverge, failed, stalled; off: completed
    completed = true
    diverge = { k = 3.0, warmup = 20, smooth = 0.6, match = "loss" }

    [[rule]]
    name = "accuracy reached"         # optional; the rule's id (else its condition)
    when = "val/acc >= 0.9"           # <metric> <op> <value>; op: > >= < <= == !=
    for = 3                           # consecutive points (or "... for 3 consecutive points")
    runs = "f=tag:baseline&q=resnet"  # the overview's query (its URL's), or a list of chips

A rule that cannot be read is named in ``RuleSet.errors`` (the alerts page, the log) and left
out; the others keep working. Scopes are compiled by a function the top level hands in
(the runs table's query language lives in ``views``, above this layer).
"""
from __future__ import annotations

import fnmatch
import math
import os
import re
import tomllib
from dataclasses import dataclass, field

import yaml

STATUS_KINDS = {"failed": "failed", "stalled": "stalled", "completed": "completed"}
BUILTIN_ON = {"nan": True, "diverge": True, "failed": True, "stalled": True, "completed": False}
BUILTIN_TITLES = {
    "nan": "a metric turned NaN or ±inf",
    "diverge": "a loss diverged",
    "failed": "the run failed",
    "stalled": "the run stalled",
    "completed": "the run completed",
}
DIVERGE_DEFAULTS = {"k": 3.0, "warmup": 20, "smooth": 0.6, "match": "loss"}
OPS = {">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b,
       "<=": lambda a, b: a <= b, "==": lambda a, b: a == b, "=": lambda a, b: a == b,
       "!=": lambda a, b: a != b}
WHEN = re.compile(r"^\s*(?P<metric>.+?)\s*(?P<op>>=|<=|==|!=|>|<|=)\s*(?P<value>[^\s]+)"
                  r"(?:\s+for\s+(?P<n>\d+)(?:\s+consecutive)?(?:\s+points?)?)?\s*$", re.I)
MAX_RULES = 1000


@dataclass
class Rule:
    """One rule. ``kind``: nan | diverge | failed | stalled | completed | threshold."""

    id: str
    kind: str
    title: str
    scope: str = ""                 # the runs it watches, as written ("" = every run)
    match: object = None            # RUN dict -> bool, or None for every run
    metric: str = ""                # threshold: the metric (a glob with * ? [)
    op: str = ""
    value: float = math.nan
    for_n: int = 1
    params: dict = field(default_factory=dict)  # diverge: k, warmup, smooth, match

    @property
    def on_points(self):
        return self.kind in ("nan", "diverge", "threshold")

    def metric_matches(self, name):
        if self.kind == "threshold":
            if any(c in self.metric for c in "*?["):
                return fnmatch.fnmatchcase(name, self.metric)
            return name == self.metric
        if self.kind == "diverge":
            return self.params["match"] in name.lower()
        return True

    def holds(self, v):
        """Threshold: the point meets the condition."""
        return OPS[self.op](v, self.value)

    def describe(self):
        if self.kind == "threshold":
            text = f"{self.metric} {self.op} {self.value:g}"
            return text + (f" for {self.for_n} consecutive points" if self.for_n > 1 else "")
        if self.kind == "diverge":
            p = self.params
            return (f"smoothed '{p['match']}' metric over {p['k']:g}× its best so far "
                    f"(after {p['warmup']} points)")
        return BUILTIN_TITLES[self.kind]


@dataclass
class RuleSet:
    rules: list
    errors: list
    path: str | None = None

    def by_id(self):
        return {r.id: r for r in self.rules}


def read_file(path):
    """The parsed document: TOML for ``.toml``, else YAML. Raises ValueError with the reason."""
    try:
        with open(path, "rb") as f:  # the rules file is the user's config, outside the runs folder
            data = f.read()
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        if path.lower().endswith(".toml"):
            return tomllib.loads(data.decode("utf-8"))
        return yaml.safe_load(data) or {}
    except (tomllib.TOMLDecodeError, yaml.YAMLError, UnicodeDecodeError) as e:
        raise ValueError(f"{os.path.basename(path)} cannot be read: {e}") from None


def load(path, compile_scope=None):
    """The RuleSet of ``path`` (None: the built-in defaults alone). Never raises."""
    errors = []
    doc = {}
    if path:
        try:
            doc = read_file(path)
        except ValueError as e:
            errors.append(str(e))
        if not isinstance(doc, dict):
            errors.append(f"{os.path.basename(path)}: expected a table of `builtin` and `rule`")
            doc = {}
    rules = _builtins(doc.get("builtin") or {}, errors, compile_scope)
    users = doc.get("rule", doc.get("rules")) or []
    if not isinstance(users, list):
        errors.append("`rule` must be a list of rules ([[rule]] in TOML, `rules:` list in YAML)")
        users = []
    seen = {r.id for r in rules}
    for i, spec in enumerate(users[:MAX_RULES], 1):
        try:
            rule = user_rule(spec, compile_scope)
        except ValueError as e:
            label = spec.get("name") or spec.get("when") if isinstance(spec, dict) else None
            errors.append(f"rule {i}{f' ({label!r})' if label else ''}: {e}")
            continue
        if rule.id in seen:
            errors.append(f"rule {i} ({rule.id!r}): another rule has this name; give it a `name`")
            continue
        seen.add(rule.id)
        rules.append(rule)
    if len(users) > MAX_RULES:
        errors.append(f"only the first {MAX_RULES} rules are used")
    return RuleSet(rules, errors, path)


def _builtins(spec, errors, compile_scope):
    if not isinstance(spec, dict):
        errors.append("`builtin` must be a table")
        spec = {}
    for key in spec:
        if key not in BUILTIN_ON:
            errors.append(f"builtin: unknown rule {key!r} (known: {', '.join(BUILTIN_ON)})")
    out = []
    for kind, on in BUILTIN_ON.items():
        conf = spec.get(kind, on)
        if isinstance(conf, dict):
            conf = dict(conf)
            on = bool(conf.pop("enabled", True))
        elif isinstance(conf, bool):
            on, conf = conf, {}
        else:
            errors.append(f"builtin {kind}: expected true, false or a table")
            conf = {}
        if not on:
            continue
        rule = Rule(id=kind, kind=kind, title=BUILTIN_TITLES[kind])
        try:
            _set_scope(rule, conf.pop("runs", None), compile_scope)
            if kind == "diverge":
                rule.params = _diverge_params(conf)
            elif conf:
                raise ValueError(f"unknown setting(s) {', '.join(map(repr, conf))}")
        except ValueError as e:
            errors.append(f"builtin {kind}: {e} (the defaults are used)")
            rule = Rule(id=kind, kind=kind, title=BUILTIN_TITLES[kind],
                        params=dict(DIVERGE_DEFAULTS) if kind == "diverge" else {})
        out.append(rule)
    return out


def _diverge_params(conf):
    p = dict(DIVERGE_DEFAULTS)
    for key, v in conf.items():
        if key not in p:
            raise ValueError(f"unknown setting {key!r} (known: {', '.join(p)})")
        p[key] = v
    try:
        p["k"], p["warmup"], p["smooth"] = float(p["k"]), int(p["warmup"]), float(p["smooth"])
    except (TypeError, ValueError):
        raise ValueError("k, smooth must be numbers, warmup a whole number") from None
    if not (p["k"] > 1 and p["warmup"] >= 0 and 0 <= p["smooth"] < 1):
        raise ValueError("needs k > 1, warmup >= 0 and 0 <= smooth < 1")
    p["match"] = str(p["match"]).lower()
    return p


def user_rule(spec, compile_scope=None):
    """One ``[[rule]]`` table as a Rule; ValueError says what is wrong."""
    if isinstance(spec, str):
        spec = {"when": spec}
    if not isinstance(spec, dict):
        raise ValueError("expected a table with `when`")
    spec = dict(spec)
    when = spec.pop("when", None)
    if not isinstance(when, str) or not when.strip():
        raise ValueError("needs `when = \"<metric> <op> <value>\"`, e.g. \"val/acc >= 0.9\"")
    m = WHEN.match(when)
    if not m:
        raise ValueError(f"cannot read {when!r}: write <metric> <op> <value> with op one of > >= < <= == !=")
    try:
        value = float(m["value"])
    except ValueError:
        raise ValueError(f"{m['value']!r} is not a number") from None
    n = spec.pop("for", None)
    n = int(m["n"]) if m["n"] else n if n is not None else 1
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError("`for` must be a whole number of points, 1 or more")
    name = spec.pop("name", None)
    if name is not None and not (isinstance(name, str) and name.strip()):
        raise ValueError("`name` must be a non-empty string")
    rule = Rule(id=f"rule:{(name or when).strip()}", kind="threshold", title=(name or when).strip(),
                metric=m["metric"], op=m["op"], value=value, for_n=n)
    _set_scope(rule, spec.pop("runs", None), compile_scope)
    if spec:
        raise ValueError(f"unknown key(s) {', '.join(map(repr, spec))} (known: name, when, for, runs)")
    return rule


def _set_scope(rule, runs, compile_scope):
    if runs in (None, "", []):
        return
    if not isinstance(runs, (str, list)) or (isinstance(runs, list) and not all(isinstance(c, str) for c in runs)):
        raise ValueError("`runs` must be the overview's query (\"f=tag:x&q=y\") or a list of chips")
    if compile_scope is None:
        raise ValueError("`runs` scopes are not available here")
    rule.match = compile_scope(runs)  # raises ValueError naming the bad part
    rule.scope = runs if isinstance(runs, str) else " ".join(runs)
