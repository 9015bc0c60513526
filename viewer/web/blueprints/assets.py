"""Tailboard's own static files (vendored htmx and uPlot, CSS, the ES modules) under ``/-/static``."""
from flask import Blueprint

from ...data.package_files import bundled_dir

STATIC = bundled_dir("static")  # beside the package in a checkout, inside it in the wheel

bp = Blueprint("assets", __name__, static_folder=STATIC, static_url_path="/-/static")
