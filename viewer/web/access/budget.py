"""The failure budget: at most so many wrong tokens per client address in a window (past it,
429 with ``Retry-After``, and the token given is not even compared)."""
from __future__ import annotations

import collections
import ipaddress
import threading
import time


class FailureBudget:
    """At most ``limit`` wrong tokens per client address in any ``window`` seconds.

    Bounded: at most ``max_clients`` addresses are tracked; when full (and none has aged out),
    new addresses share one overflow entry, so flooding from many addresses neither grows the
    memory nor resets anyone's budget. IPv6 addresses count per /64 (one host holds a /64).
    """

    def __init__(self, limit=10, window=60.0, max_clients=10000, clock=time.monotonic):
        self.limit, self.window, self.max_clients, self.clock = limit, window, max_clients, clock
        self._fails = collections.OrderedDict()   # client -> deque of failure times
        self._lock = threading.Lock()

    @staticmethod
    def client(address):
        try:
            ip = ipaddress.ip_address((address or "").split("%")[0])
        except ValueError:
            return address or "?"
        if ip.version == 6:
            if ip.ipv4_mapped:
                return str(ip.ipv4_mapped)
            return str(ipaddress.ip_network(f"{ip}/64", strict=False))
        return str(ip)

    def _recent(self, key, now):
        times = self._fails.get(key)
        while times and times[0] <= now - self.window:
            times.popleft()
        if times is not None and not times:
            del self._fails[key]
            return None
        return times

    def retry_after(self, address):
        """Seconds until this client may try again (0: it may now)."""
        now = self.clock()
        with self._lock:
            key = self._key(self.client(address), now, create=False)
            times = self._recent(key, now) if key else None
            if times is None or len(times) < self.limit:
                return 0
            return max(1, int(times[0] + self.window - now + 0.999))

    def fail(self, address):
        now = self.clock()
        with self._lock:
            key = self._key(self.client(address), now, create=True)
            times = self._fails.setdefault(key, collections.deque(maxlen=self.limit))
            times.append(now)
            self._fails.move_to_end(key)

    def _key(self, key, now, create):
        if key in self._fails:
            return key
        if len(self._fails) < self.max_clients:
            return key
        for old in list(self._fails)[:64]:   # the least recently failing ones, aged out
            self._recent(old, now)
        if len(self._fails) < self.max_clients:
            return key
        return "overflow" if (create or "overflow" in self._fails) else None
