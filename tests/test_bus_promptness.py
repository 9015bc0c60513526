"""The bus hands over what is waiting at once: a page's stream never sits out a heartbeat
(``get``'s timeout) while an event or a resync is already queued for it.

Written from mutmut's survivors in viewer/live/bus.py: ``get`` waiting out its timeout when the
queue held events (``queue and needs_resync``) or when only a resync was due survived every
test, which all asked with short timeouts or checked only what came back, not when.
"""
from __future__ import annotations

import time

from viewer.live.bus import CLOSED, RESYNC, Bus

PATIENT = 5.0   # a heartbeat-sized timeout: an answer that waits for it is a stalled page
PROMPT = 1.0


def timed_get(sub):
    t0 = time.monotonic()
    got = sub.get(timeout=PATIENT)
    return got, time.monotonic() - t0


def test_a_queued_event_is_handed_over_without_waiting():
    bus = Bus()
    sub = bus.subscribe(lambda e: True)
    bus.publish("row", "<tr>1</tr>")
    got, took = timed_get(sub)
    assert got.name == "row" and got.data == "<tr>1</tr>" and took < PROMPT, took


def test_a_due_resync_is_handed_over_without_waiting():
    bus = Bus(maxsize=2)
    sub = bus.subscribe(lambda e: True)
    for i in range(3):  # one more than the queue holds: the backlog is dropped for a resync
        bus.publish("row", str(i))
    got, took = timed_get(sub)
    assert got is RESYNC and took < PROMPT, took
    assert sub.get(timeout=0) is None  # nothing else was left behind


def test_a_reconnect_from_an_unknown_id_resyncs_at_once():
    bus = Bus()
    sub = bus.subscribe(lambda e: True, last_event_id="0000-1")
    got, took = timed_get(sub)
    assert got is RESYNC and took < PROMPT, took


def test_closing_the_bus_ends_a_waiting_stream_at_once():
    bus = Bus()
    sub = bus.subscribe(lambda e: True)
    bus.unsubscribe(sub)
    got, took = timed_get(sub)
    assert got is CLOSED and took < PROMPT, took
