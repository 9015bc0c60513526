"""Tailboard's own static files (vendored htmx and uPlot, CSS, the chart script) under ``/-/static``."""
from flask import Blueprint

from ... import STATIC

bp = Blueprint("assets", __name__, static_folder=STATIC, static_url_path="/-/static")
