"""The event bus: fan-out by filter, bounded queues with resync, replay by Last-Event-ID, close."""
from __future__ import annotations

import threading
import time

import pytest

from viewer.live.bus import CLOSED, RESYNC, Bus


# -- helpers ----------------------------------------------------------------------------------

def overview(e):
    return e.audience == ""


def for_run(rid):
    return lambda e: e.audience == rid


def drain(sub):
    """Everything queued for ``sub`` right now (RESYNC as the string, events by name)."""
    out = []
    while True:
        item = sub.get(timeout=0)
        if item is None:
            return out
        out.append(item if item is RESYNC else item.name)


def publish_many(bus, n, audience="", prefix="e"):
    return [bus.publish(f"{prefix}{i}", i, audience) for i in range(n)]


# -- fan-out ----------------------------------------------------------------------------------

def test_publish_reaches_every_subscriber_that_wants_it_and_no_other():
    bus = Bus()
    a, b, c = bus.subscribe(overview), bus.subscribe(overview), bus.subscribe(for_run("r1"))
    internal = bus.subscribe(lambda e: e.audience == "_" and e.data == "/x.log")
    bus.publish("row", "<tr>")
    bus.publish("metrics", "{}", audience="r1")
    bus.publish("metrics", "{}", audience="r2")
    bus.publish("file", "/x.log", audience="_")
    bus.publish("file", "/y.log", audience="_")
    assert drain(a) == drain(b) == ["row"]
    got = c.get(timeout=0)
    assert (got.name, got.audience) == ("metrics", "r1") and c.get(timeout=0) is None
    got = internal.get(timeout=0)
    assert got.data == "/x.log" and internal.get(timeout=0) is None


def test_event_ids_carry_the_boot_and_increase():
    bus = Bus()
    ids = [e.id for e in publish_many(bus, 3)]
    assert all(i.startswith(bus.boot + "-") for i in ids)
    assert [int(i.split("-")[1]) for i in ids] == [1, 2, 3]
    assert Bus().boot != bus.boot


def test_get_returns_none_when_idle():
    sub = Bus().subscribe(overview)
    t0 = time.monotonic()
    assert sub.get(timeout=0.05) is None
    assert time.monotonic() - t0 < 2


# -- slow subscribers -------------------------------------------------------------------------

def test_slow_subscriber_gets_one_resync_then_new_events_while_a_fast_one_gets_all_in_order():
    bus = Bus(maxsize=512)
    slow = bus.subscribe(overview, maxsize=4)
    fast = bus.subscribe(overview)
    seen = []
    for i in range(20):
        bus.publish(f"e{i}", i)
        seen.append(fast.get(timeout=0).data)  # the fast one keeps up
    assert seen == list(range(20))
    assert fast.get(timeout=0) is None
    bus.publish("after1", 0)
    bus.publish("after2", 0)
    assert drain(slow) == [RESYNC, "after1", "after2"]
    assert slow.dropped >= 1
    assert drain(fast) == ["after1", "after2"]


def test_a_full_queue_never_holds_more_than_its_size():
    bus = Bus()
    slow = bus.subscribe(overview, maxsize=8)
    publish_many(bus, 10_000)
    assert len(slow.queue) <= 8
    got = drain(slow)
    assert got[0] == RESYNC and got.count(RESYNC) == 1 and len(got) <= 9


def test_a_subscriber_filtering_everything_out_never_overflows():
    bus = Bus()
    other = bus.subscribe(for_run("r1"), maxsize=2)
    publish_many(bus, 100)
    assert drain(other) == [] and other.dropped == 0


# -- replay -----------------------------------------------------------------------------------

def test_last_event_id_replays_exactly_the_wanted_events_after_it():
    bus = Bus()
    first = bus.publish("a", 1)
    bus.publish("m", 2, audience="r1")
    bus.publish("b", 3)
    bus.publish("c", 4)
    sub = bus.subscribe(overview, last_event_id=first.id)
    assert drain(sub) == ["b", "c"]
    run_sub = bus.subscribe(for_run("r1"), last_event_id=first.id)
    assert drain(run_sub) == ["m"]


def test_last_event_id_of_the_newest_event_replays_nothing():
    bus = Bus()
    last = publish_many(bus, 5)[-1]
    sub = bus.subscribe(overview, last_event_id=last.id)
    assert drain(sub) == []
    bus.publish("new", 0)
    assert drain(sub) == ["new"]


def test_a_page_drawn_now_resumes_from_last_id_and_misses_nothing_published_after():
    bus = Bus()
    assert bus.last_id() == f"{bus.boot}-0"  # nothing published yet: resumable all the same
    fresh = bus.subscribe(overview, last_event_id=bus.last_id())
    assert drain(fresh) == [] and not fresh.needs_resync
    bus.publish("before", 1)
    bus.publish("file", "/x", audience="_")  # internal events count too
    drawn = bus.last_id()                     # the page reads the store after this
    bus.publish("during", 2)                  # ... while its stream is still opening
    sub = bus.subscribe(overview, last_event_id=drawn)
    assert drain(sub) == ["during"]


