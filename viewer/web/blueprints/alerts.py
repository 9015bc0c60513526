"""The alerts page (``/alerts``), its JSON twin (``/api/alerts``), the bell and the run badges."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from .. import glue
from ...views.alertpage import PAGE, alert_count, alerts_context, bell_context

bp = Blueprint("alerts", __name__)


@bp.app_context_processor
def bell():
    return {"tailboard_bell": bell_context}


@bp.app_template_filter("tb_alert_count")
def tb_alert_count(run_id):
    """Firings recorded for a run: a filter, so the runs table's imported row macro has it too."""
    return alert_count(run_id)


def _context():
    return alerts_context(run=request.args.get("run") or None, limit=glue.int_arg("limit", PAGE, 1, 1000),
                          after=glue.int_arg("after", None, 0))


@bp.get("/alerts")
def page():
    """Every firing, newest first (``run=<id>``: one run's), the rules and the rule errors."""
    return glue.render_page("tailboard/alerts.html", "tailboard/partials/_alerts.html", **_context())


@bp.get("/api/alerts")
@glue.json_errors
def api():
    """The alerts page as JSON (same context)."""
    return jsonify(_context())
