"""What leaves with the selected runs: their folders' absolute paths (``/api/paths``, for the
clipboard) and every point of every one of them in one long CSV (``/api/export.csv``)."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from .. import glue
from ..csvlong import attachment, cell, long_lines
from ...data.cooperative import Turns
from ...data.errors import BadRequest, NotFound
from ...views.args import ids as ids_from, partition_known
from ...views.current import store

bp = glue.answer_json(Blueprint("export", __name__))


def asked_runs():
    """The known run ids of ``run=<id>`` (repeatable) and ``runs=<id>,<id>``; 400 with none
    asked, 404 naming the unknown ones (an export that silently lacks a run would mislead)."""
    asked = ids_from(request.args, whole=("run",), commas=("runs",))
    if not asked:
        raise BadRequest("no runs: pass run=<id> (repeatable) or runs=<id>,<id>")
    known, missing = partition_known(asked, store().has)
    if missing:
        raise NotFound("unknown runs: " + ", ".join(missing))
    return known


@bp.get("/api/paths")
def paths():
    """``{"paths": [{"id", "path"}]}``: each run folder's absolute path on the server, in the
    order asked (whoever may load a page may already read them under ``/files/``)."""
    s = store()
    return jsonify(paths=[{"id": rid, "path": s.get(rid, refresh=False).path} for rid in asked_runs()])


@bp.get("/api/export.csv")
def export_csv():
    """Every point of every asked run at full resolution, long format:
    ``run,metric,step,epoch,time,value``; one run parsed at a time, streamed with turns."""
    ids, s, turns = asked_runs(), store(), Turns()

    def generate():
        yield "run,metric,step,epoch,time,value\n"
        for rid in ids:
            try:
                columns = s.metrics_columns(rid)
            except NotFound:   # deleted since the request began: the rest still comes
                continue
            yield from long_lines(columns, lead=cell(rid) + ",", turns=turns)
            del columns

    name = ids[0].replace("/", "_") + "-metrics.csv" if len(ids) == 1 else f"{len(ids)}-runs-metrics.csv"
    return Response(generate(), mimetype="text/csv", headers={"Content-Disposition": attachment(name)})

