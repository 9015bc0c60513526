"""Files of the runs folder (media, HTML reports, plots) under ``/files/<path>``.

Only regular files inside the root are served, whatever the path says; werkzeug's
``send_file`` streams them in chunks and answers ETag, Last-Modified, 304 and byte ranges.
HTML is user content: it is sandboxed so a report's script cannot use the viewer's origin.
"""
from __future__ import annotations

import mimetypes

from flask import Blueprint, jsonify, send_file

from ..context import store
from ..errors import ViewerError

bp = Blueprint("files", __name__)

SANDBOX = "sandbox allow-scripts allow-popups allow-forms"


@bp.errorhandler(ViewerError)
def viewer_error(e):
    return jsonify(error=e.message), e.code


@bp.get("/files/<path:relpath>")
def serve(relpath):
    path = store().file_path(relpath)
    mimetype = mimetypes.guess_type(path)[0] or "application/octet-stream"
    resp = send_file(path, mimetype=mimetype, conditional=True, etag=True, max_age=0)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    if mimetype in ("text/html", "image/svg+xml", "application/xhtml+xml"):
        resp.headers["Content-Security-Policy"] = SANDBOX
    return resp
