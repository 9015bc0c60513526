"""Fan-out of change events to subscribers, each with a bounded queue.

Events carry ids ``<boot>-<seq>`` so a reconnecting client can resume from ``Last-Event-ID``
(replayed from a ring of recent events) or, when that is impossible (another boot, too old,
or its queue overflowed), gets one ``resync`` and reloads what it shows. A slow client never
grows memory nor stalls the others: when its queue is full it is emptied and marked for resync.
Only ``threading`` primitives are used, which gevent patches into greenlet-aware ones, so the
same code serves real threads (dev server) and greenlets (gunicorn -k gevent).
"""
from __future__ import annotations

import collections
import os
import re
import threading
from dataclasses import dataclass


@dataclass
class Event:
    id: str
    name: str          # SSE event name: row, runset, counts, scan, run, metrics, file...
    data: object       # already rendered text (SSE) or a plain object (internal events)
    audience: str = "" # "" = overview pages; a run id = that run's pages; "_" = internal
    _text: str = None

    def text(self, encode):
        """The event encoded for the wire, once for all subscribers (1,000 pages, one format)."""
        if self._text is None:
            self._text = encode(self.id, self.name, self.data)
        return self._text


RESYNC = "resync"
CLOSED = object()
# ``<boot>-<seq>`` as this bus writes them; anything else (non-ASCII digits, 4,000 digits) resyncs
EVENT_ID = re.compile(r"([0-9a-f]{1,16})-([0-9]{1,18})", re.ASCII)


class Subscriber:
    def __init__(self, bus, wants, maxsize):
        self.bus = bus
        self.wants = wants
        self.maxsize = maxsize
        self.queue = collections.deque()
        self.cond = threading.Condition()
        self.needs_resync = False
        self.closed = False
        self.dropped = 0

    def put(self, event):
        with self.cond:
            if self.closed:
                return
            if len(self.queue) >= self.maxsize:
                self.queue.clear()  # too slow: forget the backlog, resynchronise instead
                self.needs_resync = True
                self.dropped += 1
            else:
                self.queue.append(event)
            self.cond.notify()

    def get(self, timeout=None):
        """The next Event, ``RESYNC``, ``CLOSED``, or None after ``timeout`` seconds."""
        with self.cond:
            if not (self.queue or self.needs_resync or self.closed):
                self.cond.wait(timeout)
            if self.closed:
                return CLOSED
            if self.needs_resync:
                self.needs_resync = False
                return RESYNC
            return self.queue.popleft() if self.queue else None

    def close(self):
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.bus.unsubscribe(self)


class Bus:
    def __init__(self, history=2048, maxsize=512):
        self.boot = os.urandom(4).hex()
        self.last_seq = 0  # the newest event's sequence number
        # events up to this sequence number were left out (nobody listened): ids before it resync
        self.gap = 0
        self.history = collections.deque(maxlen=history)
        self.maxsize = maxsize
        self.lock = threading.Lock()
        self.subscribers = set()
        self.closed = False

    def publish(self, name, data, audience=""):
        """Send an event to every subscriber that wants it; returns the Event."""
        with self.lock:
            self.last_seq += 1
            event = Event(f"{self.boot}-{self.last_seq}", name, data, audience)
            if audience != "_":
                self.history.append(event)
            subs = list(self.subscribers)
        for s in subs:
            if s.wants(event):
                s.put(event)
        return event

    def last_id(self):
        """The id of the newest event: a page drawn now subscribes from it, so that nothing
        published between drawing it and opening its stream is lost."""
        with self.lock:
            return f"{self.boot}-{self.last_seq}"

    def listened(self):
        """Whether anyone listens. When nobody does, the caller may leave events out (not render
        them); the bus then takes a sequence number for the gap, so that a client resuming from
        an id before it (a page's only stream, back after a break; a page drawn before the gap)
        gets a resync rather than a replay with the changes silently missing."""
        with self.lock:
            if self.subscribers:
                return True
            self.last_seq += 1
            self.gap = self.last_seq
            return False

    def subscribe(self, wants, last_event_id=None, maxsize=None):
        """A new Subscriber; with ``last_event_id`` it first gets what it missed, or a resync."""
        sub = Subscriber(self, wants, maxsize or self.maxsize)
        with self.lock:
            if self.closed:
                sub.closed = True
                return sub
            missed = self._since(last_event_id) if last_event_id else []
            if missed is None:
                sub.needs_resync = True
            else:
                for e in missed:
                    if wants(e):
                        sub.put(e)
            self.subscribers.add(sub)  # last: a failure above leaves nothing registered
        return sub

    def _since(self, last_event_id):
        m = EVENT_ID.fullmatch(last_event_id)
        if m is None or m.group(1) != self.boot:
            return None
        seq = int(m.group(2))
        if seq < self.gap:
            return None  # events after it were left out: nobody listened
        events = list(self.history)
        if events and int(events[0].id.split("-")[1]) > seq + 1:
            return None  # the ring no longer holds everything after it
        return [e for e in events if int(e.id.split("-")[1]) > seq]

    def unsubscribe(self, sub):
        with self.lock:
            self.subscribers.discard(sub)
        sub.close()

    def count(self):
        with self.lock:
            return len(self.subscribers)

    def close(self):
        """Wake every subscriber with CLOSED (shutdown)."""
        with self.lock:
            self.closed = True
            subs = list(self.subscribers)
            self.subscribers.clear()
        for s in subs:
            s.close()
