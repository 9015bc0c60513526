"""Keeps the watcher's loop alive: restarts it, after a backoff, whatever ended it.

``Supervisor`` runs a body in a thread (a greenlet under gevent) and a second thread that
looks at it every ``SUPERVISE_EVERY`` seconds: a dead loop is restarted after a backoff that
doubles up to ``BACKOFF_MAX`` and starts small again once a loop stayed up ``HEALTHY_AFTER``
seconds. ``RestartLimit`` is the other budget: how many watch-process deaths are restarted
before polling takes over.
"""
from __future__ import annotations

import collections
import logging
import threading
import time

log = logging.getLogger(__name__)

BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0  # seconds before restarting a dead loop, doubling
HEALTHY_AFTER = 60.0        # a loop alive this long is healthy again: the backoff restarts small
SUPERVISE_EVERY = 0.25      # how often the supervisor looks at the loop
INOTIFY_RESTARTS = 3        # watch-process deaths restarted within RESTART_WINDOW; the next one polls
RESTART_WINDOW = 600.0


class Supervisor:
    """Runs ``body()`` in a thread named ``name`` and restarts it whatever ends it (a
    BaseException, a bug before its ``try``, a killed greenlet) unless ``stop`` is set.

    ``restarts`` and ``failure`` (``{"error", "at"}``: what last ended the loop) are for
    ``/healthz``; ``on_down()`` is called when a dead loop is first noticed.
    """

    def __init__(self, body, stop, on_down=lambda: None, name="tailboard-watcher"):
        self.body = body
        self.stop = stop
        self.on_down = on_down
        self.name = name
        self.restarts = 0
        self.failure = None
        self._backoff = BACKOFF_FIRST
        self._down_since = None
        self._loop_started = 0.0
        self._failed = None       # the loop thread whose failure is recorded
        self._thread = None
        self._supervisor = None

    def start(self):
        """Start the loop and the thread that watches it."""
        self._spawn_loop()
        self._start_supervisor()

    def alive(self):
        """True while the loop runs."""
        return self._thread is not None and self._thread.is_alive()

    def check(self):
        """Start the supervisor again if it is gone (called per ``/healthz``: a second line)."""
        if self._supervisor is not None and not self._supervisor.is_alive() and not self.stop.is_set():
            log.error("tailboard: the watcher supervisor was gone; starting it again")
            self._start_supervisor()

    def join(self, timeout):
        """Wait for both threads once ``stop`` is set."""
        for t in (self._supervisor, self._thread):
            if t is not None:
                t.join(timeout)

    def _run_loop(self):
        """The loop thread's body: whatever ends it is recorded for the supervisor."""
        try:
            self.body()
        except BaseException as e:  # noqa: B036 - SystemExit, MemoryError, GreenletExit: all recorded
            if not self.stop.is_set():
                self._failed = threading.current_thread()
                self.failure = _failure(f"{type(e).__name__}: {e}".rstrip(": "))
                log.error("tailboard: the watcher loop died", exc_info=True)

    def _spawn_loop(self):
        self._loop_started = time.monotonic()
        self._thread = threading.Thread(target=self._run_loop, name=self.name, daemon=True)
        self._thread.start()

    def _start_supervisor(self):
        self._supervisor = threading.Thread(target=self._supervise, name="tailboard-watch-supervisor",
                                            daemon=True)
        self._supervisor.start()

    def _supervise(self):
        while not self.stop.is_set():
            try:
                self._check_loop()
            except BaseException:  # noqa: B036 - the supervisor outlives whatever it sees
                if self.stop.is_set():
                    return
                log.exception("tailboard: supervising the watcher failed")
            self.stop.wait(SUPERVISE_EVERY)

    def _check_loop(self):
        """Restart a dead loop once its backoff has passed (doubling, reset when healthy)."""
        now = time.monotonic()
        t = self._thread
        if t is not None and t.is_alive():
            if now - self._loop_started >= HEALTHY_AFTER:
                self._backoff = BACKOFF_FIRST
            return
        if self.stop.is_set():
            return
        if self._down_since is None:
            self._down_since = now
            if t is not None and self._failed is not t:  # ended without a word (killed)
                self.failure = _failure("the watcher loop ended")
            log.warning("tailboard: the watcher loop is down; restarting in %gs", self._backoff)
            self.on_down()
        if now - self._down_since < self._backoff:
            return
        self._down_since = None
        self._backoff = min(self._backoff * 2, BACKOFF_MAX)
        self.restarts += 1
        log.warning("tailboard: restarting the watcher loop (restart %d)", self.restarts)
        self._spawn_loop()


class RestartLimit:
    """At most ``limit`` restarts within ``window`` seconds; one failure more and the caller
    gives up (the watch process: polling takes over)."""

    def __init__(self, limit=INOTIFY_RESTARTS, window=RESTART_WINDOW, clock=time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._failures = collections.deque()  # clock times of the failures within the window

    def failed(self):
        """Count one failure now; True while a restart is still allowed."""
        now = self.clock()
        self._failures.append(now)
        while self._failures and now - self._failures[0] > self.window:
            self._failures.popleft()
        return len(self._failures) <= self.limit

    def exceeded(self):
        """Why restarting stopped, to end the caller's reason with."""
        return f"{len(self._failures)} times in {self.window / 60:g} minutes"


def _failure(error):
    return {"error": error, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
