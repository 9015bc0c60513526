"""The app works under the real ``gunicorn -k gevent 'app:create_app()'``."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest
import requests

from conftest import LIGHTNING_ID, REPO, free_port
from live_clients import die_with_parent


@pytest.fixture
def gunicorn_server(samples):
    port = free_port()
    gunicorn = shutil.which("gunicorn") or os.path.join(os.path.dirname(sys.executable), "gunicorn")
    proc = subprocess.Popen([gunicorn, "-k", "gevent", "-w", "2", "-b", f"127.0.0.1:{port}", "app:create_app()"],
                            cwd=REPO, env={**os.environ, "VIEWER_ROOT": str(samples)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if requests.get(url + "/healthz", timeout=1).json()["scan"]["phase"] == "done":
                break
        except (requests.ConnectionError, requests.Timeout, ValueError, KeyError):
            pass  # not listening yet, or a worker still starting
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("gunicorn did not start: " + proc.stdout.read().decode(errors="replace"))
    yield url
    proc.terminate()
    proc.wait(15)


def test_gunicorn_gevent_serves_pages_api_and_files(gunicorn_server):
    url = gunicorn_server
    assert len(requests.get(url + "/api/runs", timeout=5).json()["runs"]) == 5
    page = requests.get(f"{url}/runs/{LIGHTNING_ID}", timeout=5)
    assert page.status_code == 200 and "data-metrics-url" in page.text
    series = requests.get(f"{url}/api/runs/{LIGHTNING_ID}/metrics", timeout=5).json()["series"]
    assert series["val/acc"]["count"] == 5
    assert requests.get(url + "/-/static/vendor/uPlot-1.6.32.iife.min.js", timeout=5).status_code == 200
