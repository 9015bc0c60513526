"""Files of the runs folder under ``/files/<path>``.

- A regular file is streamed in seekable chunks (ETag, Last-Modified, 304, one byte range: a
  2 GB video is never read into memory, a seek does not read up to the offset).
- A folder gets a listing page (sortable; it re-renders itself when an entry changes).
- An HTML file gets the LiveReload client (``livereload.py``: injection and ``WS /livereload``).
- Every active type (HTML, SVG, XML...) is user content: ``Content-Security-Policy: sandbox``
  gives it an opaque origin, so its scripts run but cannot use the viewer's (API, cookie).
- ``VIEWER_CORS`` (off by default) lets pages of other origins fetch files, with preflights.

Nothing outside the root is ever served: paths resolve through ``RunStore.resolve``.
"""
from __future__ import annotations

import mimetypes
import os
import posixpath
import re
import stat

from flask import Blueprint, Response, jsonify, redirect, request, url_for
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.wsgi import FileWrapper

from .. import access, glue, security
from ...data import paths
from ...data.errors import NotFound, ViewerError
from ...views.current import store, viewer
from . import livereload
from ...data.cooperative import turn

bp = Blueprint("files", __name__)

SANDBOX = "sandbox allow-scripts allow-popups allow-forms"
SANDBOXED = ("text/html", "image/svg+xml", "application/xhtml+xml")  # no charset added to these
# types a browser shows without running anything; every other type is sandboxed (XML runs
# script through the XHTML namespace, XSLT too). PDF is left out: its viewer refuses a sandbox.
PASSIVE = frozenset(("image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp",
                     "image/x-icon", "image/vnd.microsoft.icon", "image/tiff", "video/mp4", "video/webm",
                     "video/ogg", "video/quicktime", "audio/mpeg", "audio/ogg", "audio/wav", "audio/x-wav",
                     "audio/webm", "audio/flac", "application/pdf", "text/css; charset=utf-8",
                     "text/javascript; charset=utf-8", "text/plain; charset=utf-8",
                     "text/csv; charset=utf-8", "application/json", "application/jsonl",
                     "application/octet-stream", "text/markdown; charset=utf-8",
                     "text/yaml; charset=utf-8", "text/tab-separated-values; charset=utf-8"))
# what a page may load as code: the page CSP allows 'self', and files are 'self' too
CODE_DESTS = frozenset(("script", "style", "worker", "sharedworker", "serviceworker", "audioworklet",
                        "paintworklet", "xslt"))
CHUNK = 256 << 10          # bytes a file is streamed by
LISTING_MAX = 5000         # entries shown on a listing page (sorted first, then cut)
for _ext, _type in ((".mjs", "text/javascript"), (".webp", "image/webp"), (".avif", "image/avif"),
                    (".jsonl", "application/jsonl"), (".log", "text/plain"), (".out", "text/plain"),
                    (".err", "text/plain"), (".yaml", "text/yaml"), (".md", "text/markdown")):
    mimetypes.add_type(_type, _ext)


# -- files and folders ---------------------------------------------------------------------

