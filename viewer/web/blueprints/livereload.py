"""Live reload of the HTML under ``/files/``: the injected client and ``WS /livereload``.

HTML files get the standard LiveReload client (``livereload.js`` from npm) injected before
``</body>``; ``WS /livereload`` speaks the LiveReload protocol 7 to it, or to any other
LiveReload client, and sends ``reload`` when the page or a file it uses changes. The changes
come from the app's one watcher, through the bus's internal file events.
"""
from __future__ import annotations

import json
import mimetypes
import os
import posixpath
import re
import threading
import time
from urllib.parse import unquote, urlsplit

from flask import Blueprint, Response, request, send_file, url_for

from .. import access, glue
from ...live.bus import CLOSED
from ...views.current import store, viewer
from ...data import paths
from ...data.errors import ViewerError
from .assets import STATIC
from .sock import sock
from ...data.cooperative import turn

bp = glue.answer_json(Blueprint("livereload", __name__))

LIVERELOAD_JS = os.path.join(STATIC, "vendor", "livereload-js-4.0.2.min.js")
INJECT_MAX = 32 << 20      # bigger HTML is streamed as is, without the live-reload client
PROTOCOL_7 = "http://livereload.com/protocols/official-7"
CSS_EXT = (".css",)
IMG_EXT = (".png", ".jpg", ".jpeg", ".gif", ".svg")   # what livereload.js refreshes in place
ASSET_EXT = CSS_EXT + IMG_EXT + (".js", ".mjs", ".webp", ".avif")
SETTLE, SETTLE_MAX = 0.02, 0.5   # a burst of writes: wait for 20 ms of quiet, at most 0.5 s


INFO_BURST, INFO_EVERY = 5, 2.0  # ``info``/``url`` messages a socket may send: 5, then one per 2 s
REFS_CACHED = 64           # pages whose references are kept (by path, size and mtime)


def _capability_folder():
    """The folder of a valid, unexpired capability in ``?v=<stamp>~<capability>``, else None."""
    found = access.read_capability(request.args.get("v", "").rpartition("~")[2])
    return found[0] if found and not found[1] else None


@bp.before_request
def reports_and_same_origin_only():
    """``WS /livereload`` takes our own pages, and sandboxed reports (``Origin: null``) only
    with the capability their page was served with (then only pages of that folder).

    Any site can open a socket with ``Origin: null`` (a sandboxed iframe): without the
    capability, it could ask about files it guesses.
    """
    if request.endpoint == "tailboard.livereload.livereload" and not access.websocket_origin_ok(
            allow_null=_capability_folder() is not None):
        return access.refuse_origin()
    return None


def wanted():
    return (viewer().config["VIEWER_LIVERELOAD"] and not request.headers.get("HX-Request")
            and glue.flag_arg("livereload", True))


def inject(f, st, folder):
    """The page with the LiveReload client before ``</body>``; its own ETag, ranges still work.

    The socket URL carries a capability for the page's ``folder``: a sandboxed report's socket
    (``Origin: null``, no cookie) is let through with it, for pages of that folder only.
    """
    body = f.read()
    stamp = file_stamp(st)
    stamp += "~" + access.mint_capability(folder)
    prefix = viewer().url_prefix
    ws_path = f"{prefix.lstrip('/')}/livereload?v={stamp}" if prefix else f"livereload?v={stamp}"
    # port= (blank): the socket uses the page's own port, also behind a proxy
    snippet = (f'<script src="{url_for("tailboard.livereload.livereload_js")}?port=&amp;path={ws_path}" '
               f'async></script>').encode()
    tail = body[-65536:].lower()  # </body> ends the page; lowering 20 MB would cost 10 ms
    at = tail.rfind(b"</body")
    at = -1 if at < 0 else len(body) - len(tail) + at
    body = body + snippet if at < 0 else body[:at] + snippet + body[at:]
    resp = Response(body, mimetype="text/html")
    resp.set_etag(f"{stamp}-lr")
    resp.last_modified = int(st.st_mtime)
    return resp.make_conditional(request, accept_ranges=True, complete_length=len(body))


def file_stamp(st):
    return f"{st.st_mtime_ns:x}-{st.st_size:x}"


@bp.get("/-/livereload.js")
def livereload_js():
    """The vendored livereload.js, at a name it recognises its own <script> tag by."""
    return send_file(LIVERELOAD_JS, mimetype="text/javascript", conditional=True, max_age=3600)


_VALUE = re.compile(rb"""=\s*(?:"([^"<>]*)"|'([^'<>]*)')""")     # a quoted attribute value...
_NAME = re.compile(rb"(?:src|href|data|poster)\s*\Z", re.I)    # ...of one of these attributes


def _references(text):
    """The ``src``/``href``/``data``/``poster`` values of ``text``, found from each ``=``: one
    case-insensitive pattern tried at every byte cost 0.2 s a MiB, holding the worker."""
    for m in _VALUE.finditer(text):
        if _NAME.search(text, max(0, m.start() - 32), m.start()):
            yield m


