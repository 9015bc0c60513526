"""The README documents every route and every setting (the build fails otherwise)."""
from __future__ import annotations

import os
import re

from conftest import REPO


def readme():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        return f.read()


def test_every_route_is_documented(app):
    text = readme()
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("tailboard."):
            continue
        path = re.sub(r"<(?:path:)?(\w+)>", r"<\1>", rule.rule)
        path = path.replace("<run_id>", "<id>").replace("<relpath>", "<path>").replace("<filename>", "<file>")
        if path.startswith("/api/runs/<path>"):
            continue  # documented per action below
        verbs = ["WS"] if rule.websocket else sorted(rule.methods - {"HEAD", "OPTIONS"})
        path = path.replace("/ws/logs/<rest>", "/ws/logs/<id>/<stream>")
        missing += [f"{verb} {path}" for verb in verbs if f"`{verb} {path}" not in text]
    for action in ("", "/metrics", "/metrics.csv", "/logs", "/logs/<stream>", "/media"):
        if f"`GET /api/runs/<id>{action}`" not in text:
            missing.append("/api/runs/<id>" + action)
    assert missing == []


def test_every_setting_is_documented():
    from viewer.settings import DEFAULTS

    text = readme()
    assert [k for k in DEFAULTS if f"| `{k}` |" not in text] == []


def test_readme_starts_with_the_run_and_test_commands():
    first_block = readme().split("```sh", 1)[1].split("```", 1)[0]
    assert "flask --app app run" in first_block and "tox" in first_block
