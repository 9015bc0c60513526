"""Files of the runs folder under ``/files/<path>``, and live reload of the HTML among them.

- A regular file is streamed by werkzeug's ``send_file`` (ETag, Last-Modified, 304, byte
  ranges, chunks: a 2 GB video is never read into memory).
- A folder gets a listing page (sortable; it re-renders itself when an entry changes).
- An HTML file gets the standard LiveReload client (``livereload.js`` from npm) injected
  before ``</body>``; ``WS /livereload`` speaks the LiveReload protocol 7 to it, or to any
  other LiveReload client, and sends ``reload`` when the page or a file it uses changes. The
  changes come from the app's one watcher, through the bus's internal file events.
- HTML and SVG are user content: ``Content-Security-Policy: sandbox`` gives them an opaque
  origin, so their scripts run but cannot use the viewer's origin (its API, its cookie).
- ``VIEWER_CORS`` (off by default) lets pages of other origins fetch files, with preflights.

Nothing outside the root is ever served: paths resolve through ``RunStore.resolve``.
"""
from __future__ import annotations

import json
import mimetypes
import os
import posixpath
import re
import stat
import time
from urllib.parse import unquote, urlsplit

from flask import Blueprint, Response, jsonify, redirect, render_template, request, send_file, url_for
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.wsgi import FileWrapper

from .. import STATIC, access
from ..bus import CLOSED
from ..context import store, viewer
from ..errors import NotFound, ViewerError
from .sock import sock

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
LIVERELOAD_JS = os.path.join(STATIC, "vendor", "livereload-js-4.0.2.min.js")
CHUNK = 256 << 10          # bytes a file is streamed by
INJECT_MAX = 32 << 20      # bigger HTML is streamed as is, without the live-reload client
LISTING_MAX = 5000         # entries shown on a listing page (sorted first, then cut)
PROTOCOL_7 = "http://livereload.com/protocols/official-7"
CSS_EXT = (".css",)
IMG_EXT = (".png", ".jpg", ".jpeg", ".gif", ".svg")   # what livereload.js refreshes in place
ASSET_EXT = CSS_EXT + IMG_EXT + (".js", ".mjs", ".webp", ".avif")
SETTLE, SETTLE_MAX = 0.02, 0.5   # a burst of writes: wait for 20 ms of quiet, at most 0.5 s

for _ext, _type in ((".mjs", "text/javascript"), (".webp", "image/webp"), (".avif", "image/avif"),
                    (".jsonl", "application/jsonl"), (".log", "text/plain"), (".out", "text/plain"),
                    (".err", "text/plain"), (".yaml", "text/yaml"), (".md", "text/markdown")):
    mimetypes.add_type(_type, _ext)


@bp.errorhandler(ViewerError)
def viewer_error(e):
    return _cors(jsonify(error=e.message)), e.code


# -- files and folders ---------------------------------------------------------------------

@bp.route("/files/", defaults={"relpath": ""}, methods=["GET", "HEAD"], provide_automatic_options=False)
@bp.route("/files/<path:relpath>", methods=["GET", "HEAD"], provide_automatic_options=False)
def serve(relpath):
    token = viewer().config["VIEWER_TOKEN"]
    via_capability = relpath.startswith("~")
    if via_capability:
        given, _, relpath = relpath.partition("/")
        if not access.has_capability(token, given[1:]):
            raise NotFound("no such file")
    path = store().resolve(relpath)
    if os.path.isdir(path):
        if relpath and not request.path.endswith("/"):  # relative links in the listing need it
            return redirect(url_for(".serve", relpath=relpath.rstrip("/") + "/"), 308)
        return listing(path, relpath.strip("/"))
    f = _open_regular(path)
    st = os.fstat(f.fileno())
    mimetype = mimetypes.guess_type(path)[0] or "application/octet-stream"
    if mimetype.startswith("text/") and mimetype not in SANDBOXED:
        mimetype += "; charset=utf-8"
    if token and not via_capability and mimetype in SANDBOXED:
        f.close()  # a report: move it where its own requests will be let through
        target = url_for(".serve", relpath=f"~{access.files_capability(token)}/{relpath}")
        query = request.query_string.decode()
        return redirect(target + ("?" + query if query else ""), 302)
    _single_range_only()
    if mimetype == "text/html" and _wants_livereload() and st.st_size <= INJECT_MAX:
        with f:
            resp = _html_with_livereload(f, st)
    else:
        resp = Response(Chunks(f), mimetype=mimetype, direct_passthrough=True)
        resp.content_length = st.st_size
        resp.last_modified = int(st.st_mtime)
        resp.set_etag(_file_stamp(st))
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
        time.sleep(0)  # under gevent (patched): let other greenlets run
        return data


