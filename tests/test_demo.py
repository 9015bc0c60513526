"""With no VIEWER_ROOT the app serves the bundled demo, and its live run keeps training."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import requests

from conftest import REPO, free_port


def test_demo_serves_every_format_and_a_live_run_that_grows(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "VIEWER_ROOT"}
    env["TMPDIR"] = str(tmp_path)  # the demo copies its runs under the temp dir, not the checkout
    proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "run", "--port", str(port)],
                            cwd=REPO, env={**env, "VIEWER_POLL": "0.5"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        def live_points():
            runs = requests.get(url + "/api/runs", timeout=5).json()["runs"]
            live = [r for r in runs if "live" in r["tags"]]
            if not live:
                return runs, None
            s = requests.get(f"{url}/api/runs/{live[0]['id']}/metrics?names=train/loss", timeout=5).json()
            return runs, s["series"].get("train/loss", {}).get("count", 0)

        deadline, first = time.time() + 30, None
        while time.time() < deadline:
            try:
                runs, count = live_points()
            except requests.ConnectionError:
                time.sleep(0.2)
                continue
            if count and first is None:
                first = count
            elif count and first and count > first:
                break
            time.sleep(0.3)
        else:
            raise AssertionError(f"the live run did not grow (first={first})")
        formats = {r["format"] for r in runs}
        assert {"spt", "lightning", "keras", "hf", "jsonl", "logs"} <= formats
        assert not os.path.exists(os.path.join(REPO, "examples", "runs", "live"))  # checkout untouched
        assert os.path.isdir(os.path.join(tmp_path, f"tailboard-demo-{os.getuid()}", "live"))
    finally:
        proc.terminate()
        proc.wait(10)
