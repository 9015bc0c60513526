"""Keeps the store in step with the disk: inotify (watchdog) when it can, polling when it must.

The watcher only says *what changed* (paths, coalesced in a ChangeQueue); the store decides
what that means; ``publish(changes)`` hands the result on. A periodic full rescan catches
whatever any event source missed. The parts, each its own module:

- ``source``: inotify or polling for this root (``VIEWER_POLL``, network filesystems, limits);
- ``watchclient``: the watch process (``watchproc``) that runs inotify, seen from here;
- ``watchhost``: one watch process per host shared by every worker (``share``: its folder);
- ``supervisor``: restarts the loop, with backoff, whatever ended it; every (re)start begins
  with a full rescan, so nothing changed during an outage is lost;
- ``rootfolder``: the runs folder vanishing (its runs are dropped, and pages told) and
  coming back at that path (same or new inode: watched again and rescanned);
- ``heap``: the trim that keeps the server's RSS at what it uses.

``Watcher`` coordinates them: it owns the mode (``kind``, ``reason``) and the loop.
"""
from __future__ import annotations

import logging
import threading
import time

from ..data.polling import Poller
from ..data.store import Changes
from . import source
from .heap import release_free_heap
from .interest import Interest
from .rootfolder import RootFolder
from .supervisor import Supervisor
from .watchclient import WatchClient
from .watchhost import HostWatch
from .watchproc import ChangeQueue

log = logging.getLogger(__name__)

STATUS_EVERY = 5.0  # seconds between looks at the statuses time alone moves (running -> stale)
RELEASE_AFTER = 5.0  # a mapped run nobody asked for in this long leaves the resident set


