"""Where the package's own files are: ``templates/``, ``static/`` and ``examples/`` sit beside
the package in a checkout and inside it in the installed wheel (pyproject's force-include)."""
from __future__ import annotations

import os

PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # viewer/


def bundled_dir(name):
    """``viewer/<name>`` when installed from the wheel, else ``<checkout>/<name>``."""
    inside = os.path.join(PACKAGE, name)
    return inside if os.path.isdir(inside) else os.path.join(os.path.dirname(PACKAGE), name)