@bp.route("/files/", defaults={"relpath": ""}, methods=["GET", "HEAD"], provide_automatic_options=False)
@bp.route("/files/<path:relpath>", methods=["GET", "HEAD"], provide_automatic_options=False)
def serve(relpath):
    token = viewer().config["VIEWER_TOKEN"]
    via_capability = relpath.startswith("~")
    if via_capability:
        given, _, relpath = relpath.partition("/")
        refused = access.capability_refusal(given[1:], relpath)  # its folder only, 12 hours
        if refused:
            raise ViewerError(*refused)
    path = store().resolve(relpath)
    if os.path.isdir(path):
        if relpath and not request.path.endswith("/"):  # relative links in the listing need it
            return redirect(url_for(".serve", relpath=relpath.rstrip("/") + "/"), 308)
        return listing(path, relpath.strip("/"))
    _not_as_code_of_our_pages()
    f = _open_regular(path)
    st = os.fstat(f.fileno())
    mimetype = mimetypes.guess_type(path)[0] or "application/octet-stream"
    if mimetype.startswith("text/") and mimetype not in SANDBOXED:
        mimetype += "; charset=utf-8"
    if token and not via_capability and mimetype in SANDBOXED:
        f.close()  # a report: move it where its own requests will be let through
        folder = posixpath.dirname(relpath.strip("/"))  # the report's folder, and nothing else
        target = url_for(".serve", relpath=f"~{access.mint_capability(folder)}/{relpath}")
        query = request.query_string.decode()
        return redirect(target + ("?" + query if query else ""), 302)
    _single_range_only()
    if mimetype == "text/html" and livereload.wanted() and st.st_size <= livereload.INJECT_MAX:
        with f:
            resp = livereload.inject(f, st, posixpath.dirname(relpath.strip("/")))
    else:
        resp = Response(Chunks(f), mimetype=mimetype, direct_passthrough=True)
        resp.content_length = st.st_size
        resp.last_modified = int(st.st_mtime)
        resp.set_etag(livereload.file_stamp(st))
        try:
            resp = resp.make_conditional(request, accept_ranges=True, complete_length=st.st_size)
        except RequestedRangeNotSatisfiable:
            f.close()
            raise
    resp.headers["Cache-Control"] = "no-cache"  # revalidate (a 304) every time: runs rewrite files
    resp.headers["X-Content-Type-Options"] = "nosniff"
    if mimetype not in PASSIVE:
        # an active type (HTML, SVG, any XML, unknown) must not run on the viewer's origin
        resp.headers["Content-Security-Policy"] = SANDBOX
    security.user_file()  # not the page policy, and no frame-ancestors: reports frame each other
    return _cors(resp)


class Chunks(FileWrapper):
    """A file streamed in 256 KiB chunks, yielding to other greenlets after each one.

    Not the server's ``wsgi.file_wrapper``: gunicorn's cannot seek, so werkzeug reached a byte
    range (a video seek) by reading the file from its start, holding the worker meanwhile.
    This one seeks; and a big download no longer starves the worker's other connections.
    """

    def __init__(self, f):
        super().__init__(f, CHUNK)

    def __next__(self):
        data = super().__next__()
        turn()  # under gevent: the other connections get a turn when one is due
        return data


def _not_as_code_of_our_pages():
    """Refuse a file that one of the viewer's own pages loads as script or style.

    No viewer page ever does; only injected markup would. A sandboxed report loading its own
    scripts has an opaque origin, so its requests say ``Sec-Fetch-Site: cross-site``.
    """
    if (request.headers.get("Sec-Fetch-Site") == "same-origin"
            and request.headers.get("Sec-Fetch-Dest") in CODE_DESTS):
        raise ViewerError("files of the runs folder are not loaded as code by the viewer's pages", 403)


def _open_regular(path):
    """Open a regular file beneath the root (``data/paths.py``: component by component, no
    symlink followed out, no FIFO blocking), whatever was swapped in since ``resolve`` looked."""
    try:
        return paths.open_regular(path, within=store().root)
    except (OSError, ValueError):
        raise NotFound("no such file") from None


_ONE_RANGE = re.compile(r"\s*bytes\s*=\s*(\d+-\d*|-\d+)\s*")


def _single_range_only():
    """Serve one byte range; anything else (several ranges, another unit) gets the whole file.

    werkzeug answers 416 to several satisfiable ranges and to unknown units; HTTP says a 200
    is right for both (RFC 9110, 14.2), and browsers only ever ask for one range.
    """
    value = request.headers.get("Range")
    if value is not None and not _ONE_RANGE.fullmatch(value):
        request.environ.pop("HTTP_RANGE", None)
        request.__dict__.pop("range", None)


