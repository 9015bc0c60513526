"""HTML pages, and the htmx fragments they are made of (a fragment when ``HX-Request`` is set)."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, g, request

from .. import glue
from ...views import runquery, runtable
from ...views.charts import chart_context
from ...views.current import viewer
from ...views.overview import activity_context, columns_context, rows_context, runs_context
from ...views.runpage import log_context, media_panel_context, rank_view, run_context
from ..streaming import template_response

bp = Blueprint("pages", __name__)

TABS = ("charts", "logs", "media", "config")


@bp.app_context_processor
def watcher_state():
    def tailboard_watcher():
        w = viewer().watcher
        return {"kind": w.kind, "reason": w.reason, "problem": w.problem}
    return {"tailboard_watcher": tailboard_watcher,
            "tailboard_event_id": lambda: g.get("tailboard_event_id") or viewer().bus.last_id()}


@bp.app_context_processor
def runs_table_helpers():
    """For the row template rendered alone (the live ``row`` event gets a bare RUN dict and the
    key metric names): derive what the table would have passed."""
    return {"tb_row_view": runtable.row_view, "tb_metric_cols": runquery.metric_columns}


@bp.get("/")
def index():
    """The overview: the runs table after the query in the URL (see ``runquery``), paginated."""
    ctx = runs_context(args=request.args, paginate=True)
    return glue.render_page("tailboard/index.html", "tailboard/partials/_runs_table.html", **ctx)


@bp.get("/runs/<path:run_id>")
def run(run_id):
    tab = request.args.get("tab", "charts")
    if tab not in TABS:
        tab = "charts"
    # tab links keep the view's other parameters (chart state, media compare=) for the way back
    keep = urlencode([(k, v) for k, v in request.args.items(multi=True) if k != "tab"])
    ctx = {"run": run_context(run_id), "tab": tab, "keep_qs": keep}
    if tab == "charts":
        ctx["charts"] = chart_context([run_id], request.args)
    elif tab == "logs":
        # only the chosen rank's streams are rendered: a hidden rank opens no websocket
        ctx["ranks"] = rank_view(ctx["run"]["logs"], request.args.get("rank"))
        ctx["keep_args"] = [(k, v) for k, v in request.args.items(multi=True) if k not in ("tab", "rank")]
        ctx["logs"] = [log_context(run_id, st["id"]) for st in ctx["ranks"]["streams"]]
    elif tab == "media":
        ctx["media"] = media_panel_context(run_id, glue.ids_arg(whole=(), commas=("compare",)))
    return glue.render_page("tailboard/run.html", "tailboard/partials/_run_body.html", **ctx)


@bp.get("/-/partials/hparams")
def hparams():
    return glue.render_page("tailboard/partials/_hparams.html", run=run_context(request.args.get("run", "")))


@bp.get("/-/partials/media")
def media():
    """The media panel alone (``run``, ``compare=a,b``): the page re-fetches it when a tag appears."""
    run_id = request.args.get("run", "")
    ctx = {"run": run_context(run_id),
           "media": media_panel_context(run_id, glue.ids_arg(whole=(), commas=("compare",)))}
    return glue.render_page("tailboard/partials/_media.html", **ctx)


@bp.get("/-/partials/log")
def log():
    """One log's tail (``run``, ``stream``, ``bytes``: 0 or absent for the page's default; at
    most ``MAX_LOG_WINDOW``): "show more". Streamed as it is rendered, yielding between pieces."""
    nbytes = glue.int_arg("bytes", 0, lo=0) or None
    ctx = log_context(request.args.get("run", ""), request.args.get("stream", ""), nbytes, lazy=True)
    resp = template_response("tailboard/partials/_log.html", run_id=request.args.get("run", ""), log=ctx)
    resp.headers["Vary"] = "HX-Request"
    return resp


@bp.get("/-/partials/activity")
def activity():
    """The overview's "Active now" and "Recent" strips (re-fetched as runs change)."""
    return glue.render_page("tailboard/partials/_activity.html", **activity_context())


@bp.get("/-/partials/columns")
def columns():
    """The runs table's column picker: the metrics and hparams of the runs the query matches."""
    return glue.render_page("tailboard/partials/_columns.html", **columns_context(request.args))


@bp.get("/-/partials/rows")
def rows():
    """Table rows of the runs named by ``run`` (repeatable) with the columns in ``cols``: the
    table fetches them when a live row update lacks a column it shows."""
    return glue.render_page("tailboard/partials/_rows.html", **rows_context(request.args))
