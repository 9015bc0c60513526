"""The front end is native ES modules with no build step: each page loads one entry module whose
imports, fetched through the app, are JavaScript files under /-/static that export what is
imported; our scripts share state through imports, never through window globals."""
from __future__ import annotations

import os
import posixpath
import re
from urllib.parse import urlsplit

import pytest

from conftest import REPO, viewer_app
from builders import csv_rows
from test_compare import sweep_run

STATIC = os.path.join(REPO, "static")
PREFIX = "/-/static/"
IMPORT = re.compile(r"""^\s*(?:import|export)\s+(?:([\w\s{},*$]+?)\s+from\s+)?["']([^"']+)["']""", re.M)
EXPORT = re.compile(r"^export\s+(?:async\s+)?(?:function\*?|const|let|var|class)\s+([\w$]+)", re.M)
EXPORT_LIST = re.compile(r"^export\s*{([^}]*)}", re.M)
COMMENTS = re.compile(r"/\*.*?\*/|^\s*//[^\n]*", re.S | re.M)
SCRIPT = re.compile(r"<script\b([^>]*)>")
# comments and string literals, so that a word in them is not taken for code
NOISE = re.compile(r"""//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|`(?:\\.|[^`\\])*`""", re.S)
# the one handle for browser tests and devtools (tailboard.js expose()): written, never read by us
DEVTOOLS_HANDLE = "tailboard"


def our_scripts():
    out = {}
    for dirpath, dirs, files in os.walk(STATIC):
        dirs[:] = [d for d in dirs if d != "vendor"]
        for name in files:
            if name.endswith(".js"):
                path = os.path.join(dirpath, name)
                out[os.path.relpath(path, STATIC).replace(os.sep, "/")] = open(path, encoding="utf-8").read()
    return out


def code_of(text):
    return NOISE.sub(lambda m: " " if m.group(0).startswith("/") else '""', text)


@pytest.fixture
def client(tmp_path):
    root = tmp_path / "runs"
    sweep_run(root, "sweep/a", {"lr": 0.1}, {"loss": 0.5}, metrics=csv_rows([{"step": 1, "loss": 0.5}]))
    sweep_run(root, "sweep/b", {"lr": 0.2}, {"loss": 0.4}, metrics=csv_rows([{"step": 1, "loss": 0.4}]))
    with viewer_app(root) as app:
        yield app.test_client()


PAGES = ["/", "/runs/sweep/a", "/runs/sweep/a?tab=logs", "/compare?run=sweep/a&run=sweep/b",
         "/compare?run=sweep/a&run=sweep/b&tab=scatter", "/files/", "/runs/no/such/run", "/alerts"]


def exports_of(text):
    names = set(EXPORT.findall(text))
    for group in EXPORT_LIST.findall(text):
        names |= {part.split(" as ")[-1].strip() for part in group.split(",") if part.strip()}
    return names


def imported_names(clause):
    """The names a static import takes: `{ a, b as c }` -> {a, b}; a default or `* as` -> none."""
    m = re.search(r"{([^}]*)}", clause or "")
    return {part.split(" as ")[0].strip() for part in m.group(1).split(",") if part.strip()} if m else set()


def walk(client, url, seen):
    """Fetch a module through the app and every module it imports, checking each as it goes."""
    if url in seen:
        return
    r = client.get(url)
    assert r.status_code == 200, url
    assert r.mimetype in ("text/javascript", "application/javascript"), (url, r.mimetype)
    text = r.get_data(as_text=True)
    seen[url] = text
    for clause, spec in IMPORT.findall(COMMENTS.sub(" ", text)):
        assert spec.startswith("."), f"{url} imports {spec!r}: only relative paths work without a build step"
        target = posixpath.normpath(posixpath.join(posixpath.dirname(url), spec))
        assert target.startswith(PREFIX) and target.endswith(".js"), (url, spec)
        walk(client, target, seen)
        missing = imported_names(clause) - exports_of(seen[target])
        assert not missing, f"{url} imports {sorted(missing)} that {target} does not export"


def test_every_page_loads_one_entry_module_whose_imports_all_resolve(client):
    seen = {}
    for page in PAGES:
        r = client.get(page)
        assert r.status_code in (200, 404), page
        tags = SCRIPT.findall(r.get_data(as_text=True))
        modules = [t for t in tags if 'type="module"' in t]
        assert len(modules) == 1, (page, tags)
        # the only classic scripts: the vendored libraries and the pre-paint theme
        classic = [re.search(r'src="([^"]+)"', t).group(1) for t in tags if t not in modules and "src=" in t]
        assert all("/vendor/" in s or s.endswith("/theme-boot.js") for s in classic), (page, classic)
        walk(client, urlsplit(re.search(r'src="([^"]+)"', modules[0]).group(1)).path, seen)
    loaded = {u[len(PREFIX):] for u in seen}
    # every module of static/ is loaded by some page, and nothing loaded is missing from it
    assert loaded | {"theme-boot.js"} == set(our_scripts())


def test_scripts_share_nothing_through_window():
    scripts = {name: code_of(text) for name, text in our_scripts().items()}
    assigned = {}
    for name, code in scripts.items():
        assert not re.search(r"Object\.assign\(\s*(?:window|globalThis|self)\s*,|(?:window|globalThis)\s*\[", code), name
        for prop in re.findall(r"\b(?:window|globalThis)\.([\w$]+)\s*=(?!=)", code):
            assigned.setdefault(prop, set()).add(name)
    assert set(assigned) <= {DEVTOOLS_HANDLE}, f"window globals written: {assigned}"
    for prop, writers in assigned.items():
        readers = {name for name, code in scripts.items()
                   if name not in writers and re.search(r"(?<![\w$.])(?:window\.|globalThis\.)?" + prop + r"\b", code)}
        assert not readers, f"window.{prop} (written by {writers}) is read by {readers}"
    # modules do not leak top-level names; the one classic script of ours keeps its names in a block
    boot = scripts["theme-boot.js"]
    assert not re.search(r"^(?:var|let|const|function|class)\b", boot, re.M), "theme-boot.js declares a global"
