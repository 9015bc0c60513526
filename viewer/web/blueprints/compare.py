"""The compare view: ``/compare?run=a&run=b`` (overlay charts, a side-by-side table, a scatter)
and its JSON twin ``/api/compare``, both built by ``viewer.views.comparison.compare_context``."""
from __future__ import annotations

import math
from urllib.parse import urlencode

from flask import Blueprint, jsonify, make_response, render_template, request, url_for

from ...views.charts import chart_context
from ...views.comparison import compare_context, sections
from ...data.errors import ViewerError
from .pages import tb_num

bp = Blueprint("compare", __name__)

OWN = ("run", "runs", "tab", "diff", "sort", "sx", "sy", "slx", "sly")   # other params pass through
API_FIELDS = ("runs", "missing", "dropped", "messages", "rows", "differing", "sort", "desc", "scatter")


@bp.app_template_filter("tb_cell")
def tb_cell(v):
    """A table cell: numbers short (``tb_num``); text that reads as a number is quoted, so the
    string "32" is told apart from the number 32."""
    if isinstance(v, str):
        try:
            float(v)
        except ValueError:
            return v
        return f"“{v}”"
    return tb_num(v)


@bp.errorhandler(ViewerError)
def viewer_error(e):
    return render_template("tailboard/error.html", message=e.message, code=e.code), e.code


def view_state(ctx):
    """The view's URL state (what a link must carry), defaults included."""
    sc = ctx["scatter"]
    return {"run": [r for r in ctx["ids"]], "tab": ctx["tab"], "diff": ctx["diff"],
            "sort": ("-" if ctx["desc"] else "") + ctx["sort"], "sx": sc["chosen"]["x"],
            "sy": sc["chosen"]["y"], "slx": sc["log_x"], "sly": sc["log_y"]}


def state_pairs(state, args, **changes):
    """``(name, value)`` query pairs for ``state`` with ``changes``: defaults left out, the
    parameters other views own (the charts' ``x``, say) kept as they came."""
    st = {**state, **changes}
    pairs = [("run", rid) for rid in st["run"]]
    if st["tab"] != "charts":
        pairs.append(("tab", st["tab"]))
    pairs += [(k, "1") for k in ("diff", "slx", "sly") if st[k]]
    pairs += [(k, st[k]) for k in ("sort", "sx", "sy") if st[k]]
    pairs += [(k, v) for k in args if k not in OWN for v in args.getlist(k)]
    return pairs


def template_helpers(ctx, args):
    """``compare_url(**changes)`` and ``compare_hidden(*skip)`` for links and forms."""
    state = view_state(ctx)

    def compare_url(**changes):
        query = urlencode(state_pairs(state, args, **changes), safe="/,:")
        return url_for("tailboard.compare.page") + ("?" + query if query else "")

    def compare_hidden(*skip):
        return [(k, v) for k, v in state_pairs(state, args) if k not in skip]

    return {"compare_url": compare_url, "compare_hidden": compare_hidden}


@bp.get("/compare")
def page():
    """The compare page; an htmx request (not a history restore) gets the body fragment."""
    ctx = compare_context(request.args)
    extra = {"c": ctx, "sections": sections(ctx["rows"], ctx["diff"]), **template_helpers(ctx, request.args)}
    if ctx["tab"] == "charts" and ctx["runs"]:
        extra["charts"] = chart_context(ctx["ids"], request.args)
    fragment = request.headers.get("HX-Request") and not request.headers.get("HX-History-Restore-Request")
    template = "tailboard/partials/_compare_body.html" if fragment else "tailboard/compare.html"
    resp = make_response(render_template(template, **extra))
    resp.headers["Vary"] = "HX-Request"
    return resp


def _json_safe(v):
    """Non-finite numbers as null, as the metrics API gives them (JSON has no NaN)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_safe(x) for x in v]
    return v


@bp.get("/api/compare")
def api():
    """The table (and scatter) data as JSON; 400/404 ``{"error"}`` for bad input."""
    try:
        ctx = compare_context(request.args, strict=True)
    except ViewerError as e:
        return jsonify(error=e.message), e.code
    return jsonify(_json_safe({k: ctx[k] for k in API_FIELDS}))
