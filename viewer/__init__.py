"""Tailboard: a live, read-only viewer for a folder of experiment runs, as a Flask extension.

    from viewer import Viewer
    Viewer(app, root="/data/runs", url_prefix="/runs")   # or Viewer().init_app(app)
"""
from __future__ import annotations

# Only the standard library at import time: the ``tailboard`` command imports this package in
# gunicorn's master, before its gevent worker monkey-patches threading, sockets and queues.
# Flask and the layers are imported when a Viewer is built (in the worker, patched).
import atexit
import os
import weakref

HERE = os.path.dirname(os.path.abspath(__file__))


def bundled_dir(name):
    """``viewer/<name>`` when installed from the wheel (which ships the top-level templates/,
    static/ and examples/ inside the package), else ``<checkout>/<name>``."""
    inside = os.path.join(HERE, name)
    return inside if os.path.isdir(inside) else os.path.join(os.path.dirname(HERE), name)


TEMPLATES = bundled_dir("templates")
STATIC = bundled_dir("static")

_running = weakref.WeakSet()


class Viewer:
    """Mounts the pages, JSON API, event stream, websockets and files of a runs folder."""

    def __init__(self, app=None, root=None, url_prefix="", **options):
        self.options = {"root": root, **options}
        self.url_prefix = (url_prefix or "").rstrip("/")
        self.store = None
        self.watcher = None
        self.bus = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app):
        from flask import Blueprint

        from . import settings
        from .data.store import RunStore
        from .live.bus import Bus
        from .live.watcher import Watcher
        from .web import access, security
        from .web.blueprints import api, assets, compare, files, livereload, pages, sock, stream

        self.config = settings.load(app, self.options)
        root = self.config["VIEWER_ROOT"]
        if not root:
            raise ValueError("Viewer needs a root: pass root=... or set VIEWER_ROOT")
        if not os.path.isdir(root):
            raise ValueError(f"VIEWER_ROOT {root!r} is not a directory")
        # runs whose page is open (their folder is in the watcher's Interest) are never evicted
        self.store = RunStore(root, stale_after=self.config["VIEWER_STALE_AFTER"],
                              memory_mb=self.config["VIEWER_MEMORY_MB"], kept=self._followed)
        self.bus = Bus()

        bp = Blueprint("tailboard", __name__, url_prefix=self.url_prefix or None,
                       template_folder=TEMPLATES)
        for child in (assets.bp, pages.bp, api.bp, compare.bp, files.bp, livereload.bp, stream.bp, sock.bp):
            bp.register_blueprint(child)
        bp.register_blueprint(access.bp)  # /login, /logout
        token, prefix = self.config["VIEWER_TOKEN"], self.url_prefix
        bp.before_request(lambda: access.check(token, prefix))
        bp.before_request(self._note_event_id)
        bp.after_request(security.add_headers)
        app.register_blueprint(bp)
        app.config.setdefault("SOCK_SERVER_OPTIONS", {"ping_interval": 25})
        app.extensions["tailboard"] = self

        publisher = stream.Publisher(app, self)
        self.store.on_progress = publisher.progress
        self.watcher = Watcher(self.store, publish=publisher, poll=self.config["VIEWER_POLL"],
                               rescan=self.config["VIEWER_RESCAN"],
                               on_state=publisher.watch_state)  # pages hear of a vanished root at once
        background = self.config["VIEWER_BACKGROUND"]
        self.watcher.start(background=background)  # without: one scan now, no thread
        if background:
            _running.add(self)
            atexit.register(self.stop)
        return self

    def _followed(self):
        """Folders open pages look at (a run page or a comparison registers its runs')."""
        if self.watcher is None:
            return ()
        interest = self.watcher.interest
        with interest.lock:
            return set(interest.refs)

    def _note_event_id(self):
        """The newest event id before the request reads the store: the page's stream resumes
        from it (``data-event-id`` on ``<body>``), so a change made while the page was being
        drawn or its stream was opening still reaches it."""
        from flask import g

        g.tailboard_event_id = self.bus.last_id()

    def stop(self):
        """Close every stream and stop the watcher (Ctrl-C, SIGTERM, tests)."""
        if self.bus:
            self.bus.close()
        if self.watcher:
            self.watcher.stop()


def shutdown_all():
    """Stop every running Viewer of this process: gunicorn's SIGTERM hook calls this."""
    for v in list(_running):
        v.stop()
