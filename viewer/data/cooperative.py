"""Long loops give the other connections a turn.

Under ``gunicorn -k gevent`` every connection of a worker shares one OS thread: a request that
computes for 2 s without yielding freezes every other page, stream and ``/healthz`` for 2 s.
The standard library is monkey-patched there, so ``time.sleep(PAUSE)`` switches to gevent's hub
for one turn of its loop, which polls the sockets and runs whatever is ready; under threads
(``flask run``) it lets the GIL go. Not ``sleep(0)``: gevent may resume the sleeper before the
loop polls I/O, so a neighbour whose request has arrived would still wait.
A loop calls its ``Turns`` often (every few thousand cheap steps); the clock is read on each
call, and a turn is given at most every ``SLICE`` seconds, so the cost stays negligible.
"""
from __future__ import annotations

import time

SLICE = 0.010   # seconds of work between two turns: a neighbour waits about this long, not the request's length
PAUSE = 0.0002  # seconds of a turn: a positive sleep makes gevent's loop poll I/O (costs the loop ~2%)


class Turns:
    """Call it in a long loop: it yields to other greenlets once ``slice`` seconds have passed."""

    __slots__ = ("slice", "due", "given")

    def __init__(self, slice=SLICE):
        self.slice = slice
        self.due = time.monotonic() + slice
        self.given = 0  # turns given so far (tests and benchmarks read it)

    def __call__(self):
        if time.monotonic() >= self.due:
            time.sleep(PAUSE)
            self.given += 1
            self.due = time.monotonic() + self.slice


def each(iterable, every=1024, turns=None):
    """``iterable``'s items, giving a turn (when due) every ``every`` items."""
    turns = turns or Turns()
    for i, item in enumerate(iterable):
        if i % every == 0:
            turns()
        yield item


_shared = Turns()


def turn():
    """A turn for whoever runs now, if one is due (a loop that cannot keep its own ``Turns``:
    between parsed chunks, between runs of a scan, between pieces of a log)."""
    _shared()


def os_thread(fn, name="tailboard"):
    """Run ``fn()`` in a real OS thread, even in a gevent worker (whose ``threading`` makes
    greenlets): for work that would hold the hub, such as importing a big C extension."""
    import sys
    import threading

    start = None
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("threading"):
        start = monkey.get_original("_thread", "start_new_thread")
    if start is None:
        threading.Thread(target=fn, name=name, daemon=True).start()
    else:
        start(fn, ())


def in_background(fn, name="tailboard"):
    """Run ``fn()`` beside the requests: a greenlet in a gevent worker (it must take turns),
    a daemon thread otherwise."""
    import threading

    threading.Thread(target=fn, name=name, daemon=True).start()