def _open_regular(path):
    """Open a regular file without following a symlink nor blocking on a FIFO swapped in since
    ``resolve`` looked (a blocking open would freeze every connection of a gevent worker)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        raise NotFound("no such file") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotFound("no such file")
    return os.fdopen(fd, "rb")


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


def _wants_livereload():
    return (viewer().config["VIEWER_LIVERELOAD"] and not request.headers.get("HX-Request")
            and request.args.get("livereload") != "0")


def _html_with_livereload(f, st):
    """The page with the LiveReload client before ``</body>``; its own ETag, ranges still work."""
    body = f.read()
    stamp = _file_stamp(st)
    token = viewer().config["VIEWER_TOKEN"]
    if token:
        stamp += "~" + access.files_capability(token)  # the socket is let through with it
    prefix = viewer().url_prefix
    ws_path = f"{prefix.lstrip('/')}/livereload?v={stamp}" if prefix else f"livereload?v={stamp}"
    # port= (blank): the socket uses the page's own port, also behind a proxy
    snippet = (f'<script src="{url_for("tailboard.files.livereload_js")}?port=&amp;path={ws_path}" '
               f'async></script>').encode()
    tail = body[-65536:].lower()  # </body> ends the page; lowering 20 MB would cost 10 ms
    at = tail.rfind(b"</body")
    at = -1 if at < 0 else len(body) - len(tail) + at
    body = body + snippet if at < 0 else body[:at] + snippet + body[at:]
    resp = Response(body, mimetype="text/html")
    resp.set_etag(f"{stamp}-lr")
    resp.last_modified = int(st.st_mtime)
    return resp.make_conditional(request, accept_ranges=True, complete_length=len(body))


def _file_stamp(st):
    return f"{st.st_mtime_ns:x}-{st.st_size:x}"


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
    template = "tailboard/partials/_listing.html" if request.headers.get("HX-Request") else "tailboard/files.html"
    resp = Response(render_template(template, **ctx))
    resp.headers["Vary"] = "HX-Request"
    resp.headers["Cache-Control"] = "no-cache"
    return resp


def list_folder(path):
    """Entries of a folder under the root; symlinks leading out of it are left out."""
    root = store().root
    out = []
    try:
        it = os.scandir(path)
    except OSError as e:
        raise NotFound(f"folder unreadable: {e.strerror}") from None
    with it:
        for e in it:
            try:
                if e.is_symlink():
                    real = os.path.realpath(e.path)
                    if not (real == root or real.startswith(root + os.sep)):
                        continue
                st = e.stat()
            except OSError:
                continue
            is_dir = stat.S_ISDIR(st.st_mode)
            if not is_dir and not stat.S_ISREG(st.st_mode):
                continue  # FIFOs, sockets, devices: nothing to serve
            out.append({"name": e.name, "dir": is_dir, "size": 0 if is_dir else st.st_size,
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


# -- live reload ---------------------------------------------------------------------------

@bp.get("/-/livereload.js")
def livereload_js():
    """The vendored livereload.js, at a name it recognises its own <script> tag by."""
    return send_file(LIVERELOAD_JS, mimetype="text/javascript", conditional=True, max_age=3600)


_REF = re.compile(rb"""(?:src|href|data|poster)\s*=\s*(?:"([^"<>]*)"|'([^'<>]*)')""", re.I)


def page_references(path, url_path, chunk=1 << 20):
    """Files under the root that an HTML page refers to (src, href, data, poster attributes).

    Read in 1 MiB pieces with a yield in between: a 20 MB report (inlined plots) must not
    hold the event loop.
    """
    root = store().root
    files_prefix = viewer().url_prefix + "/files/"
    base = posixpath.dirname(url_path) + "/"
    refs = set()
    with open(path, "rb") as f:
        tail = b""
        while True:
            block = f.read(chunk)
            if not block:
                break
            text = tail + block
            for m in _REF.finditer(text):
                raw = (m.group(1) or m.group(2) or b"").decode("utf-8", "replace").strip()
                target = _local_target(raw, base, files_prefix, root)
                if target:
                    refs.add(target)
            tail = text[-2048:]
            time.sleep(0)  # under gevent (patched): let other greenlets run
    return refs


def _local_target(ref, base, files_prefix, root):
    if not ref or ref.startswith(("#", "data:", "javascript:", "mailto:")):
        return None
    parts = urlsplit(ref)
    if parts.scheme or parts.netloc:
        if parts.netloc and parts.netloc != request.host:
            return None
    url_path = posixpath.normpath(posixpath.join(base, unquote(parts.path)))
    if not url_path.startswith(files_prefix):
        return None
    target = os.path.normpath(os.path.join(root, _without_capability(url_path[len(files_prefix):])))
    return target if target.startswith(root + os.sep) else None


