"""Issue 13 item 6: one watch process per host, shared by every gunicorn worker.

The real ``gunicorn -k gevent -w 3``: one watch process among the server's children, every
worker (owner or follower) delivers a live change to its own streams, and when the owner's
worker is killed a follower takes over with nothing lost."""
from __future__ import annotations

import http.client
import json
import os
import signal
import threading
from urllib.parse import urlparse

from live_clients import SSE, start_server, stop_server, wait_for
from test_live import cmdline, descendants

from viewer.live.watchhost import HostWatch
from viewer.live.watchproc import ChangeQueue

WORKERS = 3
PROMPT = 20.0  # seconds: generous, the machine is shared; the safety-net rescan is an hour away


def watch_processes(server):
    return [p for p in descendants(server.pid) if "watchproc.py" in cmdline(p)]


def health(url):
    """/healthz of whichever worker answers a fresh connection."""
    u = urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request("GET", "/healthz")
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def stream_on_each_worker(url, pids, tries=300):
    """An /events stream on each worker in ``pids``: a keep-alive connection asks /healthz
    (which worker is this?), then opens the stream on that same connection."""
    u = urlparse(url)
    streams = {}
    for _ in range(tries):
        if set(streams) >= set(pids):
            return streams
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        conn.request("GET", "/healthz")
        pid = json.loads(conn.getresponse().read())["pid"]
        if pid in pids and pid not in streams:
            streams[pid] = SSE(url, "/events", conn=conn)
        else:
            conn.close()
    raise AssertionError(f"reached only workers {sorted(streams)} of {sorted(pids)}")


def new_run(root, name):
    run = root / "fresh" / name
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text('{"step": 1, "loss": 0.5}\n')
    return f"fresh/{name}"


def added(rid):
    return lambda e: rid in json.loads(e["data"]).get("added", ())


def test_three_workers_share_one_watch_process_and_survive_the_owner_dying(samples):
    proc, url = start_server("gunicorn", samples, WEB_CONCURRENCY=str(WORKERS), VIEWER_RESCAN="3600")
    streams = {}
    try:
        roles = {}
        wait_for(lambda: roles.update({(h := health(url))["pid"]: h["watcher_role"]})
                 or (len(roles) == WORKERS and h["scan"]["phase"] == "done"), PROMPT, "every worker")
        assert sorted(roles.values()) == ["follower", "follower", "owner"], roles
        assert len(watch_processes(proc)) == 1

        streams = stream_on_each_worker(url, set(roles))
        rid = new_run(samples, "seen-by-all")
        for pid, sse in streams.items():
            sse.next("runset", timeout=PROMPT, where=added(rid))  # every worker delivers it

        owner = next(pid for pid, role in roles.items() if role == "owner")
        os.kill(owner, signal.SIGKILL)
        rid = new_run(samples, "during-takeover")  # written while nobody watches: the takeover's walk finds it
        followers = {pid: sse for pid, sse in streams.items() if pid != owner}
        for sse in followers.values():
            sse.next("runset", timeout=PROMPT, where=added(rid))
        wait_for(lambda: len(watch_processes(proc)) == 1 and owner not in descendants(proc.pid),
                 PROMPT, "one watch process again, the killed owner's gone")
        rid = new_run(samples, "after-takeover")
        for sse in followers.values():
            sse.next("runset", timeout=PROMPT, where=added(rid))
        roles = {}
        wait_for(lambda: roles.update({(h := health(url))["pid"]: h["watcher_role"]}) or len(roles) == WORKERS,
                 PROMPT, "the replacement worker")
        assert sorted(roles.values()) == ["follower", "follower", "owner"], roles
        assert len(watch_processes(proc)) == 1
    finally:
        for sse in streams.values():
            sse.close()
        stop_server(proc)


def test_a_socket_path_too_long_for_unix_sockets_still_shares(tmp_path):
    """sun_path holds 107 bytes: a deep cache folder is reached through /proc/self/fd."""
    folder = tmp_path / ("d" * 60) / ("e" * 60)
    root = tmp_path / "runs"
    root.mkdir()
    queues = [ChangeQueue(), ChangeQueue()]
    watches = [HostWatch(str(root), q, 0.005, threading.Event(), str(folder)) for q in queues]
    try:
        for w in watches:
            w.start()
        assert [w.role for w in watches] == ["owner", "follower"]
        (root / "x.txt").write_text("x")
        for q in queues:
            paths, _full = q.drain(timeout=PROMPT)
            assert str(root / "x.txt") in paths
    finally:
        for w in watches:
            w.stop()


def test_when_the_owner_gives_inotify_up_every_follower_polls_with_its_reason(tmp_path):
    """The owner's last word (its restart budget spent, a kernel limit, overflows) is every
    worker's: a follower does not start a watch process of its own that would fail the same way."""
    root = tmp_path / "runs"
    root.mkdir()
    queues = [ChangeQueue(), ChangeQueue()]
    owner, follower = [HostWatch(str(root), q, 0.005, threading.Event(), str(tmp_path / "watch")) for q in queues]
    try:
        owner.start()
        follower.start()
        assert (owner.role, follower.role) == ("owner", "follower")
        owner.stop("the inotify queue overflowed 3 times")
        wait_for(lambda: follower.lost, PROMPT, "the follower to hear it")
        assert follower.restart() == "the inotify queue overflowed 3 times"
        assert not follower.active and follower.proc is None
    finally:
        owner.stop()
        follower.stop()
