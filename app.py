"""Tailboard as a standalone app: ``flask --app app run`` or ``gunicorn 'app:create_app()'``.

With no ``VIEWER_ROOT`` it serves the bundled demo, whose live run keeps training.
"""
from __future__ import annotations

import os

from flask import Flask

from viewer import Viewer


def create_app(test_config=None):
    """Build the app. ``test_config`` (a dict) overrides config and environment."""
    app = Flask(__name__, static_folder=None, template_folder=None)
    if test_config:
        app.config.update(test_config)
    if not (app.config.get("VIEWER_ROOT") or os.environ.get("VIEWER_ROOT")):
        from viewer import demo

        app.config["VIEWER_ROOT"], app.config["VIEWER_DEMO_STOP"] = demo.start()
    Viewer(app)
    return app
