"""The layers of ``viewer/`` as docs/design.md draws them: data < live < views < web.

Every module is parsed (never imported) and each import is resolved to the module it names:
``data/`` and ``live/`` import no Flask nor its toolkit, and no layer imports one above it.
The top (``viewer/__init__.py``, settings, demo, cli, __main__, bind) wires them and may use
any. A synthetic bad module proves the checker can fail.
"""
from __future__ import annotations

import ast
import os

import pytest

VIEWER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "viewer")
ORDER = ("data", "live", "views", "web")           # lowest first
TOP = ("__init__", "settings", "demo", "cli", "__main__", "bind", "serve")
WEB_TOOLKIT = ("flask", "flask_sock", "werkzeug", "jinja2", "markupsafe")
NO_WEB = ("data", "live")                          # the layers that never see HTTP


def modules():
    """``(dotted name, path)`` of every module of the package."""
    out = []
    for folder, dirs, files in os.walk(VIEWER):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for f in sorted(files):
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                rel = os.path.relpath(path, os.path.dirname(VIEWER))[:-3].split(os.sep)
                out.append((".".join(rel), path))
    return out


def imported(name, source):
    """Absolute names of what a module's source imports (relative imports resolved)."""
    package = name.rsplit(".", 1)[0]  # a module's package; for x.__init__, x itself
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = parent + ("." + base if base else "")
            if node.module:
                out.append(base)
            else:  # ``from .. import x``: x is a submodule, or a name of the package's __init__
                out += [f"{base}.{a.name}" for a in node.names]
    return out


def layer_of(name):
    """The layer of a ``viewer.*`` module name, or None (the top, or not ours)."""
    parts = name.split(".")
    if parts[0] != "viewer" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in ORDER else None


def violations(name, source):
    """What module ``name`` (its ``source``) imports against the layer rules."""
    own = layer_of(name)
    if own is None:
        return []
    bad = []
    for target in imported(name, source):
        root = target.split(".")[0]
        if own in NO_WEB and root in WEB_TOOLKIT:
            bad.append(f"{name} imports {target} (no web toolkit in {own}/)")
        other = layer_of(target)
        if other is not None and ORDER.index(other) > ORDER.index(own):
            bad.append(f"{name} imports {target} ({other}/ is above {own}/)")
        if root == "viewer" and other is None:  # viewer/__init__ or a top module
            bad.append(f"{name} imports {target} (the top wires the layers; a layer never imports it)")
    return bad


def test_every_layer_is_a_folder_of_modules():
    names = [n for n, _ in modules()]
    for layer in ORDER:
        assert any(n.startswith(f"viewer.{layer}.") for n in names), layer
    strays = [n for n in names if layer_of(n) is None and n.split(".")[1] not in TOP]
    assert strays == [], f"modules outside every layer: {strays}"


@pytest.mark.parametrize("name,path", modules(), ids=[n for n, _ in modules()])
def test_no_layer_imports_one_above_it(name, path):
    with open(path, encoding="utf-8") as f:
        assert violations(name, f.read()) == []


@pytest.mark.parametrize("name,source,expected", [
    ("viewer.data.bad", "from flask import request\n", "no web toolkit"),
    ("viewer.live.bad", "import werkzeug.exceptions\n", "no web toolkit"),
    ("viewer.live.bad", "from markupsafe import Markup\n", "no web toolkit"),
    ("viewer.data.formats.bad", "from ...views import runquery\n", "views/ is above data/"),
    ("viewer.live.bad", "from ..web.fragments import Fragments\n", "web/ is above live/"),
    ("viewer.views.bad", "from ..web import glue\n", "web/ is above views/"),
    ("viewer.views.bad", "import viewer.web.glue\n", "web/ is above views/"),
    ("viewer.data.bad", "from .. import live\n", "live/ is above data/"),
    ("viewer.data.bad", "from viewer import Viewer\n", "the top wires"),
    ("viewer.views.bad", "from .. import settings\n", "the top wires"),
    ("viewer.web.blueprints.bad", "from ... import STATIC\n", "the top wires"),
])
def test_the_checker_flags_a_violating_module(name, source, expected):
    found = violations(name, source)
    assert found and expected in found[0]


def test_the_checker_lets_allowed_imports_through():
    assert violations("viewer.web.x", "from ..views import args\nfrom flask import g\n") == []
    assert violations("viewer.views.x", "from ..data.run import STATUSES\nfrom flask import url_for\n") == []
    assert violations("viewer.live.x", "from ..data import numbers\nimport json\n") == []
    assert violations("viewer.__init__", "from .web import glue\n") == []   # the top may
