"""Server-Sent Events at ``/events``: one stream per page, fed by the bus.

The Publisher turns the store's changes into events once (rendering each fragment once, not
once per client): ``row`` (the run's overview row, an htmx out-of-band swap), ``counts`` (the status
counts, likewise), ``runset`` (runs appeared or vanished: the table re-fetches itself), ``scan`` (first
scan progress), ``run`` (a run page's header), ``metrics`` (JSON: points appended since the
last event), ``watch`` (JSON: the watcher's state, on connect and when it changes: every page).
Overview pages get overview events; ``/events?run=<id>`` gets that run's.
"""
from __future__ import annotations

import json
import math
import os
import re
import time

from flask import Blueprint, Response, render_template, request

from ...live.bus import CLOSED, RESYNC
from ...views.context import media_json, viewer
from ...data.errors import ViewerError
from ...data.formats.media import is_media_path
from ...data.run import STATUSES

bp = Blueprint("stream", __name__)


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
    runs = [r for r in dict.fromkeys(request.args.getlist("run")) if r]
    audiences = frozenset((runs or [""]) + ["*"])  # "*": every page (the watcher's state)
    last = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    first = []
    if request.args.get("scan") and not runs:  # the page was drawn mid-scan: where is it now?
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


def folder_events(v, rel):
    """``/events?dir=<path>``: a ``listing`` event whenever an entry of that folder changes."""
    rel = "" if rel == "." else rel.strip("/")
    try:
        v.store.resolve(rel)
    except ViewerError as e:
        return Response(json.dumps({"error": e.message}), e.code, mimetype="application/json")
    folder = os.path.normpath(os.path.join(v.store.root, rel))  # as the watcher names paths
    sub = v.bus.subscribe(lambda e: e.audience == "_" and e.name == "file"
                          and os.path.dirname(e.data) == folder, maxsize=256)

    def render(ev):
        deadline = time.monotonic() + LISTING_SETTLE  # swallow the rest of the burst
        while ev is not CLOSED and time.monotonic() < deadline:
            ev = sub.get(timeout=max(0.0, deadline - time.monotonic()))
        return sse(None, "listing", "{}"), ev is CLOSED

    return event_stream(v, sub, render, looked_at=[folder], batch=False)  # render itself settles bursts


def _finite(values):
    return [v if math.isfinite(v) else None for v in values]


class Publisher:
    """Renders the store's changes into bus events (called from the watcher's loop)."""

    def __init__(self, app, v):
        self.app = app
        self.viewer = v
        self.columns = None
        self.counts_shown = None  # (counts, total) last published: most changes move no run
        self.last_scan = 0.0
        self.media_seen = {}  # run id -> media.jsonl items published so far (a count)

    def _render(self, template, **ctx):
        return render_template(template, **ctx)

    def watch_state(self, state):
        """``watch`` for every page: the watcher's mode and problem (a vanished runs folder)."""
        self.viewer.bus.publish("watch", json.dumps(state), audience="*")

    def progress(self, state):
        """First-scan progress, at most every 0.2 s, and always its last state."""
        now = time.monotonic()
        if state["phase"] != "done" and now - self.last_scan < 0.2:
            return
        self.last_scan = now
        if self.viewer.bus.count():
            with self.app.test_request_context(self.viewer.url_prefix or "/"):
                self.viewer.bus.publish("scan", self._render("tailboard/partials/_scan.html", scan=state))

    def __call__(self, changes):
        v = self.viewer
        bus, store = v.bus, v.store
        for path in changes.files:
            bus.publish("file", path, audience="_")
        touched = [rid for rid in dict.fromkeys(changes.changed + changes.added) if store.has(rid)]
        media = self._media_runs(changes.files)
        if not bus.count():
            for rid in touched:  # nobody listens: still move the cursors so later deltas are right
                store.get(rid, refresh=False).take_delta()
            for rid in media:  # no cursor: the next media event sends a window the page dedupes
                self.media_seen.pop(rid, None)
            return
        with self.app.test_request_context(v.url_prefix or "/"):
            runs = store.runs()
            columns = store.key_metrics(runs)
            if changes.added or changes.removed or columns != self.columns:
                self.columns = columns
                bus.publish("runset", json.dumps({"added": changes.added, "removed": changes.removed}))
            counts = {st: 0 for st in STATUSES}
            for r in runs:
                st = r.status()
                counts[st] = counts.get(st, 0) + 1
            counts_shown = (counts, len(runs))
            rows = []
            for rid in touched:
                run = store.get(rid, refresh=False)
                data = run.to_json()
                # the run's own page first: it must not wait behind the overview fan-out
                bus.publish("run", self._render("tailboard/partials/_run_head.html", run=data, oob=True),
                            audience=rid)
                delta = run.take_delta()
                if delta["series"] or delta["reset"]:
                    for s in delta["series"].values():
                        for key in ("step", "epoch", "time", "y"):
                            s[key] = _finite(s[key])
                    bus.publish("metrics", json.dumps({"run": rid, **delta}), audience=rid)
                if rid in media:
                    self._publish_media(rid, media.pop(rid))
                rows.append(self._render("tailboard/partials/_run_row.html", run=data, columns=columns, oob=True))
            for rid, paths in media.items():  # new images in a run whose own files did not move
                self._publish_media(rid, paths)
            for row in rows:
                bus.publish("row", f"<template>{row}</template>")
            if counts_shown != self.counts_shown:  # rendered only when a run moved between statuses
                self.counts_shown = counts_shown
                bus.publish("counts", self._render("tailboard/partials/_counts.html", counts=counts,
                                                   total=len(runs), status="", q="", oob=True))
            for rid in changes.removed:
                self.media_seen.pop(rid, None)
                bus.publish("run", self._render("tailboard/partials/_run_head.html",
                                                run={"id": rid, "gone": True}, oob=True), audience=rid)

    MEDIA_WINDOW = 64   # a run's first media event: its last items (the page skips those it has)
    MEDIA_MAX = 500     # more new items at once than this: the page re-fetches its media panel

    def _media_runs(self, files):
        """{run id: changed paths} for runs whose changed files are media (index, image, video)."""
        store, out = self.viewer.store, {}
        for path in files:
            if is_media_path(path):
                run = store.run_for_path(path)
                if run is not None and store.has(run.id):
                    out.setdefault(run.id, set()).add(path)
        return out

    def _publish_media(self, rid, paths):
        """``media`` for ``?run=<id>``: JSON ``{"run", "reset", "from", "items"}``, the new items.

        From ``media.jsonl`` (append-only) the new items are those past the count last
        published, and ``from`` is the index of the first, so a page that has it skips it; a
        shorter index (rewritten) is a ``reset``. From a folder scan (no stable order) they are
        the changed files themselves, ``from`` is null and the page skips URLs it shows.
        """
        store = self.viewer.store
        items = store.media(rid)
        start = None
        if store.get(rid, refresh=False).media_indexed:
            prev = self.media_seen.get(rid)
            self.media_seen[rid] = len(items)
            if prev is not None and prev > len(items):
                self.viewer.bus.publish("media", json.dumps({"run": rid, "reset": True, "from": None, "items": []}),
                                        audience=rid)
                return
            start = max(len(items) - self.MEDIA_WINDOW if prev is None else prev, len(items) - self.MEDIA_MAX, 0)
            new = items[start:]
        else:
            new = [m for m in items if os.path.join(store.root, m["path"]) in paths]
        if new:
            self.viewer.bus.publish("media", json.dumps({"run": rid, "reset": False, "from": start,
                                                         "items": media_json(new)}), audience=rid)

