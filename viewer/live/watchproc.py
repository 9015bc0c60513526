"""The inotify side of the watcher, run as its own small process: ``python -m viewer.live.watchproc ROOT``.

Why a process: under gunicorn's gevent worker the standard library is monkey-patched, and
watchdog's observer (its queues subclass ``queue.Queue``) breaks on the patched one; its
threads would also compete with the hub. Here watchdog runs unpatched with real threads.
Protocol on stdout, one line each: ``!ready``, then a JSON list of changed paths per
coalesced burst, ``!overflow`` when the kernel dropped events, ``!error <reason>`` before
exiting when inotify cannot serve. The process exits when its stdin closes (its parent
died or stopped it), so it is never left behind.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import sys
import threading
import time


class ChangeQueue:
    """Paths reported changed, coalesced: a burst of writes to one file is one entry."""

    def __init__(self):
        self._paths = {}
        self._full = False
        self._cond = threading.Condition()

    def put(self, path):
        with self._cond:
            self._paths[path] = None
            self._cond.notify()

    def put_many(self, paths):
        with self._cond:
            self._paths.update(dict.fromkeys(paths))
            self._cond.notify()

    def overflow(self):
        """Events were lost: the next drain asks for a full rescan."""
        with self._cond:
            self._full = True
            self._cond.notify()

    def wake(self):
        with self._cond:
            self._cond.notify_all()

    def drain(self, timeout, settle=0.005):
        """Wait up to ``timeout`` for a change, let the burst settle, return (paths, full)."""
        with self._cond:
            if not (self._paths or self._full):
                self._cond.wait(timeout)
            if not (self._paths or self._full):
                return [], False
        time.sleep(settle)  # writes arriving within this window join the same update
        with self._cond:
            paths, full = list(self._paths), self._full
            self._paths, self._full = {}, False
        return paths, full


class OverflowLog(logging.Handler):
    """watchdog only logs a kernel queue overflow; turn that record into a call."""

    def __init__(self, on_overflow):
        super().__init__(logging.WARNING)
        self.on_overflow = on_overflow

    def emit(self, record):
        msg = record.getMessage().lower()
        # watchdog 7 logs each overflow twice: "events were lost", then "reconciling ... watches"
        if "overflow" in msg and "reconcil" not in msg:
            self.on_overflow()


class WatchLimit:
    """Notices the per-user watch limit being hit on any folder, not only the root.

    watchdog 7 ignores a failed watch on a subfolder (it may have vanished meanwhile), so a
    tree past the limit would be watched in part and its other folders never raise an event.
    Any ENOSPC is remembered here: at start it is an error, later the process says so and exits.
    """

    hit = False

    @classmethod
    def install(cls):
        try:
            from watchdog.observers.inotify_c import InotifyFD
        except ImportError:  # another watchdog layout: its own behaviour
            return
        real = InotifyFD.add_callback
        if getattr(real, "watch_limit", False):
            return

        def add_callback(self, *a, **kw):
            try:
                return real(self, *a, **kw)
            except OSError as e:
                if e.errno == errno.ENOSPC:
                    cls.hit = True
                raise
        add_callback.watch_limit = True
        InotifyFD.add_callback = add_callback


def start_observer(root, queue):
    """A started watchdog InotifyObserver feeding ``queue``; raises OSError when it cannot
    (OSError ENOSPC also when only a subfolder could not be watched)."""
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers.inotify import InotifyObserver

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event):
            if event.event_type in ("opened", "closed_no_write"):
                return
            queue.put(os.fsdecode(event.src_path))
            dest = getattr(event, "dest_path", "")
            if dest:
                queue.put(os.fsdecode(dest))

    try:  # watchdog holds a rename's first half 0.5 s to pair it, and sleeps the whole 0.5 s
        # when that half heads its queue even once the pair came in: a rename (an atomic
        # write) then arrives half a second late. Both halves come in one read; 20 ms is ample.
        from watchdog.observers.inotify_move_event_grouper import InotifyMoveEventGrouper
        InotifyMoveEventGrouper.delay = 0.02
    except ImportError:  # another watchdog layout: its own default
        pass
    hook = OverflowLog(queue.overflow)
    for name in ("watchdog.observers.inotify_c", "watchdog.observers.inotify"):
        logging.getLogger(name).addHandler(hook)
    WatchLimit.install()
    observer = InotifyObserver()
    # every kind but opened / closed_no_write: a writer's open and the viewer's own reads would
    # each cost an event (8 per appended row instead of 3) and overflow the kernel queue sooner
    from watchdog import events as ev

    wanted = [ev.FileModifiedEvent, ev.FileAttribEvent, ev.FileClosedEvent, ev.FileCreatedEvent,
              ev.FileDeletedEvent, ev.FileMovedEvent, ev.DirModifiedEvent, ev.DirAttribEvent,
              ev.DirCreatedEvent, ev.DirDeletedEvent, ev.DirMovedEvent]
    observer.schedule(Handler(), root, recursive=True, event_filter=wanted)
    observer.daemon = True
    observer.start()
    if WatchLimit.hit:  # part of the tree is unwatched: polling must take over
        observer.stop()
        raise OSError(errno.ENOSPC, "inotify watch limit reached")
    return observer


def main(argv):
    root = argv[1]
    settle = float(argv[2]) if len(argv) > 2 else 0.005
    out = sys.stdout
    queue = ChangeQueue()
    try:
        observer = start_observer(root, queue)
    except OSError as e:  # ENOSPC: watch limit; EMFILE: instance limit
        out.write(f"!error inotify is unavailable: {e.strerror or e}\n")
        out.flush()
        return 3

    def parent_gone():
        sys.stdin.read()  # returns at EOF: the parent closed our stdin or died
        os._exit(0)

    threading.Thread(target=parent_gone, daemon=True).start()
    out.write("!ready\n")
    out.flush()
    while observer.is_alive() and not WatchLimit.hit:
        paths, full = queue.drain(timeout=1.0, settle=settle)
        if full:
            out.write("!overflow\n")
        if paths:
            out.write(json.dumps(paths) + "\n")
        if full or paths:
            out.flush()
    # a new folder past the watch limit: its events would be missed from now on
    out.write("!error inotify watch limit reached\n" if WatchLimit.hit else "!error the inotify observer stopped\n")
    out.flush()
    return 4


if __name__ == "__main__":
    sys.exit(main(sys.argv))
