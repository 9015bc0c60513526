"""Server-Sent Events at ``/events``: one stream per page, fed by the bus.

The publisher (``viewer/live/publisher.py``) turns the store's changes into events once
(rendering each fragment once, not once per client): ``row`` (the run's overview row, an htmx out-of-band swap), ``counts`` (the status
counts, likewise), ``runset`` (runs appeared or vanished: the table re-fetches itself), ``scan`` (first
scan progress), ``run`` (a run page's header), ``metrics`` (JSON: points appended since the
last event), ``watch`` (JSON: the watcher's state, on connect and when it changes: every page).
Overview pages get overview events; ``/events?run=<id>`` gets that run's.
"""
from __future__ import annotations

import json
import os
import re
import time

from flask import Blueprint, Response, render_template, request

from .. import glue
from ...live.bus import CLOSED, RESYNC
from ...views.current import viewer

bp = glue.answer_json(Blueprint("stream", __name__))


# a browser ends an SSE line at CR, LF or CRLF: split on all three, or a bare CR in run data
# (a tag, a metric name) would start a field of its own (``event:``, ``retry:``) in every page
LINE_BREAK = re.compile(r"\r\n|\r|\n")


def sse(event_id, name, data):
    lines = LINE_BREAK.split(str(data))
    head = f"id: {event_id}\n" if event_id else ""
    return head + f"event: {name}\n" + "".join(f"data: {line}\n" for line in lines) + "\n"


@bp.get("/events")
def events():
    v = viewer()
    if request.args.get("dir"):
        return folder_events(v, request.args["dir"])
    # ``run`` repeats on a page showing several runs (compare): it gets each run's events
    runs = glue.ids_arg()
    audiences = frozenset((runs or [""]) + ["*"])  # "*": every page (the watcher's state)
    last = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    first = []
    if glue.flag_arg("scan") and not runs:  # the page was drawn mid-scan: where is it now?
        first.append(sse(None, "scan", render_template("tailboard/partials/_scan.html", scan=v.store.scan_state)))
    first.append(sse(None, "watch", json.dumps(v.watcher.state())))  # the top bar's truth, now
    v.store.follow(runs)  # their series are parsed now; the budget keeps them while followed
    # polling sees a run's own files only: while its page is open, stat its media folders too
    looked_at = [p for rid in runs for p in v.store.media_folders(rid)]
    # subscribe last: nothing above may fail with a subscription left registered
    sub = v.bus.subscribe(lambda e: e.audience in audiences, last)

    def render(ev):
        return sse(None, "resync", "{}") if ev is RESYNC else ev.text(sse), False

    return event_stream(v, sub, render, first=first, looked_at=looked_at)


def event_stream(v, sub, render, first=(), looked_at=(), batch=True):
    """An SSE response fed by ``sub``: the preamble, ``first``, then ``render(event)`` for each
    event ((text, last): ``last`` ends the stream) and a ping every heartbeat. The subscription
    and the paths registered as looked at are released when the client goes.

    ``batch``: the events already queued behind the one that woke us go out in the same write
    (one change is a ``run``, a ``metrics`` and a ``row`` event: one send, not three)."""
    heartbeat = v.config["VIEWER_HEARTBEAT"]

    def stream():
        try:
            with v.watcher.interest.watching(looked_at):
                yield f"retry: 1000\n: tailboard {v.bus.boot}\n\n"
                yield from first
                while True:
                    ev = sub.get(timeout=heartbeat)
                    if ev is CLOSED:
                        return
                    if ev is None:
                        yield ": ping\n\n"
                        continue
                    text, last = render(ev)
                    parts = [text]
                    while batch and not last:
                        ev = sub.get(timeout=0)
                        if ev is None:
                            break
                        if ev is CLOSED:
                            last = True
                            break
                        text, last = render(ev)
                        parts.append(text)
                    yield "".join(parts)
                    if last:
                        return
        finally:
            v.bus.unsubscribe(sub)

    response = Response(stream(), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    # the server closes every response, even one it never iterated (client gone at once)
    response.call_on_close(lambda: v.bus.unsubscribe(sub))
    return response


LISTING_SETTLE = 0.25  # a burst of changes in a folder gives one ``listing`` event


def _file_event(e):
    return e is RESYNC or (e.audience == "_" and e.name == "file")


def folder_events(v, rel):
    """``/events?dir=<path>``: a ``listing`` event whenever an entry of that folder changes,
    and what every page gets (``alert`` for the bell, ``watch`` for the top bar)."""
    rel = "" if rel == "." else rel.strip("/")
    v.store.resolve(rel)  # a ViewerError: the glue answers it as JSON
    folder = os.path.normpath(os.path.join(v.store.root, rel))  # as the watcher names paths
    sub = v.bus.subscribe(lambda e: e.audience == "*" or (_file_event(e) and os.path.dirname(e.data) == folder),
                          maxsize=256)

    def render(ev):
        if not _file_event(ev):
            return ev.text(sse), False
        others = []  # every-page events met while the burst settles go out after the listing
        deadline = time.monotonic() + LISTING_SETTLE  # swallow the rest of the burst
        while ev is not CLOSED and time.monotonic() < deadline:
            ev = sub.get(timeout=max(0.0, deadline - time.monotonic()))
            if ev is not None and ev is not CLOSED and not _file_event(ev):
                others.append(ev.text(sse))
        return sse(None, "listing", "{}") + "".join(others), ev is CLOSED

    return event_stream(v, sub, render, looked_at=[folder], batch=False)  # render itself settles bursts
