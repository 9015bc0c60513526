"""Websocket log follow at ``/ws/logs/<id>/<stream>``: the tail, then every appended chunk.

Messages are JSON: ``{"type": "tail"|"append"|"reset", "lines": [html], "partial": html,
"reason"}``. ``lines`` are complete lines rendered once; ``partial`` replaces the unfinished
last line (a progress bar). One writer per socket: frames from this handler and the
library's ping/pong replies go through one lock with ``sendall``, so they never interleave.
"""
from __future__ import annotations

import json
import threading

from flask import Blueprint
from flask_sock import Sock

from .. import access, glue
from ...live.bus import CLOSED
from ...views.current import store, viewer
from ...data.errors import ViewerError
from ...data.tailing import LogFollower

bp = glue.answer_json(Blueprint("sock", __name__))
sock = Sock()


@bp.before_request
def same_origin_only():
    """Refuse (403, before the upgrade) a browser socket opened by a page of another site.

    Websockets escape CORS and carry the cookie: without this, any page the user visits could
    read the logs. A sandboxed report (``Origin: null``) may not read them either.
    """
    if not access.websocket_origin_ok(allow_null=False):
        return access.refuse_origin()
    return None


class OneWriter:
    """A socket whose every write is whole and serialised."""

    def __init__(self, raw):
        self._raw = raw
        self._lock = threading.Lock()

    def send(self, data):
        with self._lock:
            self._raw.sendall(data)
        return len(data)

    def __getattr__(self, name):
        return getattr(self._raw, name)


@sock.route("/ws/logs/<path:rest>", bp=bp)
def follow_log(ws, rest):
    ws.sock = OneWriter(ws.sock)
    v = viewer()
    run_id, _, stream_id = rest.rpartition("/")
    try:
        path = store().stream(run_id, stream_id)["path"]
        # every (re)open, after a rotation too, resolves beneath the root (data/paths.py)
        follower = LogFollower(path, v.config["VIEWER_PAGE_LOG_BYTES"], store().root)
        first = follower.tail()
    except (ViewerError, OSError) as e:
        message = getattr(e, "message", None) or str(e)
        ws.send(json.dumps({"type": "error", "error": message}))
        ws.close(reason=1008, message=message[:120])  # the close frame says it too
        return
    heartbeat = v.config["VIEWER_HEARTBEAT"]
    with v.bus.subscribe(lambda e: e.audience == "_" and e.data == path, maxsize=64) as sub:
        ws.send(json.dumps({"type": "tail", **first}))
        idle = 0.0
        while ws.connected:
            ev = sub.get(timeout=1.0)
            if ev is CLOSED:
                break
            if ev is None:
                idle += 1.0
                if idle < heartbeat:
                    continue
                idle = 0.0  # keepalive for proxies, and the check for rotation a missed event hid
            reason, chunk = follower.read_new()
            if reason:
                ws.send(json.dumps({"type": "reset", "reason": reason, **chunk}))
            elif chunk and (chunk["lines"] or chunk["partial"] is not None):
                ws.send(json.dumps({"type": "append", **chunk}))
            elif ev is None:
                ws.send(json.dumps({"type": "ping"}))
