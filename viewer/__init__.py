"""Tailboard: a live, read-only viewer for a folder of experiment runs, as a Flask extension.

    from viewer import Viewer
    Viewer(app, root="/data/runs", url_prefix="/runs")   # or Viewer().init_app(app)

Importing the package itself loads only the standard library (Flask and the layers come with
``init_app``): gunicorn's master may then use the pure helpers (``viewer.views.args``) before
its gevent workers patch the standard library.
"""
from __future__ import annotations

# Only the standard library at import time: the ``tailboard`` command imports this package in
# gunicorn's master, before its gevent worker monkey-patches threading, sockets and queues.
# Flask and the layers are imported when a Viewer is built (in the worker, patched).
import atexit
import os
import secrets
import weakref

from .data.package_files import bundled_dir  # stdlib only, like this module

ALERTS_OFF = {"off", "none", "no", "0", "false"}

TEMPLATES = bundled_dir("templates")

_running = weakref.WeakSet()


class Viewer:
    """Mounts the pages, JSON API, event stream, websockets and files of a runs folder."""

    def __init__(self, app=None, root=None, url_prefix="", **options):
        self.options = {"root": root, **options}
        self.url_prefix = (url_prefix or "").rstrip("/")
        self.store = None
        self.watcher = None
        self.bus = None
        self.alerts = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app):
        from flask import Blueprint

        from . import settings
        from .data.cachedir import CacheDir
        from .data.store import RunStore
        from .live.bus import Bus
        from .live.publisher import Publisher
        from .live.watcher import Watcher
        from .web import access, glue, security
        from .web.blueprints import alerts, api, assets, compare, export, files, livereload, pages, sock, stream
        from .web.fragments import Fragments

        self.config = settings.load(app, self.options)
        root = self.config["VIEWER_ROOT"]
        if not root:
            raise ValueError("Viewer needs a root: pass root=... or set VIEWER_ROOT")
        if not os.path.isdir(root):
            raise ValueError(f"VIEWER_ROOT {root!r} is not a directory")
        # the one place the viewer writes, never under the root (None with a note when unusable)
        self.cache = CacheDir(self.config["VIEWER_CACHE_DIR"], root)
        # runs whose page is open (their folder is in the watcher's Interest) are never evicted
        self.store = RunStore(root, stale_after=self.config["VIEWER_STALE_AFTER"],
                              memory_mb=self.config["VIEWER_MEMORY_MB"], kept=self._followed,
                              cache=self.cache,  # its columns/: parses shared by restarts and workers
                              coarse_mb=self.config["VIEWER_COARSE_MB"], cache_mb=self.config["VIEWER_CACHE_MB"])
        # signs report capabilities when there is no token; exported so that the processes
        # started after this one (flask's reloader child, forked workers) agree on it
        self.secret = os.environ.setdefault("TAILBOARD_SECRET", secrets.token_hex(32))
        self.failures = access.FailureBudget()  # wrong tokens per client address
        access.install_log_redaction("werkzeug")  # flask run's request log: no token, no capability
        access.install_log_redaction(app.logger.name)  # "Exception on /files/~<capability>/..."
        self.bus = Bus()

        bp = Blueprint("tailboard", __name__, url_prefix=self.url_prefix or None,
                       template_folder=TEMPLATES)
        for child in (assets.bp, pages.bp, api.bp, compare.bp, export.bp, files.bp, livereload.bp, stream.bp,
                      sock.bp, alerts.bp):
            bp.register_blueprint(child)
        bp.register_blueprint(access.bp)  # /login, /logout
        glue.install(bp)  # one ViewerError handler for every route, and the template filters
        token, prefix = self.config["VIEWER_TOKEN"], self.url_prefix
        bp.before_request(lambda: access.check(token, prefix))
        bp.before_request(self._note_event_id)
        bp.after_request(security.add_headers)
        app.register_blueprint(bp)
        app.config.setdefault("SOCK_SERVER_OPTIONS", {"ping_interval": 25})
        app.extensions["tailboard"] = self

        fragments = Fragments(app, self.url_prefix)
        publisher = Publisher(self.store, self.bus, fragments)
        self.store.on_progress = publisher.progress
        self.alerts = self._alerts(fragments)
        self.watcher = Watcher(self.store, publish=self._publisher(publisher), poll=self.config["VIEWER_POLL"],
                               rescan=self.config["VIEWER_RESCAN"],
                               on_state=publisher.watch_state,  # pages hear of a vanished root at once
                               share=self.cache.sub("watch"))  # one watch process per host and root
        background = self.config["VIEWER_BACKGROUND"]
        if self.alerts is not None:
            self.alerts.start()  # the rules file re-read, state saves, the webhook's thread
        self.watcher.start(background=background)  # without: one scan now, no thread
        if background:
            _running.add(self)
            atexit.register(self.stop)
        return self

    def _alerts(self, fragments):
        """The alert engine (issue 16), or None with ``VIEWER_ALERTS=off``."""
        from .live.alerts import AlertEngine, Webhook
        from .views.runtable import run_matcher

        rules = self.config["VIEWER_ALERTS"]
        if rules is not None and str(rules).strip().lower() in ALERTS_OFF:
            return None
        url = self.config["VIEWER_ALERT_WEBHOOK"]
        return AlertEngine(self.store, self.bus, rules_path=os.path.expanduser(rules) if rules else None,
                           state_folder=self.cache.sub("alerts"), webhook=Webhook(url) if url else None,
                           compile_scope=run_matcher, decorate=fragments.alert)

    def _publisher(self, publisher):
        """What the watcher calls with each batch: the alert rules first, then the pages."""
        alerts = self.alerts
        if alerts is None:
            return publisher

        def publish(changes):
            try:
                alerts(changes)
            except Exception:  # noqa: BLE001 - a rule bug must not keep the pages from updating
                import logging
                logging.getLogger(__name__).exception("tailboard: judging alert rules failed")
            publisher(changes)
        return publish

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
        if self.alerts:
            self.alerts.stop()


def shutdown_all():
    """Stop every running Viewer of this process: gunicorn's SIGTERM hook calls this."""
    for v in list(_running):
        v.stop()
