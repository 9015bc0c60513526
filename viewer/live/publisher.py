"""What the event stream publishes when the store changes: decided here once, not per client.

The watcher's loop calls the :class:`Publisher` with each batch of changes. It decides which
events go out (``row``, ``counts``, ``runset``, ``scan``, ``run``, ``metrics``, ``media``,
``watch``, and the internal ``file`` events) and to which audience; the HTML of a fragment
comes from a renderer the web layer hands it (``viewer/web/fragments.py``), so this module
knows no Flask. Each fragment is rendered once per change, whatever the number of clients.
"""
from __future__ import annotations

import json
import os
import time

from ..data.formats.media import is_media_path
from ..data.numbers import finite_or_none_list
from .tally import RunTally


class Publisher:
    """Turns the store's changes into bus events (called from the watcher's loop).

    ``fragments`` renders: ``session()`` (a context manager around a batch of renders),
    ``scan(state)``, ``run_head(run)``, ``run_row(run, columns)``, ``counts(counts, total)``
    (HTML) and ``media(items)`` (media items as the API gives them, with URLs).
    """

    MEDIA_WINDOW = 64   # a run's first media event: its last items (the page skips those it has)
    MEDIA_MAX = 500     # more new items at once than this: the page re-fetches its media panel
    SCAN_EVERY = 0.2    # seconds between two scan progress events (the last state always goes)

    def __init__(self, store, bus, fragments):
        self.store = store
        self.bus = bus
        self.fragments = fragments
        self.columns = None
        self.tally = RunTally(store)  # status counts and key metrics, O(changed runs) a batch
        self.counts_shown = None  # (counts, total) last published: most changes move no run
        self.last_scan = 0.0
        self.media_seen = {}  # run id -> media.jsonl items published so far (a count)

    def watch_state(self, state):
        """``watch`` for every page: the watcher's mode and problem (a vanished runs folder)."""
        self.bus.publish("watch", json.dumps(state), audience="*")

    def progress(self, state):
        """First-scan progress, at most every SCAN_EVERY seconds, and always its last state."""
        now = time.monotonic()
        if state["phase"] != "done" and now - self.last_scan < self.SCAN_EVERY:
            return
        self.last_scan = now
        if self.bus.count():
            with self.fragments.session():
                self.bus.publish("scan", self.fragments.scan(state))

    def __call__(self, changes):
        bus, store = self.bus, self.store
        for path in changes.files:
            bus.publish("file", path, audience="_")
        touched = [rid for rid in dict.fromkeys(changes.changed + changes.added) if store.has(rid)]
        media = self._media_runs(changes.files)
        if not bus.listened():  # a gap: a page resuming from before it resyncs
            for rid in touched:  # nobody listens: still move the cursors so later deltas are right
                store.get(rid, refresh=False).take_delta()
            for rid in media:  # no cursor: the next media event sends a window the page dedupes
                self.media_seen.pop(rid, None)
            return
        with self.fragments.session():
            self._publish(changes, touched, media)

    def _publish(self, changes, touched, media):
        bus, store, fragments = self.bus, self.store, self.fragments
        self.tally.update(touched, changes.removed)
        columns = self.tally.columns()
        if changes.added or changes.removed or columns != self.columns:
            self.columns = columns
            bus.publish("runset", json.dumps({"added": changes.added, "removed": changes.removed}))
        counts_shown = self.tally.counts()
        rows = []
        for rid in touched:
            run = store.get(rid, refresh=False)
            data = run.to_json()
            # the run's own page first: it must not wait behind the overview fan-out
            bus.publish("run", fragments.run_head(data), audience=rid)
            delta = run.take_delta()
            if delta["series"] or delta["reset"]:
                for s in delta["series"].values():
                    for key in ("step", "epoch", "time", "y"):
                        s[key] = finite_or_none_list(s[key])
                bus.publish("metrics", json.dumps({"run": rid, **delta}), audience=rid)
            if rid in media:
                self._publish_media(rid, media.pop(rid))
            rows.append(fragments.run_row(data, columns))
        for rid, paths in media.items():  # new images in a run whose own files did not move
            self._publish_media(rid, paths)
        for row in rows:
            bus.publish("row", f"<template>{row}</template>")
        if counts_shown != self.counts_shown:  # rendered only when a run moved between statuses
            self.counts_shown = counts_shown
            bus.publish("counts", fragments.counts(*counts_shown))
        for rid in changes.removed:
            self.media_seen.pop(rid, None)
            bus.publish("run", fragments.run_head({"id": rid, "gone": True}), audience=rid)

    def _media_runs(self, files):
        """{run id: changed paths} for runs whose changed files are media (index, image, video)."""
        store, out = self.store, {}
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
        store = self.store
        items = store.media(rid)
        start = None
        if store.get(rid, refresh=False).media_indexed:
            prev = self.media_seen.get(rid)
            self.media_seen[rid] = len(items)
            if prev is not None and prev > len(items):
                self.bus.publish("media", json.dumps({"run": rid, "reset": True, "from": None, "items": []}),
                                 audience=rid)
                return
            start = max(len(items) - self.MEDIA_WINDOW if prev is None else prev, len(items) - self.MEDIA_MAX, 0)
            new = items[start:]
        else:
            new = [m for m in items if os.path.join(store.root, m["path"]) in paths]
        if new:
            self.bus.publish("media", json.dumps({"run": rid, "reset": False, "from": start,
                                                  "items": self.fragments.media(new)}), audience=rid)
