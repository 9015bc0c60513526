"""Keeps the store in step with the disk: inotify (watchdog) when it can, polling when it must.

The watcher only says *what changed* (paths, coalesced in a ChangeQueue); the store decides
what that means; ``publish(changes)`` hands the result on. Polling is chosen by itself when
inotify cannot serve: the root is on a network filesystem (remote writes raise no event), the
per-user watch or instance limit is reached, or the kernel queue keeps overflowing.
``VIEWER_POLL`` forces it. A periodic full rescan catches whatever any event source missed.

Faults: the dispatch loop runs in a thread that a supervisor restarts (with backoff) whatever
ended it, and every (re)start begins with a full rescan, so nothing changed during an outage
is lost. A killed watch process is restarted a few times before polling takes over. A runs
folder that vanishes (deleted, renamed away, unmounted) drops its runs and says so; when a
folder is back at that path (same or new inode) it is watched again and rescanned.
"""
from __future__ import annotations

import collections
import json
import logging
import os
import stat
import subprocess
import sys
import threading
import time

from .interest import Interest
from ..data.store import Changes
from .watchproc import ChangeQueue

log = logging.getLogger(__name__)

NETWORK_FS = frozenset((
    "nfs", "nfs4", "lustre", "cifs", "smb3", "smbfs", "ncpfs", "afs", "9p", "ceph", "gpfs",
    "beegfs", "glusterfs", "fuse.glusterfs", "fuse.sshfs", "fuse.s3fs", "fuse.rclone",
    "fuse.gcsfuse", "panfs", "wekafs", "pvfs2", "orangefs", "fuse.juicefs"))
OVERFLOWS_BEFORE_POLLING = 3
INOTIFY_RESTARTS = 3        # watch-process deaths restarted within RESTART_WINDOW; the next one polls
RESTART_WINDOW = 600.0
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0  # seconds before restarting a dead loop, doubling
HEALTHY_AFTER = 60.0        # a loop alive this long is healthy again: the backoff restarts small
SUPERVISE_EVERY = 0.25      # how often the supervisor looks at the loop


