"""Alerts (issue 16): rules judged on the live path from real files, with real clients.

Each built-in rule fires once on a run that really does the thing; a user rule fires for the
runs its scope matches only; a restart does not fire again; a bad rule file is named and the
other rules keep working; the webhook is received by a loopback HTTP server.
"""
from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from builders import append, csv_rows, replace, sidecar, spt_run, write
from conftest import viewer_app

HEALTHY = [{"step": i, "train/loss": round(2.0 / (1 + i / 10), 5), "val/acc": round(i / 100, 4)} for i in range(40)]


def rows(start, n, loss=lambda i: 0.2, acc=lambda i: 0.5):
    return "".join(f"{i},{loss(i)},{acc(i)}\n" for i in range(start, start + n))


@contextlib.contextmanager
def app_over(root, cache, **config):
    """The app over ``root`` with its cache (alert state) in ``cache``."""
    from app import create_app

    app = create_app({"VIEWER_ROOT": str(root), "VIEWER_BACKGROUND": False, "TESTING": True,
                      "VIEWER_CACHE_DIR": str(cache), **config})
    try:
        yield app, app.extensions["tailboard"], app.test_client()
    finally:
        app.extensions["tailboard"].stop()


def alerts(client, **args):
    r = client.get("/api/alerts", query_string=args)
    assert r.status_code == 200
    return r.get_json()["alerts"]


def lightning(root, rid, data=HEALTHY):
    write(root / rid / "metrics.csv", csv_rows(data))
    return root / rid / "metrics.csv"


def test_a_nan_row_fires_once_with_its_step_and_value(tmp_path):
    csv = lightning(tmp_path / "runs", "a")
    with app_over(tmp_path / "runs", tmp_path / "cache") as (app, v, client):
        append(csv, rows(40, 3) + "43,nan,0.5\n44,nan,0.5\n45,inf,0.5\n")
        v.watcher.poll_once()
        got = alerts(client)
        assert [(a["rule"], a["run"], a["metric"], a["step"], a["shown"]) for a in got] == \
            [("nan", "a", "train/loss", 43, "NaN")]
        assert "zoom=" in got[0]["url"] and got[0]["url"].startswith("/runs/a?")
        # leaving the condition and entering it again fires again; staying in it does not
        append(csv, "46,0.2,0.5\n47,-inf,0.5\n")
        v.watcher.poll_once()
        got = alerts(client)
        assert [(a["step"], a["shown"]) for a in got] == [(47, "-inf"), (43, "NaN")]


def test_a_loss_that_blows_up_fires_the_divergence_rule_once(tmp_path):
    csv = lightning(tmp_path / "runs", "a")
    with app_over(tmp_path / "runs", tmp_path / "cache") as (app, v, client):
        append(csv, rows(40, 30, loss=lambda i: round(0.3 - i / 1000, 4)))  # past the warm-up, still learning
        v.watcher.poll_once()
        assert alerts(client) == []
        append(csv, rows(70, 10, loss=lambda i: 5.0 * (i - 69)))  # 5, 10, ... 50: blown up
        v.watcher.poll_once()
        got = alerts(client)
        assert [(a["rule"], a["metric"]) for a in got] == [("diverge", "train/loss")]
        assert 70 <= got[0]["step"] <= 72 and got[0]["value"] >= 5


def test_a_log_ending_in_a_traceback_fires_the_failed_rule(tmp_path):
    root = tmp_path / "runs"
    lightning(root, "a")
    write(root / "a" / "train.out", "epoch 1\n")
    with app_over(root, tmp_path / "cache") as (app, v, client):
        append(root / "a" / "train.out", "Traceback (most recent call last):\n  File \"x.py\"\nRuntimeError: boom\n")
        v.watcher.poll_once()
        assert [(a["rule"], a["status"]) for a in alerts(client)] == [("failed", "failed")]
        append(root / "a" / "train.out", "more\n")
        v.watcher.poll_once()
        assert len(alerts(client)) == 1  # still failed: no second firing