class Page:
    """What one LiveReload client is looking at, and what a changed path means for it."""

    def __init__(self, path, url_path):
        self.path = path
        self.url_path = url_path
        self.folder = os.path.dirname(path) + os.sep
        try:
            self.refs = page_references(path, url_path)
        except OSError:
            self.refs = set()

    def kind(self, changed):
        """'page' (reload it), 'css' or 'img' (swap in place), or None (not this page's)."""
        if changed == self.path:
            return "page"
        ext = os.path.splitext(changed)[1].lower()
        if changed not in self.refs and not (changed.startswith(self.folder) and ext in ASSET_EXT):
            return None
        if ext in CSS_EXT:
            return "css"
        if ext in IMG_EXT:
            return "img"
        return "page"  # a script, a frame, data the page names: only a reload shows it

    def url_of(self, changed):
        rel = os.path.relpath(changed, store().root).replace(os.sep, "/")
        return viewer().url_prefix + "/files/" + rel


def _without_capability(rel):
    return rel.partition("/")[2] if rel.startswith("~") else rel


def _page_for(url):
    """The Page of an ``info``/``url`` message's URL, when it is one of our files."""
    if not isinstance(url, str):
        return None
    parts = urlsplit(url)
    files_prefix = viewer().url_prefix + "/files/"
    path = unquote(parts.path)
    if not path.startswith(files_prefix):
        return None
    rel = _without_capability(path[len(files_prefix):])
    try:
        real = store().resolve(rel)
    except ViewerError:
        return None
    if not os.path.isfile(real):
        return None
    # events name paths as the watcher saw them (under the root, symlinks unresolved)
    named = os.path.normpath(os.path.join(store().root, rel))
    return Page(named, path)


def _receive_json(ws, timeout):
    raw = ws.receive(timeout=timeout)
    if raw is None:
        return None
    try:
        msg = json.loads(raw)
    except (TypeError, ValueError):
        return {"command": None, "raw": str(raw)[:80]}
    return msg if isinstance(msg, dict) else {"command": None, "raw": str(raw)[:80]}


@sock.route("/livereload", bp=bp)
def livereload(ws):
    """LiveReload protocol 7: hello both ways, then ``reload`` commands for the client's page."""
    v = viewer()
    if not v.config["VIEWER_LIVERELOAD"]:
        ws.close(reason=1008, message="live reload is off (VIEWER_LIVERELOAD=0)")
        return
    hello = _receive_json(ws, timeout=10)
    if not hello or hello.get("command") != "hello":
        ws.close(reason=1002, message="expected the LiveReload hello")
        return
    if PROTOCOL_7 not in (hello.get("protocols") or []):
        ws.close(reason=1002, message="this server speaks " + PROTOCOL_7)
        return
    ws.send(json.dumps({"command": "hello", "protocols": [PROTOCOL_7], "serverName": "tailboard"}))
    served = request.args.get("v", "").partition("~")[0] or None  # the page's stamp when served
    interest = v.watcher.interest
    page, watching = None, None
    with v.bus.subscribe(lambda e: e.audience == "_" and e.name == "file", maxsize=1024) as sub:
        try:
            while ws.connected:
                msg = _receive_json(ws, timeout=0 if page else 1.0)
                if msg and msg.get("command") in ("info", "url") and msg.get("url"):
                    page = _page_for(msg["url"])
                    if watching:
                        watching.__exit__()
                    watching = None
                    if page is not None:
                        watching = interest.watching([page.path, page.folder.rstrip(os.sep), *page.refs])
                        watching.__enter__()
                        if served and _stamp_of(page.path) not in (served, None):
                            # rewritten between our serving it and this socket: reload now
                            ws.send(_reload(page.url_path))
                        served = None
                if page is None:
                    continue
                ev = sub.get(timeout=1.0)
                if ev is CLOSED:
                    break
                if ev is None:
                    continue
                kinds = _collect(sub, page, ev)
                for command in _commands(page, kinds):
                    ws.send(command)
        finally:
            if watching:
                watching.__exit__()


def _stamp_of(path):
    try:
        return _file_stamp(os.stat(path))
    except OSError:
        return None


def _collect(sub, page, first):
    """Every change of a burst: {changed path: kind}, after 40 ms of quiet (0.5 s at most)."""
    kinds = {}
    ev, start = first, time.monotonic()
    while True:
        if ev is CLOSED:
            break
        if ev is not None:
            kind = page.kind(ev.data)
            if kind:
                kinds[ev.data] = kind
        if not kinds:
            return kinds  # not this page's: do not wait
        left = SETTLE_MAX - (time.monotonic() - start)
        if left <= 0:
            break
        ev = sub.get(timeout=min(SETTLE, left))
        if ev is None:
            break
    return kinds


def _commands(page, kinds):
    if not kinds:
        return []
    if "page" in kinds.values():
        if not os.path.isfile(page.path):
            return []  # deleted: reload when it comes back, not onto a 404
        return [_reload(page.url_path)]
    return [_reload(page.url_of(p), css=k == "css", img=k == "img") for p, k in kinds.items()]


def _reload(url_path, css=True, img=True):
    return json.dumps({"command": "reload", "path": url_path, "liveCSS": css, "liveImg": img})