def filesystem_type(path, mounts="/proc/mounts"):
    """The type of the filesystem holding ``path`` (longest matching mount point), or ''."""
    path = os.path.realpath(path)
    best, kind = "", ""
    try:
        with open(mounts, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3:
                    continue
                point = parts[1].replace("\\040", " ")
                inside = path == point or path.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= len(best):
                    best, kind = point, parts[2]
    except OSError:
        return ""
    return kind


def _malloc_trim():
    try:
        import ctypes

        return ctypes.CDLL(None).malloc_trim  # glibc; absent elsewhere
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


def release_free_heap():
    """Give the free pages inside the heap back to the system (glibc's ``malloc_trim``).

    Series arrays grow by ``realloc`` between the event strings of a busy server; the holes
    they leave are free but stay resident, so RSS grew 14 MB/min faster than the data in the
    soak bench. A trim every few seconds keeps RSS at what is really in use.
    """
    if _TRIM is not None:
        _TRIM(0)


class Watcher:
    """Runs the event source and one dispatch loop that turns changes into published updates.

    A supervisor thread restarts the loop whatever ends it (a BaseException, a bug before its
    ``try``), after a backoff; ``state()`` says how it goes (``/healthz``). ``on_state`` is
    called with ``state()`` whenever the mode or the runs folder's presence changes.
    """

    def __init__(self, store, publish=lambda changes: None, poll=None, rescan=30.0, settle=0.005):
        self.store = store
        self.publish = publish
        self.forced_poll = poll
        self.poll_interval = poll or 1.0
        self.rescan = rescan
        self.settle = settle
        self.kind = "inotify"
        self.reason = ""
        self.queue = ChangeQueue()
        self.overflows = 0
        self.proc = None
        self.lost = ""            # set when the watch process reports it cannot go on
        self.on_state = None
        self.restarts = 0         # dispatch loop restarts by the supervisor
        self.failure = None       # {"error", "at"}: what last ended the loop
        self.inotify_restarts = 0
        self.root_missing = False
        self._deaths = collections.deque()  # monotonic times the watch process died
        self._root_id = None
        self._backoff = BACKOFF_FIRST
        self._down_since = None
        self._loop_started = 0.0
        self._failed = None       # the loop thread whose failure is recorded
        self._stop = threading.Event()
        self._thread = None
        self._supervisor = None
        self.interest = Interest(lambda: self.kind == "polling")  # stat-polled with the runs

    # -- choosing the source ---------------------------------------------------------------

    def choose(self):
        """('inotify'|'polling', reason) for this root, before trying inotify itself."""
        if self.forced_poll:
            return "polling", f"forced by VIEWER_POLL={self.forced_poll:g}"
        fs = filesystem_type(self.store.root)
        if fs in NETWORK_FS:
            return "polling", f"the root is on {fs}, where writes from other machines raise no inotify event"
        return "inotify", ""

    def _start_inotify(self):
        """Start the watch process and the reader that feeds its batches into the queue."""
        # run by file path, not -m: the process needs watchdog only, not Flask and the store
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "watchproc.py")
        proc = subprocess.Popen([sys.executable, script, self.store.root, str(self.settle)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        first = proc.stdout.readline().decode(errors="replace").strip()
        if first != "!ready":
            proc.kill()
            proc.wait()
            raise OSError(first[len("!error "):] if first.startswith("!error ") else
                          "the inotify watch process did not start")
        self.proc = proc
        threading.Thread(target=self._read_proc, args=(proc,), name="tailboard-inotify-reader",
                         daemon=True).start()

    def _read_proc(self, proc):
        for raw in proc.stdout:
            line = raw.decode(errors="replace").strip()
            if line == "!overflow":
                self.on_overflow()
            elif line.startswith("!error"):
                if proc is self.proc:
                    self.lost = line[len("!error "):]
                    self.queue.wake()
            elif line.startswith("["):
                self.queue.put_many(json.loads(line))
        # a process we stopped or replaced ourselves is no loss
        if not self._stop.is_set() and not self.lost and proc is self.proc:
            self.lost = "the inotify watch process exited"
            self.queue.wake()

    def _fall_back(self, reason):
        log.warning("tailboard: polling every %gs: %s", self.poll_interval, reason)
        self.kind, self.reason = "polling", reason
        self._stop_observer()
        self._notify()

    def _watch_process_lost(self):
        """The watch process died: start a new one, or poll after too many deaths lately."""
        reason, self.lost = self.lost, ""
        self._stop_observer()
        if "limit" in reason:  # a new folder past the watch limit: a new process would fail too
            self._fall_back(reason)
            return
        now = time.monotonic()
        self._deaths.append(now)
        while self._deaths and now - self._deaths[0] > RESTART_WINDOW:
            self._deaths.popleft()
        if len(self._deaths) > INOTIFY_RESTARTS:
            self._fall_back(f"{reason} {len(self._deaths)} times in {RESTART_WINDOW / 60:g} minutes")
            return
        try:
            self._start_inotify()
        except OSError as e:
            self._fall_back(f"{reason}, and could not be restarted: {e.strerror or e}")
            return
        self.inotify_restarts += 1
        log.warning("tailboard: %s; restarted it (%d so far)", reason, self.inotify_restarts)

    def on_overflow(self):
        self.overflows += 1
        self.queue.overflow()

    # -- the runs folder itself ------------------------------------------------------------

    def _root_identity(self):
        try:
            st = os.stat(self.store.root)
        except OSError:  # gone, or a dead mount (ESTALE, EIO)
            return None
        return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None

    @property
    def problem(self):
        """What a user must be told, or ''."""
        return f"the runs folder {self.store.root} is missing" if self.root_missing else ""

    def _check_root(self):
        """Notice the runs folder vanishing, coming back or being replaced; True: rescan now."""
        ident = self._root_identity()
        if ident == self._root_id:
            return False
        self._root_id = ident
        if ident is None:
            self.root_missing = True
            log.warning("tailboard: %s", self.problem)
            self._stop_observer()  # its watches died with the folder
        else:
            if self.kind == "inotify":  # inotify watches inodes: watch the folder now at that path
                self._stop_observer()
                try:
                    self._start_inotify()
                except OSError as e:
                    self._fall_back(f"inotify is unavailable: {e.strerror or e}")
            if self.root_missing:
                log.warning("tailboard: the runs folder %s is back", self.store.root)
            self.root_missing = False
        self._notify()
        return True

    def _notify(self):
        if self.on_state is not None:
            try:
                self.on_state(self.state())
            except Exception:  # telling pages must not stop the watcher
                log.exception("tailboard: publishing the watcher state failed")

    # -- the loop --------------------------------------------------------------------------

    def poll_once(self):
        """One full pass (walk + refresh), published; deterministic for tests."""
        changes = self.store.scan()
        self._publish(changes)
        return changes

    def _publish(self, changes):
        if changes:
            try:
                self.publish(changes)
            except Exception:  # a rendering bug must not stop the watcher
                log.exception("tailboard: publishing changes failed")

    def _begin(self):
        """Where a (re)started loop stands: the folder's presence, and a watch process."""
        self._root_id = ident = self._root_identity()
        if self.root_missing != (ident is None):
            self.root_missing = ident is None
            self._notify()
        if self.kind == "inotify" and self.proc is None and ident is not None:
            try:  # restarted loop, or the folder came back while the loop was down
                self._start_inotify()
            except OSError as e:
                self._fall_back(f"inotify is unavailable: {e.strerror or e}")

    def _loop(self):
        self._begin()
        self.poll_once()  # the first scan, with progress; after a restart, what the outage missed
        self.store.status_changes()
        last_walk = last_status = time.monotonic()
        while not self._stop.is_set():
            try:
                if self._check_root():  # gone (its runs dropped) or back (found again): walk now
                    self.poll_once()
                    last_walk = time.monotonic()
                if self.root_missing:  # look again every second
                    self._stop.wait(min(self.poll_interval, 1.0))
                    continue
                if self.kind == "inotify":
                    # settle=0: the watch process already let the burst settle
                    paths, full = self.queue.drain(timeout=1.0, settle=0)
                    if self.overflows >= OVERFLOWS_BEFORE_POLLING:
                        self._fall_back(f"the inotify queue overflowed {self.overflows} times")
                        full = True
                    elif self.lost:
                        self._watch_process_lost()
                        full = True  # events were lost while it was down
                    if full:
                        last_walk = 0.0  # events were lost: walk now
                    elif paths:
                        self._publish(self.store.apply(paths))
                    walk_every = self.rescan
                else:
                    if self._stop.wait(self.poll_interval):
                        break
                    self._publish(self.store.poll())
                    looked_at = self.interest.changed()
                    if looked_at:
                        self._publish(self.store.apply(looked_at))
                    # new run folders only show up in a walk: walk more often when polling
                    walk_every = min(self.rescan, max(5.0, 10 * self.poll_interval))
                now = time.monotonic()
                if now - last_walk >= walk_every:
                    self.poll_once()
                    last_walk = now
                if now - last_status >= 5.0:  # time alone turns running into stale
                    moved = self.store.status_changes()
                    if moved:
                        self._publish(Changes(changed=moved))
                    last_status = now
                    release_free_heap()
            except Exception:  # a bad tree must not kill the loop; the next pass retries
                log.exception("tailboard: watching %s failed", self.store.root)
                self._stop.wait(1.0)

    def _run_loop(self):
        """The loop thread's body: whatever ends it is recorded for the supervisor."""
        try:
            self._loop()
        except BaseException as e:  # noqa: B036 - SystemExit, MemoryError, GreenletExit: all recorded
            if not self._stop.is_set():
                self._failed = threading.current_thread()
                self.failure = _failure(f"{type(e).__name__}: {e}".rstrip(": "))
                log.error("tailboard: the watcher loop died", exc_info=True)

    def _spawn_loop(self):
        self._loop_started = time.monotonic()
        self._thread = threading.Thread(target=self._run_loop, name="tailboard-watcher", daemon=True)
        self._thread.start()

    # -- supervision -----------------------------------------------------------------------

    def _supervise(self):
        while not self._stop.is_set():
            try:
                self._check_loop()
            except BaseException:  # noqa: B036 - the supervisor outlives whatever it sees
                if self._stop.is_set():
                    return
                log.exception("tailboard: supervising the watcher failed")
            self._stop.wait(SUPERVISE_EVERY)

    def _check_loop(self):
        """Restart a dead loop once its backoff has passed (doubling, reset when healthy)."""
        now = time.monotonic()
        t = self._thread
        if t is not None and t.is_alive():
            if now - self._loop_started >= HEALTHY_AFTER:
                self._backoff = BACKOFF_FIRST
            return
        if self._stop.is_set():
            return
        if self._down_since is None:
            self._down_since = now
            if t is not None and self._failed is not t:  # ended without a word (killed)
                self.failure = _failure("the watcher loop ended")
            log.warning("tailboard: the watcher loop is down; restarting in %gs", self._backoff)
            self._notify()
        if now - self._down_since < self._backoff:
            return
        self._down_since = None
        self._backoff = min(self._backoff * 2, BACKOFF_MAX)
        self.restarts += 1
        log.warning("tailboard: restarting the watcher loop (restart %d)", self.restarts)
        self._spawn_loop()

    def alive(self):
        """True while the dispatch loop runs."""
        return self._thread is not None and self._thread.is_alive()

    def check(self):
        """Start the supervisor again if it is gone (called per ``/healthz``: a second line)."""
        if self._supervisor is not None and not self._supervisor.is_alive() and not self._stop.is_set():
            log.error("tailboard: the watcher supervisor was gone; starting it again")
            self._start_supervisor()

    def state(self):
        """The watcher's health, for ``/healthz`` and the pages' top bar."""
        return {"kind": self.kind, "reason": self.reason, "problem": self.problem,
                "alive": self.alive(), "restarts": self.restarts, "last_failure": self.failure,
                "inotify_restarts": self.inotify_restarts}

    def _start_supervisor(self):
        self._supervisor = threading.Thread(target=self._supervise, name="tailboard-watch-supervisor",
                                            daemon=True)
        self._supervisor.start()

    def start(self):
        self.kind, self.reason = self.choose()
        if self.kind == "inotify":
            try:
                self._start_inotify()
            except OSError as e:  # ENOSPC: watch limit; EMFILE: instance limit
                self._fall_back(f"inotify is unavailable: {e.strerror or e}")
        self._spawn_loop()
        self._start_supervisor()
        return self

    def _stop_observer(self):
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                proc.stdin.close()  # the watch process exits at EOF on its stdin
                proc.wait(1.0)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()

    def stop(self, timeout=2.0):
        self._stop.set()
        self.queue.wake()
        self._stop_observer()
        for t in (self._supervisor, self._thread):
            if t is not None:
                t.join(timeout)
        self._stop_observer()  # one the loop started while we were stopping


def _failure(error):
    return {"error": error, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
