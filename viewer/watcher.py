"""Keeps the store in step with the disk.

For now one mode: polling, a cheap rescan every ``interval`` seconds (stat calls, and parsing
only appended bytes). The live path adds watchdog's inotify observer in front of it; the
periodic rescan stays as the safety net that catches what any event source missed.
"""
from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


class PollingWatcher:
    kind = "polling"

    def __init__(self, store, interval=10.0):
        self.store = store
        self.interval = interval
        self._stop = threading.Event()
        self._thread = None

    def poll_once(self):
        """One rescan; returns (changed run ids, vanished run ids)."""
        return self.store.scan()

    def _loop(self):
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # a bad tree must not kill the loop; the next pass retries
                log.exception("rescan of %s failed", self.store.root)
            self._stop.wait(self.interval)

    def start(self):
        self._thread = threading.Thread(target=self._loop, name="tailboard-poll", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout=2.0):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
