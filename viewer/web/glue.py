"""The HTTP glue every blueprint uses: errors to responses, page or htmx fragment, request
arguments, and the template filters. One implementation of each.

- :func:`install` registers the ``ViewerError`` handler once, on the whole Tailboard blueprint
  (its children inherit it), and the ``tb_*`` template filters.
- A ``ViewerError`` becomes ``{"error": message}`` JSON for the routes a program reads (the
  blueprints marked with :func:`answer_json`, the views marked with :func:`json_errors`), and
  the error page for everything else (pages and their htmx fragments).
- :func:`render_page` picks the whole page or its fragment on ``HX-Request`` (a history restore
  wants the page) and always says ``Vary: HX-Request``.
- The argument parsers raise ``BadRequest`` (a 400); the pure rules live in ``views/args.py``.
"""
from __future__ import annotations

import math
import re
import time
from decimal import ROUND_HALF_UP, Context, Decimal

from flask import current_app, jsonify, render_template, request
from markupsafe import Markup

from ..data.errors import BadRequest, ViewerError
from ..data.cooperative import Turns
from ..views import args as pure
from .streaming import json_pieces, template_response

_JSON_BLUEPRINTS = {}   # blueprint name -> finish(response) or None: its errors are JSON


# -- errors ----------------------------------------------------------------------------------

def answer_json(bp, finish=None):
    """Errors of ``bp``'s routes are JSON; ``finish(response)`` (say, CORS headers) runs on each."""
    _JSON_BLUEPRINTS[bp.name] = finish
    return bp


def json_errors(view):
    """A view (of a page blueprint) whose errors are JSON: an API twin."""
    view.tb_json_errors = True
    return view


def _json_finish():
    """(True, finish) when this request's errors are JSON, else (False, None)."""
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "tb_json_errors", False):
        return True, None
    for name in request.blueprints:  # innermost first: "tailboard.api", then "tailboard"
        short = name.rpartition(".")[2]
        if short in _JSON_BLUEPRINTS:
            return True, _JSON_BLUEPRINTS[short]
    return False, None


def viewer_error(e):
    """``ViewerError`` -> its status with JSON ``{"error"}`` or the error page."""
    as_json, finish = _json_finish()
    if not as_json:
        return render_template("tailboard/error.html", message=e.message, code=e.code), e.code
    resp = jsonify(error=e.message)
    resp.status_code = e.code
    return finish(resp) if finish else resp


def install(bp):
    """Register the error handler and the template filters on the Tailboard blueprint."""
    bp.register_error_handler(ViewerError, viewer_error)
    for name, fn in FILTERS.items():
        bp.add_app_template_filter(fn, name)


# -- page or fragment ------------------------------------------------------------------------

def wants_fragment():
    """An htmx request for part of a page; a history restore (cache miss) wants the whole page."""
    return bool(request.headers.get("HX-Request")) and not request.headers.get("HX-History-Restore-Request")


def render_page(full, fragment=None, **ctx):
    """The whole page ``full``, or its ``fragment`` for htmx; either way ``Vary: HX-Request``
    (a cache must not answer a page with a fragment). Without ``fragment``: always ``full``."""
    template = fragment if fragment and wants_fragment() else full
    resp = template_response(template, **ctx)  # in slices that yield: a 35 MB compare table took 4 s
    resp.vary.add("HX-Request")
    return resp


# -- arguments -------------------------------------------------------------------------------

def int_arg(name, default, lo=1, hi=None):
    """Query parameter ``name`` as an int in [lo, hi]; absent or blank: ``default``; else 400."""
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        v = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, not {raw!r}") from None
    if v < lo or (hi is not None and v > hi):
        raise BadRequest(f"{name} must be between {lo} and {hi}" if hi is not None else f"{name} must be at least {lo}")
    return v


def float_arg(name):
    """Query parameter ``name`` as a number (not NaN), or None when absent; else 400."""
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    try:
        v = float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a number, not {raw!r}") from None
    if math.isnan(v):
        raise BadRequest(f"{name} must be a number")
    return v


def flag_arg(name, default=False):
    """Query parameter ``name`` as a switch (see ``views.args.flag``)."""
    return pure.flag(request.args.get(name), default)


def ids_arg(whole=("run",), commas=()):
    """Run ids of the query (see ``views.args.ids``)."""
    return pure.ids(request.args, whole, commas)


def list_arg(name, strip=True):
    """The items of the comma list(s) ``name`` (``a,b``; the parameter may repeat)."""
    return pure.comma_list(request.args.getlist(name), strip=strip)


# -- template filters ------------------------------------------------------------------------

def tb_num(v):
    """A metric value, short, by the rules of ``fmt`` in static/util.js (a value reads the same
    in a server-drawn table and in a chart): "NaN", "∞", "−∞"; whole numbers below 1e9 as they
    are; tiny or huge ones as ``1.235e+7``; else 4 significant digits. Ties round away from zero,
    as JavaScript's toPrecision does."""
    if v is None:
        return ""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if v != v:
        return "NaN"
    if v in (math.inf, -math.inf):
        return "∞" if v > 0 else "−∞"
    if v == int(v) and abs(v) < 1e9:
        return str(int(v))
    d = _FOUR_DIGITS.plus(Decimal(v))
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e6):
        return format(d, ".3e")
    f = float(d)
    return str(int(f)) if f.is_integer() else repr(f)


_FOUR_DIGITS = Context(prec=4, rounding=ROUND_HALF_UP)


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


def tb_time(ts):
    """A timestamp as local ``YYYY-MM-DD HH:MM:SS``."""
    if not ts:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def tb_duration(seconds):
    """Seconds, short: ``42s``, ``3m 05s``, ``2h 07m``, ``1d 4h``."""
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


def tb_ago(ts):
    """How long ago a timestamp was (``tb_duration`` + `` ago``)."""
    if not ts:
        return ""
    return tb_duration(max(0, time.time() - ts)) + " ago"


def tb_bytes(n):
    """A size in B, KiB, MiB or GiB."""
    n = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def tb_slug(v):
    """``v`` usable in an id or a class: anything but letters, digits, ``_`` and ``-`` made ``-``."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", str(v))


_HTML_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "'": "\\u0027"})


def tb_json(obj):
    """``tojson`` for big data (a media tab of 300,000 items, a scatter of many runs): the same
    HTML-safe JSON, encoded in slices that give other connections a turn (``tojson`` is one
    call that held the worker over a second)."""
    return Markup("".join(json_pieces(obj, Turns())).translate(_HTML_SAFE))


FILTERS = {"tb_num": tb_num, "tb_cell": tb_cell, "tb_time": tb_time, "tb_duration": tb_duration,
           "tb_ago": tb_ago, "tb_bytes": tb_bytes, "tb_slug": tb_slug, "tb_json": tb_json}
