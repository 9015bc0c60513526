"""HTML pages, and the htmx fragments they are made of (a fragment when ``HX-Request`` is set)."""
from __future__ import annotations

import re
import time
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, g, make_response, render_template, request, stream_template

from ...views import runquery, runtable
from ...views.charts import chart_context
from ...views.context import (activity_context, columns_context, media_panel_context, parse_compare, rows_context,
                       run_context, runs_context, store, viewer)
from ...data.errors import ViewerError
from ...data.tailing import MAX_LOG_WINDOW, clamp_window, render_chunks

bp = Blueprint("pages", __name__)

TABS = ("charts", "logs", "media", "config")


def page(full, fragment, **ctx):
    """Render the whole page, or only its fragment for htmx; either way ``Vary: HX-Request``."""
    template = fragment if request.headers.get("HX-Request") else full
    resp = make_response(render_template(template, **ctx))
    resp.headers["Vary"] = "HX-Request"
    return resp


@bp.app_context_processor
def watcher_state():
    def tailboard_watcher():
        w = viewer().watcher
        return {"kind": w.kind, "reason": w.reason, "problem": w.problem}
    return {"tailboard_watcher": tailboard_watcher,
            "tailboard_event_id": lambda: g.get("tailboard_event_id") or viewer().bus.last_id()}


@bp.errorhandler(ViewerError)
def viewer_error(e):
    return render_template("tailboard/error.html", message=e.message, code=e.code), e.code


@bp.get("/")
def index():
    """The overview: the runs table after the query in the URL (see ``runquery``), paginated."""
    ctx = runs_context(args=request.args, paginate=True)
    if request.headers.get("HX-History-Restore-Request"):  # htmx restoring history wants the whole page
        resp = make_response(render_template("tailboard/index.html", **ctx))
        resp.headers["Vary"] = "HX-Request"
        return resp
    return page("tailboard/index.html", "tailboard/partials/_runs_table.html", **ctx)


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
        ctx["logs"] = [log_fragment_context(run_id, st["id"]) for st in ctx["run"]["logs"]]
    elif tab == "media":
        ctx["media"] = media_panel_context(run_id, parse_compare(request.args.getlist("compare")))
    return page("tailboard/run.html", "tailboard/partials/_run_body.html", **ctx)


def log_fragment_context(run_id, stream_id, nbytes=None, lazy=False):
    """A log stream's tail as HTML pieces (``html``: a list, or with ``lazy`` an iterator that
    reads and renders the window piece by piece, yielding to other greenlets: for a streamed
    response). The window is at most ``MAX_LOG_WINDOW`` bytes, whatever ``nbytes`` asks."""
    nbytes = clamp_window(nbytes or viewer().config["VIEWER_PAGE_LOG_BYTES"])
    st = store().stream(run_id, stream_id)
    try:
        start, size, chunks = store().log_window(run_id, stream_id, nbytes)
        html, error = render_chunks(chunks), None
        if not lazy:
            html = list(html)
    except ViewerError as e:
        html, start, size, error = [], 0, 0, e.message
    return {"stream": {k: v for k, v in st.items() if k != "path"}, "html": html,
            "start": start, "size": size, "error": error,
            "more": min(max(size - start, 1) * 4, MAX_LOG_WINDOW) if nbytes < MAX_LOG_WINDOW else None}


@bp.get("/-/partials/hparams")
def hparams():
    ctx = run_context(request.args.get("run", ""))
    return page("tailboard/partials/_hparams.html", "tailboard/partials/_hparams.html", run=ctx)


@bp.get("/-/partials/media")
def media():
    """The media panel alone (``run``, ``compare=a,b``): the page re-fetches it when a tag appears."""
    run_id = request.args.get("run", "")
    ctx = {"run": run_context(run_id),
           "media": media_panel_context(run_id, parse_compare(request.args.getlist("compare")))}
    return page("tailboard/partials/_media.html", "tailboard/partials/_media.html", **ctx)


@bp.get("/-/partials/log")
def log():
    """One log stream's fragment ("show more"): streamed as it is rendered, the window clamped."""
    try:
        nbytes = int(request.args.get("bytes", 0)) or None
    except ValueError:
        abort(400)
    ctx = log_fragment_context(request.args.get("run", ""), request.args.get("stream", ""), nbytes, lazy=True)
    resp = Response(stream_template("tailboard/partials/_log.html", run_id=request.args.get("run", ""), log=ctx))
    resp.headers["Vary"] = "HX-Request"
    return resp


@bp.app_template_filter("tb_num")
def tb_num(v):
    """A metric value, short: 4 significant digits, scientific when tiny or huge."""
    if v is None:
        return ""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if v != v:
        return "nan"
    if v in (float("inf"), float("-inf")):
        return "∞" if v > 0 else "-∞"
    if v == int(v) and abs(v) < 1e9:
        return str(int(v))
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e6):
        return f"{v:.3e}"
    return f"{v:.4g}"


@bp.app_template_filter("tb_time")
def tb_time(ts):
    if not ts:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


@bp.app_template_filter("tb_duration")
def tb_duration(seconds):
    if seconds is None:
        return ""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


@bp.app_template_filter("tb_ago")
def tb_ago(ts):
    if not ts:
        return ""
    return tb_duration(max(0, time.time() - ts)) + " ago"


@bp.app_template_filter("tb_bytes")
def tb_bytes(n):
    n = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


@bp.app_template_filter("tb_slug")
def tb_slug(v):
    return re.sub(r"[^A-Za-z0-9_-]", "-", str(v))


@bp.get("/-/partials/activity")
def activity():
    """The overview's "Active now" and "Recent" strips (re-fetched as runs change)."""
    ctx = activity_context()
    return page("tailboard/partials/_activity.html", "tailboard/partials/_activity.html", **ctx)


@bp.get("/-/partials/columns")
def columns():
    """The runs table's column picker: the metrics and hparams of the runs the query matches."""
    ctx = columns_context(request.args)
    return page("tailboard/partials/_columns.html", "tailboard/partials/_columns.html", **ctx)


@bp.get("/-/partials/rows")
def rows():
    """Table rows of the runs named by ``run`` (repeatable) with the columns in ``cols``: the
    table fetches them when a live row update lacks a column it shows."""
    ctx = rows_context(request.args)
    return page("tailboard/partials/_rows.html", "tailboard/partials/_rows.html", **ctx)


@bp.app_context_processor
def runs_table_helpers():
    """For the row template rendered alone (the live ``row`` event gets a bare RUN dict and the
    key metric names): derive what the table would have passed."""
    return {"tb_row_view": runtable.row_view, "tb_metric_cols": runquery.metric_columns}
