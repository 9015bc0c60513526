"""The docs document every route, setting and live event, the README stays a short front door,
and every link in the docs leads to a file (and heading) that exists (the build fails otherwise)."""
from __future__ import annotations

import ast
import glob
import inspect
import os
import re

import pytest

from conftest import REPO, viewer_app

DOCS = os.path.join(REPO, "docs")
STREAM_ROUTES = ("/events",)  # besides websockets, documented in docs/live.md too


def read(path):
    with open(os.path.join(REPO, path), encoding="utf-8") as f:
        return f.read()


@pytest.fixture(scope="module")
def real_app(tmp_path_factory):
    with viewer_app(tmp_path_factory.mktemp("runs")) as app:
        yield app


def documented_routes(app):
    """``(verb, path, where)`` for every route of the real app, as the docs spell them."""
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("tailboard."):
            continue
        path = re.sub(r"<(?:path:)?(\w+)>", r"<\1>", rule.rule)
        path = path.replace("<run_id>", "<id>").replace("<relpath>", "<path>").replace("<filename>", "<file>")
        path = path.replace("/ws/logs/<rest>", "/ws/logs/<id>/<stream>")
        streaming = rule.websocket or path in STREAM_ROUTES
        where = ("docs/api.md", "docs/live.md") if streaming else ("docs/api.md",)
        verbs = ["WS"] if rule.websocket else sorted(rule.methods - {"HEAD", "OPTIONS"}) or ["OPTIONS"]
        if path == "/api/runs/<path>":  # one route, dispatched on the last part: each action is documented
            source = inspect.getsource(app.view_functions[rule.endpoint])
            actions = re.findall(r'action == "([^"]+)"', source)
            assert actions, "the run routes' actions were not found in the view: update this test"
            for action in [""] + actions:
                suffix = "/<stream>" if action == "logs" else ""
                yield "GET", "/api/runs/<id>" + (f"/{action}" if action else ""), where
                if suffix:
                    yield "GET", f"/api/runs/<id>/{action}{suffix}", where
            continue
        for verb in verbs:
            yield verb, path, where


def is_documented(text, verb, path):
    """``VERB PATH`` in backticks; a folder route (``/files/``) may go on with a name."""
    tail = r"[^`]*`" if path.endswith("/") else r"[`?]"
    return re.search(re.escape(f"`{verb} {path}") + tail, text) is not None


def test_every_route_of_the_app_is_in_the_api_docs(real_app):
    routes = list(documented_routes(real_app))
    assert len(routes) > 20  # the real app's routes were found
    missing = [f"{verb} {path} (in {' or '.join(where)})" for verb, path, where in routes
               if not any(is_documented(read(w), verb, path) for w in where)]
    assert missing == []


def test_every_setting_is_in_the_settings_docs():
    from viewer.settings import DEFAULTS

    text = read("docs/settings.md")
    assert [k for k in DEFAULTS if f"| `{k}` |" not in text] == []


def emitted_events():
    """SSE event names the server emits: ``publish("name", ...)`` (not internal ones, audience
    ``"_"``) and ``sse(id, "name", ...)`` anywhere in the package, wherever the code lives."""
    names = set()
    for path in glob.glob(os.path.join(REPO, "viewer", "**", "*.py"), recursive=True):
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            position = {"publish": 0, "sse": 1}.get(func)
            if position is None or len(node.args) <= position:
                continue
            arg = node.args[position]
            internal = any(k.arg == "audience" and isinstance(k.value, ast.Constant) and k.value.value == "_"
                           for k in node.keywords)
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and not internal:
                names.add(arg.value)
    return names


def test_every_event_the_server_emits_is_in_the_live_docs():
    names = emitted_events()
    assert {"metrics", "row", "resync"} <= names  # the scan still finds where events are emitted
    text = read("docs/live.md")
    assert sorted(n for n in names if f"| `{n}` |" not in text) == []


def test_readme_is_short_and_starts_with_the_run_and_test_commands():
    text = read("README.md")
    assert len(text.splitlines()) <= 200
    before, fence, rest = text.partition("```sh\n")
    assert fence and "```" not in before and len(before.splitlines()) <= 12  # the first block, at the top
    commands = [line for line in rest.split("```", 1)[0].splitlines() if line.strip() and not line.startswith("#")]
    assert len(commands) >= 2
    assert "flask --app app run" in commands[0]
    assert re.search(r"(?:^|&&)\s*tox(?:\s|$)", commands[1])  # runs tox, not just installs it


def doc_files():
    return ["README.md", "bench/README.md"] + sorted(
        os.path.relpath(p, REPO) for p in glob.glob(os.path.join(DOCS, "*.md")))


def links(text):
    """Relative link and image targets of a Markdown text, outside code."""
    text = re.sub(r"(?ms)^```.*?^```", "", text)
    text = re.sub(r"`[^`\n]*`", "", text)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if not re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            yield target


def slug(heading):
    """GitHub's anchor for a heading."""
    heading = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return heading.replace(" ", "-")


def anchors(path):
    text = re.sub(r"(?ms)^```.*?^```", "", read(path))
    return {slug(h) for h in re.findall(r"(?m)^#{1,6} +(.+?) *$", text)}


def test_every_link_and_image_in_the_docs_exists():
    assert len(doc_files()) >= 10  # README, bench/README and the docs pages
    broken = []
    for doc in doc_files():
        for target in links(read(doc)):
            file, _, anchor = target.partition("#")
            path = os.path.normpath(os.path.join(os.path.dirname(doc), file)) if file else doc
            if not os.path.exists(os.path.join(REPO, path)):
                broken.append(f"{doc}: {target}")
            elif anchor and path.endswith(".md") and anchor not in anchors(path):
                broken.append(f"{doc}: {target} (no such heading)")
    assert broken == []