def test_a_heartbeat_that_stops_fires_the_stalled_rule(tmp_path):
    root = tmp_path / "runs"
    run = spt_run(root / "r1", sidecar("r1", "running"), metrics=csv_rows(HEALTHY), files={"heartbeat": ""})
    with app_over(root, tmp_path / "cache", VIEWER_STALE_AFTER=2) as (app, v, client):
        assert alerts(client) == []
        old = time.time() - 10  # the job stopped writing: its heartbeat and files age
        for name in ("heartbeat", "metrics.csv"):
            os.utime(run / name, (old, old))
        replace(run / "sidecar.json", json.dumps(sidecar("r1", "running", now=old)), mtime=old)
        v.watcher.poll_once()
        assert [(a["rule"], a["status"]) for a in alerts(client)] == [("stalled", "stale")]


def test_completed_is_off_by_default_and_on_from_the_rules_file(tmp_path):
    root = tmp_path / "runs"
    spt_run(root / "r1", sidecar("r1", "running"), metrics=csv_rows(HEALTHY))
    spt_run(root / "r2", sidecar("r2", "running"), metrics=csv_rows(HEALTHY))
    rules = write(tmp_path / "rules.toml", "[builtin]\ncompleted = true\n")
    with app_over(root, tmp_path / "c1") as (app, v, client):
        replace(root / "r1" / "sidecar.json", json.dumps(sidecar("r1", "completed")))
        v.watcher.poll_once()
        assert alerts(client) == []
    with app_over(root, tmp_path / "c2", VIEWER_ALERTS=str(rules)) as (app, v, client):
        replace(root / "r2" / "sidecar.json", json.dumps(sidecar("r2", "completed")))
        v.watcher.poll_once()
        assert [(a["rule"], a["run"]) for a in alerts(client)] == [("completed", "r2")]


def test_a_user_rule_fires_for_the_runs_its_scope_matches_only(tmp_path):
    root = tmp_path / "runs"
    for rid, tags in (("base1", ["baseline"]), ("base2", ["baseline"]), ("other", ["ablation"])):
        spt_run(root / rid, sidecar(rid, "running", tags=tags), metrics=csv_rows(HEALTHY))
    rules = write(tmp_path / "rules.yaml",
                  "rules:\n  - name: acc reached\n    when: val/acc >= 0.9 for 2 consecutive points\n"
                  "    runs: f=tag:baseline\n")
    with app_over(root, tmp_path / "cache", VIEWER_ALERTS=str(rules)) as (app, v, client):
        for rid in ("base1", "other"):
            append(root / rid / "metrics.csv", rows(40, 3, acc=lambda i: 0.95))
        append(root / "base2" / "metrics.csv", "40,0.2,0.95\n41,0.2,0.5\n42,0.2,0.95\n")  # never 2 in a row
        v.watcher.poll_once()
        got = alerts(client)
        assert [(a["rule"], a["run"], a["step"]) for a in got] == [("rule:acc reached", "base1", 41)]
        assert alerts(client, run="other") == []


def test_a_restart_does_not_fire_again_and_lists_what_fired_while_down(tmp_path):
    root, cache = tmp_path / "runs", tmp_path / "cache"
    csv = lightning(root, "a")
    lightning(root, "b")
    with app_over(root, cache) as (app, v, client):
        append(csv, "40,nan,0.5\n")
        v.watcher.poll_once()
        assert len(alerts(client)) == 1
    # down: run b fails; a stays NaN
    write(root / "b" / "job.err", "Traceback (most recent call last):\nValueError: x\n")
    append(csv, "41,nan,0.5\n")
    with app_over(root, cache) as (app, v, client):
        append(csv, "42,nan,0.5\n")
        v.watcher.poll_once()
        got = alerts(client)
        assert [(a["rule"], a["run"]) for a in got] == [("failed", "b"), ("nan", "a")]
        html = client.get("/").get_data(as_text=True)
        assert "alert-badge" in html  # the run's row says so


