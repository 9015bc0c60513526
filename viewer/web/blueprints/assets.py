"""Tailboard's own static files (vendored htmx and uPlot, CSS, the chart script) under ``/-/static``."""
import os

from flask import Blueprint

# the repository's static/ folder, beside the viewer package (viewer/web/blueprints/ -> ../../../static)
STATIC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "static"))

bp = Blueprint("assets", __name__, static_folder=STATIC, static_url_path="/-/static")
