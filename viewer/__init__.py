"""Tailboard: a live, read-only viewer for a folder of experiment runs, as a Flask extension.

    from viewer import Viewer
    Viewer(app, root="/data/runs", url_prefix="/runs")   # or Viewer().init_app(app)
"""
from __future__ import annotations

import os

from flask import Blueprint

from . import access, settings
from .store import RunStore
from .watcher import PollingWatcher

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATES = os.path.join(os.path.dirname(HERE), "templates")
STATIC = os.path.join(os.path.dirname(HERE), "static")


class Viewer:
    """Mounts the pages, JSON API and files of a runs folder on a Flask app."""

    def __init__(self, app=None, root=None, url_prefix="", **options):
        self.options = {"root": root, **options}
        self.url_prefix = url_prefix or ""
        self.store = None
        self.watcher = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app):
        from .blueprints import api, assets, files, pages

        self.config = settings.load(app, self.options)
        root = self.config["VIEWER_ROOT"]
        if not root:
            raise ValueError("Viewer needs a root: pass root=... or set VIEWER_ROOT")
        if not os.path.isdir(root):
            raise ValueError(f"VIEWER_ROOT {root!r} is not a directory")
        self.store = RunStore(root, stale_after=self.config["VIEWER_STALE_AFTER"])

        bp = Blueprint("tailboard", __name__, url_prefix=self.url_prefix or None,
                       template_folder=TEMPLATES)
        for child in (assets.bp, pages.bp, api.bp, files.bp):
            bp.register_blueprint(child)
        token, prefix = self.config["VIEWER_TOKEN"], self.url_prefix.rstrip("/")
        bp.before_request(lambda: access.check(token, prefix))
        app.register_blueprint(bp)
        app.extensions["tailboard"] = self

        self.watcher = PollingWatcher(self.store, interval=self.config["VIEWER_POLL"] or 10.0)
        if self.config["VIEWER_BACKGROUND"]:
            self.watcher.start()
        else:
            self.watcher.poll_once()
        return self

    def stop(self):
        if self.watcher:
            self.watcher.stop()
