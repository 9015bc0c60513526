"""The parent side of the watch process (``watchproc.py``): start it, read its lines, stop it.

The process speaks one line at a time on its stdout: ``!ready`` once watching, a JSON list of
changed paths per coalesced burst, ``!overflow`` when the kernel dropped events, and
``!error <reason>`` before it exits. A reader thread turns the lines into the watcher's
``ChangeQueue``; closing the process's stdin stops it. A process that dies unasked is
restarted a few times (``RestartLimit``) before polling takes over.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading

from .source import limit_reached
from .supervisor import RestartLimit

log = logging.getLogger(__name__)

# run by file path, not -m: the process needs watchdog only, not Flask and the store
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "watchproc.py")


class WatchClient:
    """One watch process at a time over ``root``, feeding ``queue``.

    ``lost`` holds why the process can no longer serve (it said so, or exited unasked) until
    ``restart()`` deals with it; ``overflows`` counts the kernel queue overflows it reported;
    ``restarts`` the processes started again after a loss. ``stopping`` (an Event) set means
    an exit is expected.
    """

    role = "alone"  # this worker's own process (``watchhost.HostWatch`` shares one per host)

    def __init__(self, root, queue, settle, stopping, relay=None):
        self.root = root
        self.relay = relay  # called with each batch and ``!overflow`` line (the owner passes them on)
        self.queue = queue
        self.settle = settle
        self.stopping = stopping
        self.proc = None
        self.lost = ""
        self.overflows = 0
        self.restarts = 0
        self.limit = RestartLimit()

    def start(self):
        """Start a watch process and the reader that feeds its batches into the queue;
        OSError when inotify cannot serve (ENOSPC: watch limit; EMFILE: instance limit)."""
        proc = subprocess.Popen([sys.executable, SCRIPT, self.root, str(self.settle)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        first = proc.stdout.readline().decode(errors="replace").strip()
        if first != "!ready":
            proc.kill()
            proc.wait()
            raise OSError(first[len("!error "):] if first.startswith("!error ") else
                          "the inotify watch process did not start")
        self.proc = proc
        threading.Thread(target=self._read, args=(proc,), name="tailboard-inotify-reader",
                         daemon=True).start()

    @property
    def active(self):
        """True while a watch process serves this worker."""
        return self.proc is not None

    def stop(self, reason=""):
        """Stop the process if there is one (it exits at EOF on its stdin); ``reason``: why
        polling takes over, for whoever shares it (nobody here)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                proc.stdin.close()
                proc.wait(1.0)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()

    def restart(self):
        """The process was lost: start a new one. Returns '' when it runs again, else why
        polling must take over (a kernel limit, too many deaths lately, a failed start)."""
        reason, self.lost = self.lost, ""
        self.stop()
        if limit_reached(reason):  # a new folder past the watch limit: a new process would fail too
            return reason
        if not self.limit.failed():
            return f"{reason} {self.limit.exceeded()}"
        try:
            self.start()
        except OSError as e:
            return f"{reason}, and could not be restarted: {e.strerror or e}"
        self.restarts += 1
        log.warning("tailboard: %s; restarted it (%d so far)", reason, self.restarts)
        return ""

    def _read(self, proc):
        for raw in proc.stdout:
            line = raw.decode(errors="replace").strip()
            if line == "!overflow":
                self.overflows += 1
                self.queue.overflow()
                self._relay(raw)
            elif line.startswith("!error"):
                if proc is self.proc:
                    self.lost = line[len("!error "):]
                    self.queue.wake()
            elif line.startswith("["):
                self.queue.put_many(json.loads(line))
                self._relay(raw)
        # a process we stopped or replaced ourselves is no loss
        if not self.stopping.is_set() and not self.lost and proc is self.proc:
            self.lost = "the inotify watch process exited"
            self.queue.wake()

    def _relay(self, raw):
        if self.relay is not None:
            try:
                self.relay(raw)
            except Exception:  # a follower's trouble must not stop this worker's own updates
                log.exception("tailboard: passing a watch batch on failed")
