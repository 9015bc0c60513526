"""The compare view: ``/compare?run=a&run=b`` (overlay charts, a side-by-side table, a scatter)
and its JSON twin ``/api/compare``, both built by ``viewer.views.comparison.compare_context``."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, jsonify, request, url_for

from .. import glue
from ...data.numbers import nonfinite_to_null
from ...views.charts import chart_context
from ...views.comparison import compare_context, sections
from ...views.params import params_context

bp = Blueprint("compare", __name__)

OWN = ("run", "runs", "tab", "diff", "sort", "sx", "sy", "slx", "sly")   # other params pass through
API_FIELDS = ("runs", "missing", "dropped", "messages", "rows", "differing", "sort", "desc", "scatter")


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
    return glue.render_page("tailboard/compare.html", "tailboard/partials/_compare_body.html", **extra)


@bp.get("/api/compare")
@glue.json_errors
def api():
    """The table (and scatter) data as JSON (non-finite numbers as null, as the metrics API
    gives them); 400/404 ``{"error"}`` for bad input."""
    ctx = compare_context(request.args, strict=True)
    return jsonify(nonfinite_to_null({k: ctx[k] for k in API_FIELDS}))


@bp.get("/api/compare/params")
@glue.json_errors
def params():
    """Per run its hparams and each metric's last and best value, for parallel coordinates."""
    return jsonify(nonfinite_to_null(params_context(request.args)))