@pytest.mark.parametrize("make_id", [
    lambda bus: "deadbeef-1",                    # another boot (the server restarted)
    lambda bus: "garbage",
    lambda bus: f"{bus.boot}-",
    lambda bus: f"{bus.boot}-x1",
    lambda bus: f"{bus.boot}-1-2",
    lambda bus: f"{bus.boot}-1",                 # older than the ring
])
def test_an_id_that_cannot_be_resumed_gives_resync(make_id):
    bus = Bus(history=16)
    publish_many(bus, 40)
    sub = bus.subscribe(overview, last_event_id=make_id(bus))
    assert drain(sub) == [RESYNC]


def test_events_left_out_for_want_of_listeners_make_an_older_id_resync():
    """A page's only stream breaks; a change comes while nobody listens (the publisher renders
    nothing); the page comes back with its last id: it must reload, not resume without it."""
    bus = Bus()
    seen = bus.publish("seen", 1).id       # the last event the page got
    assert bus.listened() is False          # nobody listens: this change is left out
    back = bus.subscribe(overview, last_event_id=seen)
    assert drain(back) == [RESYNC]
    drawn = bus.last_id()                   # a page drawn after the gap has the change
    bus.publish("after", 2)
    resumed = bus.subscribe(overview, last_event_id=drawn)
    assert drain(resumed) == ["after"]
    assert bus.listened() is True           # listeners: nothing left out, no new gap
    again = bus.subscribe(overview, last_event_id=drawn)
    assert drain(again) == ["after"]


def test_the_oldest_event_still_in_the_ring_can_be_resumed_from_just_before_it():
    bus = Bus(history=16)
    events = publish_many(bus, 40)
    kept = events[-16:]
    sub = bus.subscribe(overview, last_event_id=events[-17].id)
    assert drain(sub) == [e.name for e in kept]
    too_old = bus.subscribe(overview, last_event_id=events[-18].id)
    assert drain(too_old) == [RESYNC]


def test_replay_of_more_than_the_queue_holds_gives_resync():
    bus = Bus()
    first = bus.publish("a", 0)
    publish_many(bus, 50)
    sub = bus.subscribe(overview, last_event_id=first.id, maxsize=10)
    got = drain(sub)
    assert got[0] == RESYNC and got.count(RESYNC) == 1


def test_internal_events_are_not_kept_for_replay():
    bus = Bus()
    first = bus.publish("a", 0)
    bus.publish("file", "/x.log", audience="_")
    bus.publish("b", 0)
    assert all(e.audience != "_" for e in bus.history) and len(bus.history) == 2
    sub = bus.subscribe(lambda e: True, last_event_id=first.id)
    assert drain(sub) == ["b"]


# -- lifecycle --------------------------------------------------------------------------------

def test_unsubscribe_releases_the_subscriber():
    bus = Bus()
    subs = [bus.subscribe(overview) for _ in range(3)]
    assert bus.count() == 3
    for s in subs:
        bus.unsubscribe(s)
    assert bus.count() == 0
    bus.publish("row", 0)
    assert all(s.get(timeout=0) is CLOSED for s in subs)


def test_with_block_releases_the_subscriber_even_on_error():
    bus = Bus()
    with bus.subscribe(overview) as sub:
        assert bus.count() == 1
    assert bus.count() == 0 and sub.get(timeout=0) is CLOSED
    with pytest.raises(RuntimeError):
        with bus.subscribe(overview):
            raise RuntimeError("client went away")
    assert bus.count() == 0


def test_close_wakes_a_subscriber_blocked_in_get():
    bus = Bus()
    sub = bus.subscribe(overview)
    result = {}

    def wait():
        t0 = time.monotonic()
        result["got"] = sub.get(timeout=10)
        result["took"] = time.monotonic() - t0

    t = threading.Thread(target=wait, daemon=True)
    t.start()
    deadline = time.monotonic() + 5
    while not sub.cond._waiters and time.monotonic() < deadline:  # wait until it is blocked
        time.sleep(0.005)
    bus.close()
    t.join(5)
    assert not t.is_alive()
    assert result["got"] is CLOSED and result["took"] < 5
    assert bus.count() == 0


def test_subscribing_to_a_closed_bus_gives_closed():
    bus = Bus()
    bus.close()
    sub = bus.subscribe(overview)
    assert sub.get(timeout=0) is CLOSED and bus.count() == 0


def test_publish_wakes_a_subscriber_blocked_in_get():
    bus = Bus()
    sub = bus.subscribe(overview)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("got", sub.get(timeout=10)), daemon=True)
    t.start()
    deadline = time.monotonic() + 5
    while not sub.cond._waiters and time.monotonic() < deadline:
        time.sleep(0.005)
    event = bus.publish("row", 1)
    t.join(5)
    assert result.get("got") == event
