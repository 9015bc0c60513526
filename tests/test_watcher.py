"""The watcher: which event source it picks and why, coalescing, live changes, fallbacks, stop."""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import threading
import time

import pytest

from builders import append
from conftest import LIGHTNING_ID, SPT_ID
from viewer.live import source, supervisor
from viewer.data.store import RunStore
from viewer.live.source import filesystem_type
from viewer.live.watcher import Watcher
from viewer.live.watchproc import ChangeQueue, OverflowLog

MOUNTS = """\
sysfs /sys sysfs rw,nosuid 0 0
/dev/sda1 / ext4 rw,relatime 0 0
server:/export /mnt nfs4 rw,vers=4.2 0 0
/dev/sdb1 /mnt/local xfs rw 0 0
server:/my\\040data /mnt/my\\040data lustre rw 0 0
tmpfs /mnt/local/scratch tmpfs rw 0 0
"""


# -- helpers ----------------------------------------------------------------------------------

def wait_for(condition, timeout=5.0):
    """Poll ``condition`` until it is truthy or ``timeout`` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.01)


def published(calls, pred):
    """True when one of the Changes handed to publish so far satisfies ``pred``."""
    return any(pred(c) for c in list(calls))


@pytest.fixture
def running(samples):
    """Start a Watcher on the samples (inotify unless told otherwise); stopped afterwards."""
    started = []

    def start(**kw):
        calls = []
        w = Watcher(RunStore(samples), publish=calls.append, **kw).start()
        started.append(w)
        assert wait_for(lambda: calls), "the first scan was not published"
        calls.clear()
        return w, calls

    yield start
    for w in started:
        w.stop()


def lightning_csv(samples):
    return os.path.join(str(samples), LIGHTNING_ID, "metrics.csv")


# -- choosing the source ----------------------------------------------------------------------

@pytest.mark.parametrize("path,kind", [
    ("/", "ext4"),
    ("/home/user/runs", "ext4"),
    ("/mnt", "nfs4"),
    ("/mnt/runs/a", "nfs4"),
    ("/mnt/local", "xfs"),
    ("/mnt/localx", "nfs4"),             # a prefix of the name is not the mount point
    ("/mnt/local/scratch/x", "tmpfs"),   # the longest mount point wins
    ("/mnt/my data/run", "lustre"),      # \040 in /proc/mounts is a space
])
def test_filesystem_type_of_the_longest_mount_point(tmp_path, path, kind):
    mounts = tmp_path / "mounts"
    mounts.write_text(MOUNTS)
    assert filesystem_type(path, mounts=str(mounts)) == kind


def test_filesystem_type_without_a_mounts_file_is_empty(tmp_path):
    assert filesystem_type("/", mounts=str(tmp_path / "nope")) == ""


def test_viewer_poll_forces_polling_and_says_so(tmp_path):
    kind, reason = source.choose(RunStore(tmp_path).root, 2.5)
    assert kind == "polling" and "VIEWER_POLL" in reason and "2.5" in reason


@pytest.mark.parametrize("fs", ["nfs4", "lustre"])
def test_a_network_filesystem_chooses_polling_and_names_it(tmp_path, monkeypatch, fs):
    monkeypatch.setattr(source, "filesystem_type", lambda path: fs)
    kind, reason = source.choose(RunStore(tmp_path).root)
    assert kind == "polling" and fs in reason


def test_a_local_root_chooses_inotify(tmp_path, monkeypatch):
    monkeypatch.setattr(source, "filesystem_type", lambda path: "ext4")
    assert source.choose(RunStore(tmp_path).root) == ("inotify", "")


# -- the watcher's parts: restart budget, runs folder ---------------------------------------

def test_the_restart_limit_allows_its_restarts_then_refuses_until_old_deaths_age_out():
    now = [0.0]
    limit = supervisor.RestartLimit(limit=3, window=600.0, clock=lambda: now[0])
    assert [limit.failed() for _ in range(3)] == [True, True, True]
    assert limit.failed() is False and limit.exceeded() == "4 times in 10 minutes"
    now[0] = 601.0  # the four deaths are older than the window now
    assert limit.failed() is True


def test_the_root_folder_is_seen_gone_back_and_replaced(tmp_path):
    from viewer.live.rootfolder import RootFolder

    root = tmp_path / "runs"
    root.mkdir()
    folder = RootFolder(str(root))
    assert folder.settle() is False and not folder.missing and folder.look() is None
    root.rename(tmp_path / "aside")
    assert folder.look() == "gone" and folder.missing and "missing" in folder.problem
    assert folder.look() is None
    (tmp_path / "aside").rename(root)
    assert folder.look() == "back" and not folder.missing and folder.problem == ""
    root.rename(tmp_path / "old")
    root.mkdir()  # another folder at the path before anyone looked
    assert folder.look() == "replaced" and not folder.missing


# -- ChangeQueue ------------------------------------------------------------------------------

def test_many_puts_of_the_same_path_drain_as_one_entry():
    q = ChangeQueue()
    for _ in range(10_000):
        q.put("/r/a/metrics.csv")
    for _ in range(3):
        q.put("/r/b/metrics.csv")
    assert q.drain(timeout=1) == (["/r/a/metrics.csv", "/r/b/metrics.csv"], False)
    assert q.drain(timeout=0.01) == ([], False)


def test_drain_times_out_empty_when_nothing_happens():
    t0 = time.monotonic()
    assert ChangeQueue().drain(timeout=0.05) == ([], False)
    assert time.monotonic() - t0 < 2


def test_overflow_makes_the_next_drain_ask_for_a_full_rescan():
    q = ChangeQueue()
    q.put("/r/a")
    q.overflow()
    assert q.drain(timeout=1) == (["/r/a"], True)
    q.overflow()
    assert q.drain(timeout=1) == ([], True)
    assert q.drain(timeout=0.01) == ([], False)


def test_one_overflow_logged_twice_by_watchdog_asks_for_one_rescan():
    calls = []
    logger = logging.getLogger("tailboard-test-overflow")
    hook = OverflowLog(lambda: calls.append(1))
    logger.addHandler(hook)
    try:  # what watchdog 7.1 logs for one kernel overflow (inotify_c, then inotify)
        logger.warning("Inotify queue overflowed; filesystem events were lost")
        logger.warning("Inotify queue overflowed; reconciling recursive watches below %r", "/runs")
        logger.warning("something else")
    finally:
        logger.removeHandler(hook)
    assert calls == [1]


# -- a real watcher ---------------------------------------------------------------------------

def test_appending_a_row_publishes_the_run_and_the_file(samples, running):
    w, calls = running()
    assert w.kind == "inotify"
    path = lightning_csv(samples)
    append(path, "5,0.05,83,1.5,,\r\n")
    assert wait_for(lambda: published(calls, lambda c: LIGHTNING_ID in c.changed and path in c.files))
    assert w.store.metrics(LIGHTNING_ID)["series"]["train/loss"]["count"] == 21


def test_a_new_run_folder_is_added_and_a_deleted_one_removed(samples, running):
    w, calls = running()
    os.makedirs(os.path.join(samples, "new"))
    with open(os.path.join(samples, "new", "metrics.jsonl"), "w") as f:
        f.write('{"step": 1, "loss": 1}\n')
    assert wait_for(lambda: published(calls, lambda c: c.added == ["new"]))
    assert w.store.has("new")
    shutil.rmtree(os.path.join(samples, "keras"))
    assert wait_for(lambda: published(calls, lambda c: "keras" in c.removed))
    assert not w.store.has("keras")


def test_a_burst_of_appends_is_coalesced_and_nothing_is_lost(samples, running):
    w, calls = running()
    path = os.path.join(samples, "jsonl", "run1", "metrics.jsonl")
    before = w.store.metrics("jsonl/run1")["series"]["loss"]["count"]
    for i in range(5000):
        with open(path, "a") as f:
            f.write(json.dumps({"step": 1000 + i, "loss": 0.5}) + "\n")
    count = lambda: w.store.metrics("jsonl/run1")["series"]["loss"]["count"]  # noqa: E731
    assert wait_for(lambda: count() == before + 5000, timeout=10), count()
    time.sleep(0.3)  # let the last events arrive: they must not add points
    assert count() == before + 5000
    assert 0 < len(calls) < 100


def test_stop_is_prompt_and_leaves_no_thread_nor_process_behind(samples, running):
    w, _calls = running()
    names = {t.name for t in threading.enumerate()}
    assert {"tailboard-watcher", "tailboard-inotify-reader"} <= names
    proc = w.client.proc
    assert proc is not None and proc.poll() is None
    t0 = time.monotonic()
    w.stop()
    assert time.monotonic() - t0 < 2
    assert wait_for(lambda: not {"tailboard-watcher", "tailboard-inotify-reader"}
                    & {t.name for t in threading.enumerate()}, timeout=2)
    assert proc.poll() is not None and w.client.proc is None


def test_forced_polling_publishes_appends(samples, running):
    w, calls = running(poll=0.1)
    assert w.kind == "polling" and "VIEWER_POLL" in w.reason and w.client.proc is None
    append(lightning_csv(samples), "5,0.05,83,1.5,,\r\n")
    assert wait_for(lambda: published(calls, lambda c: LIGHTNING_ID in c.changed))


def test_watch_limit_falls_back_to_polling_that_still_publishes(samples, running, tmp_path, monkeypatch):
    # the watch process imports this at startup: its inotify hits the per-user watch limit
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import errno\n"
        "from watchdog.observers.inotify import InotifyObserver\n"
        "def full(*a, **kw):\n"
        "    raise OSError(errno.ENOSPC, 'inotify watch limit reached')\n"
        "InotifyObserver.schedule = full\n")
    monkeypatch.setenv("PYTHONPATH", str(site))
    w, calls = running()
    assert w.kind == "polling" and "limit" in w.reason and w.client.proc is None
    w.poll_interval = 0.1
    path = lightning_csv(samples)
    append(path, "5,0.05,83,1.5,,\r\n")
    assert wait_for(lambda: published(calls, lambda c: LIGHTNING_ID in c.changed and path in c.files))


def test_a_killed_watch_process_is_restarted_then_polling_takes_over(samples, running):
    w, calls = running()
    path = lightning_csv(samples)
    for n in range(1, supervisor.INOTIFY_RESTARTS + 1):
        dead = w.client.proc
        os.kill(dead.pid, signal.SIGKILL)
        assert wait_for(lambda: w.client.proc is not None and w.client.proc is not dead and w.client.restarts == n)
        assert w.kind == "inotify"
        calls.clear()
        append(path, f"{5 + n},0.05,83,1.5,,\r\n")  # the new process sees writes
        assert wait_for(lambda: published(calls, lambda c: LIGHTNING_ID in c.changed))
    os.kill(w.client.proc.pid, signal.SIGKILL)  # one death too many within the window
    assert wait_for(lambda: w.kind == "polling")
    assert "exited" in w.reason and "4 times" in w.reason and w.client.proc is None
    w.poll_interval = 0.1
    calls.clear()
    append(path, "9,0.05,83,1.5,,\r\n")
    assert wait_for(lambda: published(calls, lambda c: LIGHTNING_ID in c.changed))


def queue_limit():
    with open("/proc/sys/fs/inotify/max_queued_events") as f:
        return int(f.read())


@contextlib.contextmanager
def overflowing(w, root):
    """Stop the watch process, fill the kernel queue past its limit, then let it read again."""
    # in a run folder watched from the start: refreshes that run only, never walks the root
    fds = [os.open(os.path.join(root, "keras", f"flood-{c}.bin"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
           for c in "ab"]
    os.kill(w.client.proc.pid, signal.SIGSTOP)
    try:
        with open(f"/proc/{w.client.proc.pid}/stat") as f:
            assert wait_for(lambda: f.seek(0) == 0 and f.read().split(")")[1].split()[0] == "T")
        for i in range(queue_limit() + 1000):  # alternate files: identical events would merge
            os.write(fds[i % 2], b"x")
        yield  # whatever happens now raises no event: the queue is full
    finally:
        for fd in fds:
            os.close(fd)
        os.kill(w.client.proc.pid, signal.SIGCONT)


def test_a_kernel_queue_overflow_rescans_and_finds_what_was_missed(samples, running):
    w, calls = running()
    with overflowing(w, samples):
        os.makedirs(os.path.join(samples, "silent"))
        with open(os.path.join(samples, "silent", "metrics.jsonl"), "w") as f:
            f.write('{"step": 1, "loss": 1}\n')
    assert wait_for(lambda: published(calls, lambda c: "silent" in c.added), timeout=10)
    assert w.client.overflows == 1 and w.kind == "inotify"


def test_three_overflows_switch_to_polling(samples, running):
    w, _calls = running()
    for n in (1, 2, 3):
        assert w.kind == "inotify", f"polling after {n - 1} overflows"
        with overflowing(w, samples):
            pass
        assert wait_for(lambda: w.client.overflows >= n, timeout=10)
        time.sleep(0.2)  # a second report of the same overflow would arrive now
        assert w.client.overflows == n
    assert wait_for(lambda: w.kind == "polling")
    assert "overflow" in w.reason and wait_for(lambda: w.client.proc is None)


# -- status moved by time alone ---------------------------------------------------------------

def test_a_running_run_whose_heartbeat_goes_old_is_reported_stale(samples):
    for other in ("hf", "jsonl", "keras", "lightning"):
        shutil.rmtree(os.path.join(samples, other))
    run_dir = os.path.join(samples, SPT_ID)
    sidecar = os.path.join(run_dir, "sidecar.json")
    with open(sidecar) as f:
        data = json.load(f)
    data.update(status="running", ended_at=None)
    with open(sidecar, "w") as f:
        json.dump(data, f)
    beat = os.path.getmtime(os.path.join(run_dir, "heartbeat"))
    now = [beat + 10]
    store = RunStore(samples, stale_after=60, clock=lambda: now[0])
    store.scan()
    assert store.get(SPT_ID, refresh=False).status() == "running"
    assert store.status_changes() == []
    now[0] = beat + 30
    assert store.status_changes() == []
    now[0] = beat + 61
    assert store.status_changes() == [SPT_ID]
    assert store.get(SPT_ID, refresh=False).status() == "stale"
    assert store.status_changes() == []  # reported once