def listing(path, rel):
    """A folder's entries: folders first, sortable by name, size or time; live."""
    sort = request.args.get("sort", "name")
    sort = sort if sort in ("name", "size", "mtime") else "name"
    order = "desc" if request.args.get("order") == "desc" else "asc"
    entries = list_folder(path)
    key = {"name": lambda e: e["name"].lower(), "size": lambda e: e["size"],
           "mtime": lambda e: e["mtime"]}[sort]
    files = sorted((e for e in entries if not e["dir"]), key=key, reverse=order == "desc")
    dirs = sorted((e for e in entries if e["dir"]), key=key if sort != "size" else (lambda e: e["name"].lower()),
                  reverse=order == "desc" and sort != "size")
    shown = (dirs + files)[:LISTING_MAX]
    crumbs, acc = [], ""
    for part in [p for p in rel.split("/") if p]:
        acc += part + "/"
        crumbs.append((part, acc))
    ctx = {"rel": rel, "crumbs": crumbs, "entries": shown, "total": len(entries), "sort": sort,
           "order": order, "cut": len(entries) > LISTING_MAX}
    if request.args.get("format") == "json":
        return _cors(jsonify(path=rel, total=len(entries), entries=shown))
    resp = glue.render_page("tailboard/files.html", "tailboard/partials/_listing.html", **ctx)
    resp.headers["Cache-Control"] = "no-cache"
    return resp


def list_folder(path):
    """Entries of a folder under the root, listed beneath it (``data/paths.py``); symlinks
    leading out of it are left out."""
    out = []
    try:
        entries = paths.scandir(store().root, path)
    except (OSError, ValueError) as e:
        raise NotFound(f"folder unreadable: {getattr(e, 'strerror', None) or e}") from None
    for name, st in entries:
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            continue  # bytes that are not UTF-8: no URL can name the entry, so it is not listed
        is_dir = stat.S_ISDIR(st.st_mode)
        if not is_dir and not stat.S_ISREG(st.st_mode):
            continue  # FIFOs, sockets, devices: nothing to serve
        out.append({"name": name, "dir": is_dir, "size": 0 if is_dir else st.st_size,
                    "mtime": st.st_mtime})
    return out


# -- CORS (opt-in) -------------------------------------------------------------------------

def _allowed_origin():
    """The origin to echo in Access-Control-Allow-Origin, or None (CORS off / not listed)."""
    setting = viewer().config["VIEWER_CORS"]
    origin = request.headers.get("Origin")
    if not setting or not origin:
        return None
    allowed = [o.strip().rstrip("/") for o in setting.split(",") if o.strip()]
    if "*" in allowed:
        return "*"
    return origin if origin.rstrip("/") in allowed else None


def _cors(resp):
    origin = _allowed_origin()
    if origin:
        resp.headers["Access-Control-Allow-Origin"] = origin
        resp.headers["Access-Control-Expose-Headers"] = (
            "Content-Length, Content-Range, Accept-Ranges, ETag, Last-Modified")
    if viewer().config["VIEWER_CORS"]:
        resp.vary.add("Origin")
    return resp


glue.answer_json(bp, finish=_cors)  # errors: JSON, with the CORS headers a fetch needs to read them


@bp.route("/files/", defaults={"relpath": ""}, methods=["OPTIONS"])
@bp.route("/files/<path:relpath>", methods=["OPTIONS"])
def preflight(relpath):
    """CORS preflight: allowed only when VIEWER_CORS lists the asking origin (or is ``*``)."""
    if not viewer().config["VIEWER_CORS"]:
        resp = Response(status=204)
        resp.headers["Allow"] = "GET, HEAD, OPTIONS"
        return resp
    origin = _allowed_origin()
    if origin is None:
        return jsonify(error="this origin may not fetch files: see VIEWER_CORS"), 403
    resp = Response(status=204)
    resp.headers.update({
        "Allow": "GET, HEAD, OPTIONS",
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
        "Access-Control-Allow-Headers": "Range, If-None-Match, If-Modified-Since, If-Range, Authorization",
        "Access-Control-Max-Age": "600",
    })
    resp.vary.add("Origin")
    return resp