def test_n_consecutive_points_count_on_across_a_restart(tmp_path):
    root, cache = tmp_path / "runs", tmp_path / "cache"
    csv = lightning(root, "a")
    rules = write(tmp_path / "rules.yaml", "rules:\n  - name: loss high\n    when: train/loss > 5 for 3 consecutive points\n")
    with app_over(root, cache, VIEWER_ALERTS=str(rules)) as (app, v, client):
        append(csv, rows(40, 2, loss=lambda i: 9.0))  # two of three
        v.watcher.poll_once()
        assert alerts(client) == []
    with app_over(root, cache, VIEWER_ALERTS=str(rules)) as (app, v, client):
        append(csv, rows(42, 1, loss=lambda i: 9.0))  # the third, after the restart
        v.watcher.poll_once()
        assert [(a["rule"], a["run"], a["step"]) for a in alerts(client)] == [("rule:loss high", "a", 42)]
        append(csv, rows(43, 1) + rows(44, 2, loss=lambda i: 9.0))  # broken, then two again: not yet
        v.watcher.poll_once()
        assert len(alerts(client)) == 1


def test_first_start_takes_what_is_on_disk_as_the_baseline(tmp_path):
    root = tmp_path / "runs"
    lightning(root, "a", HEALTHY + [{"step": 40, "train/loss": "nan", "val/acc": 0.5}])
    write(root / "a" / "job.err", "Traceback (most recent call last):\nValueError: x\n")
    with app_over(root, tmp_path / "cache") as (app, v, client):
        v.watcher.poll_once()
        assert alerts(client) == []


def test_a_run_that_appears_while_watching_is_judged_from_its_first_row(tmp_path):
    root = tmp_path / "runs"
    lightning(root, "a")
    with app_over(root, tmp_path / "cache") as (app, v, client):
        lightning(root, "new", HEALTHY[:5] + [{"step": 5, "train/loss": "inf", "val/acc": 0.1}])
        v.watcher.poll_once()
        assert [(a["rule"], a["run"], a["step"]) for a in alerts(client)] == [("nan", "new", 5)]


def test_a_bad_rule_is_named_and_the_others_keep_working(tmp_path):
    root = tmp_path / "runs"
    csv = lightning(root, "a")
    rules = write(tmp_path / "rules.toml",
                  '[[rule]]\nwhen = "val/acc >= banana"\n\n[[rule]]\nwhen = "train/loss > 10"\n\n'
                  '[[rule]]\nwhen = "val/acc > 0"\nruns = "f=oops"\n')
    with app_over(root, tmp_path / "cache", VIEWER_ALERTS=str(rules)) as (app, v, client):
        body = client.get("/api/alerts").get_json()
        assert len(body["errors"]) == 2
        assert "'banana' is not a number" in body["errors"][0] and "oops" in body["errors"][1]
        page = client.get("/alerts").get_data(as_text=True)
        assert "banana" in page and "rule-error" in page
        append(csv, "40,11,0.5\n41,nan,0.5\n")
        v.watcher.poll_once()
        assert {a["rule"] for a in alerts(client)} == {"rule:train/loss > 10", "nan"}


def test_a_broken_rules_file_is_reported_and_reread_when_it_changes(tmp_path):
    root = tmp_path / "runs"
    lightning(root, "a")
    rules = write(tmp_path / "rules.toml", "[[rule]\nwhen = ")
    with app_over(root, tmp_path / "cache", VIEWER_ALERTS=str(rules)) as (app, v, client):
        body = client.get("/api/alerts").get_json()
        assert body["errors"] and "rules.toml cannot be read" in body["errors"][0]
        assert [r["id"] for r in body["rules"]] == ["nan", "diverge", "failed", "stalled"]  # built-ins kept
        write(rules, '[[rule]]\nwhen = "val/acc > 0.99"\n')
        deadline = time.time() + 10  # the engine's own thread re-reads it within a second or so
        while time.time() < deadline and not any(r["id"] == "rule:val/acc > 0.99"
                                                 for r in client.get("/api/alerts").get_json()["rules"]):
            time.sleep(0.1)
        body = client.get("/api/alerts").get_json()
        assert body["errors"] == [] and body["rules"][-1]["id"] == "rule:val/acc > 0.99"