class Watcher:
    """Runs the event source and one dispatch loop that turns changes into published updates.

    ``publish(changes)`` gets every Changes found; ``on_state(state())`` is called whenever the
    mode, the loop's life or the runs folder's presence changes. ``poll``: seconds between
    polling passes, forcing polling (``VIEWER_POLL``); ``rescan``: seconds between full walks;
    ``share``: a folder (in the cache) where the workers of this host share one watch process,
    or None for a watch process of its own.
    """

    def __init__(self, store, publish=lambda changes: None, poll=None, rescan=30.0, settle=0.005,
                 on_state=None, share=None):
        self.store = store
        self.publish = publish
        self.on_state = on_state
        self.forced_poll = poll
        self.poll_interval = poll or 1.0
        self.rescan = rescan
        self.kind = "inotify"
        self.reason = ""
        self.queue = ChangeQueue()
        self._stop = threading.Event()
        if share:
            self.client = HostWatch(store.root, self.queue, settle, self._stop, share)
        else:
            self.client = WatchClient(store.root, self.queue, settle, self._stop)
        self.folder = RootFolder(store.root)
        self.supervisor = Supervisor(self._loop, self._stop, on_down=self._notify)
        self.interest = Interest(lambda: self.kind == "polling")  # stat-polled with the runs
        self.poller = None  # polling.Poller once polling: passes that cost what changed

    # -- life ------------------------------------------------------------------------------

    def start(self, background=True):
        """Choose the source and start watching. ``background=False``: no thread nor process,
        one scan in this thread (tests and apps that call ``poll_once()`` themselves)."""
        self.kind, self.reason = source.choose(self.store.root, self.forced_poll)
        if self.kind == "polling":
            self.poller = Poller(self.store, self.poll_interval)  # before the first walk: it tells the folders
        if not background:
            self.poll_once()
            return self
        if self.kind == "inotify":
            self._watch()
        self.supervisor.start()
        return self

    def stop(self, timeout=2.0):
        self._stop.set()
        self.queue.wake()
        self.client.stop()
        self.supervisor.join(timeout)
        self.client.stop()  # one the loop started while we were stopping

    def alive(self):
        """True while the dispatch loop runs."""
        return self.supervisor.alive()

    def check(self):
        """Start the supervisor again if it is gone (called per ``/healthz``: a second line)."""
        self.supervisor.check()

    @property
    def problem(self):
        """What a user must be told, or ''."""
        return self.folder.problem

    def state(self):
        """The watcher's health, for ``/healthz`` and the pages' top bar."""
        return {"kind": self.kind, "reason": self.reason, "problem": self.problem,
                "alive": self.alive(), "restarts": self.supervisor.restarts,
                "last_failure": self.supervisor.failure, "inotify_restarts": self.client.restarts,
                "role": (self.client.role or "alone") if self.kind == "inotify" else "alone"}

    # -- the mode --------------------------------------------------------------------------

    def _watch(self):
        """Start a watch process on the folder now at the root's path, or poll if none can."""
        try:
            self.client.start()
        except OSError as e:  # ENOSPC: watch limit; EMFILE: instance limit
            self._fall_back(f"inotify is unavailable: {e.strerror or e}")

    def _fall_back(self, reason):
        log.warning("tailboard: polling every %gs: %s", self.poll_interval, reason)
        self.kind, self.reason = "polling", reason
        self.client.stop(reason)  # a shared watch process: every worker polls
        self._notify()

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
        if self.folder.settle():
            self._notify()
        if self.kind == "inotify" and not self.client.active and not self.folder.missing:
            self._watch()  # restarted loop, or the folder came back while the loop was down

    def _check_root(self):
        """Notice the runs folder vanishing, coming back or being replaced; True: rescan now."""
        what = self.folder.look()
        if what is None:
            return False
        if what == "gone":
            log.warning("tailboard: %s", self.problem)
            self.client.stop()  # its watches died with the folder
        else:
            if self.kind == "inotify":  # inotify watches inodes: watch the folder now at that path
                self.client.stop()
                self._watch()
            if what == "back":
                log.warning("tailboard: the runs folder %s is back", self.store.root)
        self._notify()
        return True

    def _inotify_pass(self):
        """Publish what the watch process reported; True when events were lost (walk now)."""
        # settle=0: the watch process already let the burst settle
        paths, full = self.queue.drain(timeout=1.0, settle=0)
        if self.client.overflows >= source.OVERFLOWS_BEFORE_POLLING:
            self._fall_back(f"the inotify queue overflowed {self.client.overflows} times")
            full = True
        elif self.client.lost:
            why = self.client.restart()
            if why:
                self._fall_back(why)
            full = True  # events were lost while it was down
        if not full and paths:
            self._publish(self.store.apply(paths))
        return full

    def _polling_pass(self):
        """Re-list the folders that moved, stat the files that can change and what open pages
        look at; publish what moved."""
        if self.poller is None:  # fell back from inotify: the first pass walks, to know the folders
            self.poller = Poller(self.store, self.poll_interval)
        self._publish(self.poller.poll())
        looked_at = self.interest.changed()
        if looked_at:
            self._publish(self.store.apply(looked_at))

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
                if self.folder.missing:  # look again every second
                    self._stop.wait(min(self.poll_interval, 1.0))
                    continue
                if self.kind == "inotify":
                    if self._inotify_pass():
                        last_walk = 0.0  # events were lost: walk now
                    walk_every = self.rescan
                else:
                    if self._stop.wait(self.poll_interval):
                        break
                    self._polling_pass()
                    walk_every = self.rescan  # new folders show in their parent's mtime: no extra walks
                now = time.monotonic()
                if now - last_walk >= walk_every:
                    self.poll_once()
                    last_walk = now
                if now - last_status >= STATUS_EVERY:  # time alone turns running into stale
                    moved = self.store.status_changes()
                    if moved:
                        self._publish(Changes(changed=moved))
                    last_status = now
                    self.store.budget.release_idle(RELEASE_AFTER)  # RSS follows what is looked at
                    if self.store.columns is not None:
                        self.store.columns.prune_when_due()  # the cache's disk use kept under VIEWER_CACHE_MB
                    release_free_heap()
            except Exception:  # a bad tree must not kill the loop; the next pass retries
                log.exception("tailboard: watching %s failed", self.store.root)
                self._stop.wait(1.0)
