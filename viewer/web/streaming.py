"""Big answers sent in slices that give the other connections a turn between them.

A 100,000-point ``/metrics`` answer is 14 MB of JSON: ``jsonify`` encodes it in one call that
holds a gevent worker for over a second, during which no other page, stream or ``/healthz``
is served. Here the same JSON (keys sorted and compact, as ``jsonify`` writes it) is encoded a
slice at a time, and a template is rendered as a stream, with a turn (``data.cooperative``)
between slices. The answer is computed before the first byte goes out, so an error is still a
clean 4xx/5xx, never half a body.
"""
from __future__ import annotations

import json

from flask import Response, stream_template

from ..data.cooperative import Turns

LIST_SLICE = 4096    # list items encoded in one call (a few ms)
WRITE_SIZE = 1 << 16  # pieces are joined into writes of about this many characters

_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


def json_pieces(obj, turns):
    """``obj`` as JSON text, in pieces; a long list is encoded ``LIST_SLICE`` items at a time."""
    if isinstance(obj, dict):
        yield "{"
        for i, key in enumerate(sorted(obj)):
            yield ("," if i else "") + _encode(str(key)) + ":"
            yield from json_pieces(obj[key], turns)
        yield "}"
    elif isinstance(obj, (list, tuple)) and len(obj) > LIST_SLICE:
        yield "["
        for i in range(0, len(obj), LIST_SLICE):
            turns()
            yield ("," if i else "") + _encode(list(obj[i:i + LIST_SLICE]))[1:-1]
        yield "]"
    else:
        turns()
        yield _encode(obj)


def _joined(pieces, turns):
    buf, size = [], 0
    for piece in pieces:
        buf.append(piece)
        size += len(piece)
        if size >= WRITE_SIZE:
            yield "".join(buf)
            buf, size = [], 0
            turns()
    if buf:
        yield "".join(buf)


def json_response(obj, status=200):
    """``jsonify(obj)``'s body, streamed in slices that yield."""
    turns = Turns()
    return Response(_joined(json_pieces(obj, turns), turns), status, mimetype="application/json")


def template_response(template, **context):
    """``render_template``'s page, streamed in slices that yield."""
    turns = Turns()
    return Response(_joined(stream_template(template, **context), turns), mimetype="text/html")