def test_no_rule_fires_on_the_demos_healthy_runs(tmp_path):
    from viewer import demo

    root = tmp_path / "demo"
    demo.prepare(str(root))
    with app_over(root, tmp_path / "cache") as (app, v, client):
        for seed in range(3):
            trainer = demo.LiveTrainer(str(root), seed=seed)
            trainer.new_run()
            for i in range(300):
                trainer.step()
                if i % 50 == 0:
                    v.watcher.poll_once()
        v.watcher.poll_once()
        assert len(client.get("/api/runs").get_json()["runs"]) > 10
        assert alerts(client) == []


def test_the_demos_unstable_run_diverges_turns_nan_and_fails(tmp_path):
    from viewer import demo

    root = tmp_path / "demo"
    demo.prepare(str(root))
    with app_over(root, tmp_path / "cache") as (app, v, client):
        trainer = demo.LiveTrainer(str(root), seed=1, unstable=True)
        trainer.new_run()
        while not trainer.step():
            if trainer.run["step"] % 5 == 0:
                v.watcher.poll_once()
        v.watcher.poll_once()
        got = alerts(client)
        assert sorted(a["rule"] for a in got) == ["diverge", "failed", "nan"]
        assert {a["run"] for a in got} == {os.path.relpath(trainer.run["dir"], root)}


class Hook(BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.received.append((self.headers["Content-Type"], json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *a):
        pass


def test_the_webhook_is_posted_to_a_local_server(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Hook.received = []
    root = tmp_path / "runs"
    csv = lightning(root, "a")
    url = f"http://127.0.0.1:{server.server_port}/hook"
    try:
        with app_over(root, tmp_path / "cache", VIEWER_ALERT_WEBHOOK=url) as (app, v, client):
            append(csv, "40,nan,0.5\n")
            v.watcher.poll_once()
            deadline = time.time() + 10
            while time.time() < deadline and not Hook.received:
                time.sleep(0.05)
            assert Hook.received, "no POST received"
            ctype, body = Hook.received[0]
            assert ctype == "application/json"
            assert "train/loss" in body["text"] and body["content"] == body["text"]
            assert body["alert"]["rule"] == "nan" and body["alert"]["step"] == 40
            assert client.get("/healthz").get_json()["alerts"]["webhook"]["sent"] == 1
    finally:
        server.shutdown()


def test_a_dead_webhook_is_reported_in_healthz_and_never_blocks_the_live_path(tmp_path):
    from viewer.live.alerts import webhook

    root = tmp_path / "runs"
    csv = lightning(root, "a")
    port = __import__("conftest").free_port()  # nobody listens there
    with app_over(root, tmp_path / "cache", VIEWER_ALERT_WEBHOOK=f"http://127.0.0.1:{port}/") as (app, v, client):
        v.alerts.webhook.sleep = lambda s: False  # retries without the backoff's waits
        for i in range(webhook.DEAD_AFTER):
            append(csv, f"{40 + 2 * i},nan,0.5\n{41 + 2 * i},0.2,0.5\n")
            t = time.perf_counter()
            v.watcher.poll_once()
            assert time.perf_counter() - t < 2.0
        deadline = time.time() + 20
        while time.time() < deadline and not client.get("/healthz").get_json()["alerts"]["webhook"]["dead"]:
            time.sleep(0.1)
        hook = client.get("/healthz").get_json()["alerts"]["webhook"]
        assert hook["dead"] and hook["failed"] == webhook.DEAD_AFTER and hook["last_error"]
        assert "not answering" in client.get("/alerts").get_data(as_text=True)


@pytest.mark.parametrize("setting", ["off"])
def test_alerts_can_be_turned_off(tmp_path, setting):
    root = tmp_path / "runs"
    csv = lightning(root, "a")
    with app_over(root, tmp_path / "cache", VIEWER_ALERTS=setting) as (app, v, client):
        append(csv, "40,nan,0.5\n")
        v.watcher.poll_once()
        assert client.get("/api/alerts").get_json() == {**client.get("/api/alerts").get_json(), "enabled": False}
        assert "bell" not in client.get("/").get_data(as_text=True)
