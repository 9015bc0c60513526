"""What the alerts page, its JSON twin and the bell show: firings with the links to their
charts, the rules in force and the ones that could not be read."""
from __future__ import annotations

import re

from flask import url_for

from .current import viewer

PAGE = 200  # firings listed (the state keeps more; ``limit`` asks for them)


def chart_url(firing):
    """The run's charts, filtered to the metric and zoomed around the step that fired."""
    args = {"tab": "charts"}
    if firing.get("metric"):
        args["metric"] = "^" + re.escape(firing["metric"]) + "$"
    step = firing.get("step")
    if step is not None:
        half = max(10.0, abs(step) * 0.05)
        args["zoom"] = f"{step - half:g},{step + half:g}"
    return url_for("tailboard.pages.run", run_id=firing["run"], **args)


def firing_view(firing):
    """A firing as pages and the API give it: with ``url``, its chart at that step."""
    return {**firing, "url": chart_url(firing)}


def rule_view(rule):
    return {"id": rule.id, "kind": rule.kind, "title": rule.title, "condition": rule.describe(),
            "runs": rule.scope or None}


def alerts_context(run=None, limit=PAGE, after=None):
    """Firings (newest first), rules, rule errors and the webhook's state; ``run``: one run's."""
    engine = viewer().alerts
    if engine is None:
        return {"enabled": False, "alerts": [], "rules": [], "errors": [], "run": run, "file": None,
                "webhook": {"configured": False}, "latest": None}
    firings = engine.state.recent(limit, run=run, after=after)
    latest = engine.state.recent(1)
    return {"enabled": True, "alerts": [firing_view(f) for f in firings],
            "rules": [rule_view(r) for r in engine.ruleset.rules], "errors": list(engine.ruleset.errors),
            "run": run, "file": engine.rules_path, "webhook": engine.health()["webhook"],
            "latest": latest[0]["id"] if latest else None}


def bell_context(limit=99):
    """The top bar's bell: the newest firing ids (the browser counts those it has not seen)."""
    engine = viewer().alerts
    if engine is None:
        return {"enabled": False, "ids": ""}
    return {"enabled": True, "ids": ",".join(str(f["id"]) for f in engine.state.recent(limit))}


def alert_count(run_id):
    """Firings recorded for a run (its badge on the row and the run page)."""
    engine = viewer().alerts
    return engine.state.count(run_id) if engine is not None else 0
