"""The JSON API (see the HTTP contract in docs/api.md). Routes parse the request and ask the store."""
from __future__ import annotations

import os

from flask import Blueprint, Response, jsonify, request

from .. import glue
from ...data.errors import NotFound
from ...data.store import MAX_POINTS
from ...data.tailing import clamp_window
from ...views.current import store, viewer
from ...views.overview import runs_context
from ...views.runpage import media_context, run_context, stream_json
from ..csvlong import attachment, long_lines
from ..streaming import json_response

bp = glue.answer_json(Blueprint("api", __name__))

SUFFIXES = ("metrics.csv", "metrics", "logs", "media")


def resolve(path):
    """Split ``<run id>[/<action>[/<stream>]]`` using the known run ids (ids may hold slashes)."""
    s = store()
    if s.has(path):
        return path, None, None
    for suffix in SUFFIXES:
        if path.endswith("/" + suffix) and s.has(path[: -len(suffix) - 1]):
            return path[: -len(suffix) - 1], suffix, None
    head, sep, n = path.rpartition("/media/")
    if sep and n.isdigit() and len(n) < 10 and s.has(head):
        return head, "media", n
    i = path.rfind("/logs/")
    while i > 0:
        rid, stream = path[:i], path[i + 6:]
        if s.has(rid) and stream and "/" not in stream:
            return rid, "log", stream
        i = path.rfind("/logs/", 0, i)
    raise NotFound(f"unknown run: {path}")


@bp.get("/api/runs")
def runs():
    """Every matching run (newest first), or one page of them with ``page``/``per``; the same
    query parameters as the overview (see ``runquery``). A bad one is a 400."""
    ctx = runs_context(args=request.args, strict=True)
    return json_response({k: ctx[k] for k in ("runs", "scan", "total", "matched", "page", "pages")})


@bp.get("/api/runs/<path:path>")
def run_path(path):
    rid, action, stream = resolve(path)
    if action is None:
        data = run_context(rid)
        data.pop("path")
        return jsonify(data)
    if action == "metrics":
        names = glue.list_arg("names", strip=False) or None
        return json_response(store().metrics(
            rid, names=names, points=glue.int_arg("points", viewer().config["VIEWER_POINTS"], 1, MAX_POINTS),
            x=request.args.get("x", "step"), start=glue.float_arg("start"), end=glue.float_arg("end"),
            xscale=request.args.get("xscale", "linear"), coarse_ok=glue.flag_arg("coarse"),
            xmetric=request.args.get("xmetric") or None))
    if action == "metrics.csv":
        return metrics_csv(rid)
    if action == "logs":
        return jsonify(streams=[stream_json(st) for st in store().streams(rid)])
    if action == "media" and stream is None:
        return json_response({"media": media_context(rid)})
    if action == "media":  # /media/<n>: an image inside a file (a TensorBoard event file)
        data, mimetype = store().media_blob(rid, int(stream))
        resp = Response(data, mimetype=mimetype)
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Content-Security-Policy"] = "sandbox"
        resp.headers["Cache-Control"] = "no-cache"
        return resp
    # the window is clamped to MAX_LOG_WINDOW and sent in chunks that yield to other greenlets
    nbytes = clamp_window(glue.int_arg("bytes", viewer().config["VIEWER_LOG_BYTES"], 1, 1 << 30))
    start, size, chunks = store().log_window(rid, stream, nbytes)
    resp = Response(chunks, mimetype="text/plain", direct_passthrough=True)
    resp.headers["X-Log-Start"] = str(start)
    resp.headers["X-Log-Size"] = str(size)
    return resp


def metrics_csv(rid):
    """Every point at full resolution, long format: metric,step,epoch,time,value."""
    columns = store().metrics_columns(rid)

    def generate():
        yield "metric,step,epoch,time,value\n"
        yield from long_lines(columns)

    return Response(generate(), mimetype="text/csv",
                    headers={"Content-Disposition": attachment(rid.replace("/", "_") + "-metrics.csv")})


@bp.get("/healthz")
def healthz():
    """200 while serving; ``ok`` is false while the watcher loop is down or the root is missing."""
    v = viewer()
    v.watcher.check()  # a second line behind the supervisor thread
    w = v.watcher.state()
    background = v.config["VIEWER_BACKGROUND"]
    return jsonify(ok=(w["alive"] or not background) and not w["problem"], watcher=w["kind"],
                   watcher_reason=w["reason"], problem=w["problem"], watcher_alive=w["alive"],
                   watcher_restarts=w["restarts"], watcher_last_failure=w["last_failure"],
                   inotify_restarts=w["inotify_restarts"],
                   watcher_role=w["role"], pid=os.getpid(),  # which worker answered, and its part
                   runs=v.store.count(), scan=v.store.scan_state, streams=v.bus.count(),
                   memory=v.store.budget.state(),  # parsed series against VIEWER_MEMORY_MB
                   cache={**v.cache.state(),  # VIEWER_CACHE_DIR, or why there is none
                          "columns": v.store.columns.state() if v.store.columns else None},
                   alerts=v.alerts.health() if v.alerts is not None else None)  # rules, state, webhook
