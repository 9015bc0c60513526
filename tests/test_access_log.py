"""The access logs of both servers show no token and no report capability.

The finding: ``flask run`` logged ``GET /?token=<token>``, and every ``/files/~<capability>/``
URL, against docs/security.md's "never printed". Real servers, their real logs.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest
import requests

from access_clients import copy_samples, make_reports
from conftest import REPO, free_port
from live_clients import die_with_parent

TOKEN = "tok-" + "Zq9" * 10


def serve(kind, root, *extra):
    port = free_port()
    env = {**os.environ, "VIEWER_ROOT": str(root), "VIEWER_TOKEN": TOKEN}
    if kind == "flask":
        cmd = [sys.executable, "-m", "flask", "--app", "app", "run", "--port", str(port)]
    else:
        exe = shutil.which("gunicorn") or os.path.join(os.path.dirname(sys.executable), "gunicorn")
        cmd = [exe, "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{port}", "--access-logfile", "-", *extra,
               "app:create_app()"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            preexec_fn=die_with_parent)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if requests.get(url + "/healthz", headers={"Authorization": "Bearer " + TOKEN},
                            timeout=1).json()["scan"]["phase"] == "done":
                return proc, url
        except (requests.ConnectionError, requests.Timeout, ValueError, KeyError):
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(proc.stdout.read().decode(errors="replace"))


def the_log(proc):
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out.decode(errors="replace")


def visit(url):
    """What a user does: the token link, a report (moved under its capability), its socket URL;
    and a guess with the token's name percent-encoded. Returns the capability seen."""
    s = requests.Session()
    assert s.get(url + "/?token=" + TOKEN).ok
    r = s.get(url + "/files/reports/a/index.html")
    assert r.ok and "/files/~" in r.url
    cap = r.url.split("/files/~")[1].split("/")[0]
    requests.get(url + f"/files/~{cap}/reports/a/style.css", headers={"Referer": r.url})  # the report's own load
    requests.get(url + "/api/runs?%74oken=" + TOKEN)
    requests.get(url + "/livereload?v=1-1~" + cap)
    return cap


@pytest.mark.parametrize("kind,extra", [
    ("flask", ()),
    ("gunicorn", ()),
    # a format that shows the query, the Referer, the Authorization header and the cookie
    ("gunicorn", ("--access-logformat", '%(r)s %(q)s "%(f)s" %({authorization}i)s %({cookie}i)s %({raw_uri}e)s')),
])
def test_the_access_log_never_shows_the_token_or_a_capability(tmp_path_factory, kind, extra):
    root = copy_samples(tmp_path_factory, "log")
    make_reports(root)
    proc, url = serve(kind, root, *extra)
    try:
        cap = visit(url)
        requests.get(url + "/api/runs", headers={"Authorization": "Bearer " + TOKEN,
                                                 "Cookie": "tailboard_auth=" + "c" * 64})
        time.sleep(0.3)
    finally:
        log = the_log(proc)
    assert "/files/reports/a/index.html" in log, log[-2000:]  # the log is there, and it is this one
    assert TOKEN not in log and cap not in log and cap.split(".")[1] not in log and "c" * 64 not in log
    assert "token=[redacted]" in log and "/files/~[redacted]/reports/a/style.css" in log


@pytest.mark.parametrize("raw,expected", [
    ("GET /?token=abc HTTP/1.1", "GET /?token=[redacted] HTTP/1.1"),
    ("GET /runs/x?a=1&%74oken=abc&b=2 HTTP/1.1", "GET /runs/x?a=1&%74oken=[redacted]&b=2 HTTP/1.1"),
    ("token=abc&x=1", "token=[redacted]&x=1"),                                   # gunicorn's %(q)s
    ("/files/~6b13.0123456789abcdef0123456789abcdef.YQ/a/b.html", "/files/~[redacted]/a/b.html"),
    ("/files/%7E6b13.0123456789abcdef0123456789abcdef.YQ/a", "/files/~[redacted]/a"),
    ("/livereload?v=18a-1f~6b13.0123456789abcdef0123456789abcdef.YQ", "/livereload?v=18a-1f~[redacted]"),
    ("Bearer s3cret", "Bearer [redacted]"),
    ("tailboard_auth=abcd; theme=dark", "tailboard_auth=[redacted]; theme=dark"),
    ("GET /api/runs?q=loss&sort=name HTTP/1.1", "GET /api/runs?q=loss&sort=name HTTP/1.1"),  # left alone
])
def test_redact(raw, expected):
    from viewer.web.access import redact

    assert redact(raw) == expected