def page_references(path, url_path, chunk=1 << 20):
    """Files under the root that an HTML page refers to (src, href, data, poster attributes).

    Read in 1 MiB pieces with a yield in between: a 20 MB report (inlined plots) must not
    hold the event loop.
    """
    root = store().root
    files_prefix = viewer().url_prefix + "/files/"
    base = posixpath.dirname(url_path) + "/"
    refs = set()
    # beneath the root, non-blocking, regular files only: a FIFO swapped in for the report must
    # not freeze the worker, nor a symlink swapped in lead out of the root
    with paths.open_regular(path, within=root) as f:
        tail = b""
        while True:
            block = f.read(chunk)
            if not block:
                break
            text = tail + block
            for m in _references(text):
                raw = (m.group(1) or m.group(2) or b"").decode("utf-8", "replace").strip()
                target = _local_target(raw, base, files_prefix, root)
                if target:
                    refs.add(target)
            tail = text[-2048:]
            turn()  # under gevent: the other connections get a turn when one is due
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
    return target if paths.strictly_inside(root, target) else None


_refs_cache = {}  # (path, url path, size, mtime_ns) -> frozenset of references; insertion order = age
_refs_reading = {}  # the same keys -> an Event set when the one reader of that version is done


def cached_references(path, url_path):
    """``page_references``, read once per version of the page (path, size, mtime), however
    many clients ask at once (the first reads, the others wait for it).

    A client repeating ``info`` for a 30 MB report must not have it re-read each time.
    """
    try:
        st = os.stat(path)
    except OSError:
        return frozenset()
    if st.st_size > INJECT_MAX:
        return frozenset()  # served without the client: nothing to watch it for
    key = (path, url_path, st.st_size, st.st_mtime_ns)
    while key not in _refs_cache:
        reading = _refs_reading.get(key)
        if reading is not None:
            reading.wait(30)
            if key not in _refs_cache and _refs_reading.get(key) is reading:
                return frozenset()  # the reader is stuck: watch the page alone
            continue
        reading = _refs_reading[key] = threading.Event()
        try:
            refs = frozenset(page_references(path, url_path))
        except OSError:
            refs = frozenset()
        finally:
            _refs_reading.pop(key, None)
            reading.set()
        _refs_cache[key] = refs
        while len(_refs_cache) > REFS_CACHED:
            _refs_cache.pop(next(iter(_refs_cache)), None)
    return _refs_cache.get(key, frozenset())


class Page:
    """What one LiveReload client is looking at, and what a changed path means for it."""

    def __init__(self, path, url_path):
        self.path = path
        self.url_path = url_path
        self.folder = os.path.dirname(path)
        self.refs = cached_references(path, url_path)

    def kind(self, changed):
        """'page' (reload it), 'css' or 'img' (swap in place), or None (not this page's)."""
        if changed == self.path:
            return "page"
        ext = os.path.splitext(changed)[1].lower()
        if changed not in self.refs and not (paths.strictly_inside(self.folder, changed) and ext in ASSET_EXT):
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


def _page_for(url, scope=None):
    """The Page of an ``info``/``url`` message's URL, when it is one of our HTML files (under the
    folder ``scope`` when the socket came in with a capability)."""
    if not isinstance(url, str):
        return None
    parts = urlsplit(url)
    files_prefix = viewer().url_prefix + "/files/"
    path = unquote(parts.path)
    if not path.startswith(files_prefix):
        return None
    rel = _without_capability(path[len(files_prefix):])
    if mimetypes.guess_type(rel)[0] != "text/html":
        return None  # only pages get the client; any other file is nobody's page
    if scope is not None and access.folder_refusal(scope, rel):
        return None
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
    scope = _capability_folder()  # a report's socket: pages of its folder only
    allowance, refilled = float(INFO_BURST), time.monotonic()
    interest = v.watcher.interest
    page, watching = None, None
    with v.bus.subscribe(lambda e: e.audience == "_" and e.name == "file", maxsize=1024) as sub:
        try:
            while ws.connected:
                msg = _receive_json(ws, timeout=0 if page else 1.0)
                if msg and msg.get("command") in ("info", "url") and msg.get("url"):
                    now = time.monotonic()
                    allowance = min(INFO_BURST, allowance + (now - refilled) / INFO_EVERY)
                    refilled = now
                    if allowance < 1:
                        ws.close(reason=1008, message=f"too many info messages: one per {INFO_EVERY:g} s")
                        break
                    allowance -= 1
                    page = _page_for(msg["url"], scope)
                    if watching:
                        watching.__exit__()
                    watching = None
                    if page is not None:
                        watching = interest.watching([page.path, page.folder, *page.refs])
                        watching.__enter__()
                        if served and _stamp_of(page.path) not in (served, None):
                            # rewritten between our serving it and this socket: reload now
                            ws.send(_reload(page.url_path))
                        served = None
                if page is None or msg is not None:
                    continue  # read all the client sent before waiting on changes
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
        return file_stamp(os.stat(path))
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
