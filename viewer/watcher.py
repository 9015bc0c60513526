"""Keeps the store in step with the disk: inotify (watchdog) when it can, polling when it must.

The watcher only says *what changed* (paths, coalesced in a ChangeQueue); the store decides
what that means; ``publish(changes)`` hands the result on. Polling is chosen by itself when
inotify cannot serve: the root is on a network filesystem (remote writes raise no event), the
per-user watch or instance limit is reached, or the kernel queue keeps overflowing.
``VIEWER_POLL`` forces it. A periodic full rescan catches whatever any event source missed.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time

from .store import Changes
from .watchproc import ChangeQueue

log = logging.getLogger(__name__)

NETWORK_FS = frozenset((
    "nfs", "nfs4", "lustre", "cifs", "smb3", "smbfs", "ncpfs", "afs", "9p", "ceph", "gpfs",
    "beegfs", "glusterfs", "fuse.glusterfs", "fuse.sshfs", "fuse.s3fs", "fuse.rclone",
    "fuse.gcsfuse", "panfs", "wekafs", "pvfs2", "orangefs", "fuse.juicefs"))
OVERFLOWS_BEFORE_POLLING = 3


def filesystem_type(path, mounts="/proc/mounts"):
    """The type of the filesystem holding ``path`` (longest matching mount point), or ''."""
    path = os.path.realpath(path)
    best, kind = "", ""
    try:
        with open(mounts, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3:
                    continue
                point = parts[1].replace("\\040", " ")
                inside = path == point or path.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= len(best):
                    best, kind = point, parts[2]
    except OSError:
        return ""
    return kind


class Interest:
    """Paths that open pages are looking at: a report and its files, a listed folder.

    inotify sees every write under the root anyway; polling only stats the files runs are
    known to own. While a page shows a file or folder outside those, the polling pass stats
    it too (a folder: its entries, one level), so live reload and live listings work on NFS.
    Reference-counted: two pages on one report share one entry. Under inotify registering
    costs nothing: paths are only stamped while ``polling()`` says the watcher polls.
    """

    MAX_ENTRIES = 10000  # a folder listed past this many entries is stamped by its mtime only

    def __init__(self, polling=lambda: True):
        self.polling = polling
        self.lock = threading.Lock()
        self.refs = {}
        self.stamps = {}

    def add(self, path):
        with self.lock:
            self.refs[path] = self.refs.get(path, 0) + 1
            if path not in self.stamps and self.polling():  # stamped now: a write right after counts
                self.stamps[path] = _stamp(path, self.MAX_ENTRIES)

    def discard(self, path):
        with self.lock:
            n = self.refs.get(path, 0) - 1
            if n > 0:
                self.refs[path] = n
            else:
                self.refs.pop(path, None)
                self.stamps.pop(path, None)

    def watching(self, paths):
        """``with interest.watching([...]):`` for the life of a connection."""
        return _Watching(self, paths)

    def changed(self):
        """Paths that moved since the last call (for a folder: its changed entries)."""
        with self.lock:
            paths = list(self.refs)
        out = []
        for path in paths:
            new = _stamp(path, self.MAX_ENTRIES)
            with self.lock:
                if path not in self.refs:
                    continue
                known = path in self.stamps  # not when registered before polling began
                old, self.stamps[path] = self.stamps.get(path), new
            if not known or old == new:
                continue
            if isinstance(new, dict) and isinstance(old, dict):
                out += [os.path.join(path, n) for n in set(old) | set(new) if old.get(n) != new.get(n)]
            else:
                out.append(path)
        return out


class _Watching:
    def __init__(self, interest, paths):
        self.interest, self.paths = interest, [p for p in paths if p]

    def __enter__(self):
        for p in self.paths:
            self.interest.add(p)
        return self

    def __exit__(self, *exc):
        for p in self.paths:
            self.interest.discard(p)


def _stamp(path, max_entries):
    """A file's (mtime, size, inode); a folder's {name: (mtime, size)}; None when missing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not os.path.isdir(path):
        return (st.st_mtime_ns, st.st_size, st.st_ino)
    out = {}
    try:
        with os.scandir(path) as it:
            for i, e in enumerate(it):
                if i >= max_entries:
                    return (st.st_mtime_ns, -1, st.st_ino)
                try:
                    est = e.stat()
                    out[e.name] = (est.st_mtime_ns, est.st_size)
                except OSError:
                    out[e.name] = None
    except OSError:
        return None
    return out


class Watcher:
    """Runs the event source and one dispatch loop that turns changes into published updates."""

    def __init__(self, store, publish=lambda changes: None, poll=None, rescan=30.0, settle=0.005):
        self.store = store
        self.publish = publish
        self.forced_poll = poll
        self.poll_interval = poll or 1.0
        self.rescan = rescan
        self.settle = settle
        self.kind = "inotify"
        self.reason = ""
        self.queue = ChangeQueue()
        self.overflows = 0
        self.proc = None
        self.lost = ""            # set when the watch process reports it cannot go on
        self._stop = threading.Event()
        self._thread = None
        self.interest = Interest(lambda: self.kind == "polling")  # stat-polled with the runs

    # -- choosing the source ---------------------------------------------------------------

    def choose(self):
        """('inotify'|'polling', reason) for this root, before trying inotify itself."""
        if self.forced_poll:
            return "polling", f"forced by VIEWER_POLL={self.forced_poll:g}"
        fs = filesystem_type(self.store.root)
        if fs in NETWORK_FS:
            return "polling", f"the root is on {fs}, where writes from other machines raise no inotify event"
        return "inotify", ""

    def _start_inotify(self):
        """Start the watch process and the reader that feeds its batches into the queue."""
        # run by file path, not -m: the process needs watchdog only, not Flask and the store
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "watchproc.py")
        proc = subprocess.Popen([sys.executable, script, self.store.root, str(self.settle)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        first = proc.stdout.readline().decode(errors="replace").strip()
        if first != "!ready":
            proc.kill()
            proc.wait()
            raise OSError(first[len("!error "):] if first.startswith("!error ") else
                          "the inotify watch process did not start")
        self.proc = proc
        threading.Thread(target=self._read_proc, args=(proc,), name="tailboard-inotify-reader",
                         daemon=True).start()

    def _read_proc(self, proc):
        for raw in proc.stdout:
            line = raw.decode(errors="replace").strip()
            if line == "!overflow":
                self.on_overflow()
            elif line.startswith("!error"):
                self.lost = line[len("!error "):]
                self.queue.wake()
            elif line.startswith("["):
                self.queue.put_many(json.loads(line))
        if not self._stop.is_set() and not self.lost:
            self.lost = "the inotify watch process exited"
            self.queue.wake()

    def _fall_back(self, reason):
        log.warning("tailboard: polling every %gs: %s", self.poll_interval, reason)
        self.kind, self.reason = "polling", reason
        self._stop_observer()

    def on_overflow(self):
        self.overflows += 1
        self.queue.overflow()

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

    def _loop(self):
        self.poll_once()  # the first scan, with progress
        self.store.status_changes()
        last_walk = last_status = time.monotonic()
        while not self._stop.is_set():
            try:
                if self.kind == "inotify":
                    # settle=0: the watch process already let the burst settle
                    paths, full = self.queue.drain(timeout=1.0, settle=0)
                    if self.overflows >= OVERFLOWS_BEFORE_POLLING:
                        self._fall_back(f"the inotify queue overflowed {self.overflows} times")
                        full = True
                    elif self.lost:
                        self._fall_back(self.lost)
                        full = True
                    if full:
                        last_walk = 0.0  # events were lost: walk now
                    elif paths:
                        self._publish(self.store.apply(paths))
                    walk_every = self.rescan
                else:
                    if self._stop.wait(self.poll_interval):
                        break
                    self._publish(self.store.poll())
                    looked_at = self.interest.changed()
                    if looked_at:
                        self._publish(self.store.apply(looked_at))
                    # new run folders only show up in a walk: walk more often when polling
                    walk_every = min(self.rescan, max(5.0, 10 * self.poll_interval))
                now = time.monotonic()
                if now - last_walk >= walk_every:
                    self.poll_once()
                    last_walk = now
                if now - last_status >= 5.0:  # time alone turns running into stale
                    moved = self.store.status_changes()
                    if moved:
                        self._publish(Changes(changed=moved))
                    last_status = now
            except Exception:  # a bad tree must not kill the loop; the next pass retries
                log.exception("tailboard: watching %s failed", self.store.root)
                self._stop.wait(1.0)

    def start(self):
        self.kind, self.reason = self.choose()
        if self.kind == "inotify":
            try:
                self._start_inotify()
            except OSError as e:  # ENOSPC: watch limit; EMFILE: instance limit
                self._fall_back(f"inotify is unavailable: {e.strerror or e}")
        self._thread = threading.Thread(target=self._loop, name="tailboard-watcher", daemon=True)
        self._thread.start()
        return self

    def _stop_observer(self):
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                proc.stdin.close()  # the watch process exits at EOF on its stdin
                proc.wait(1.0)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()

    def stop(self, timeout=2.0):
        self._stop.set()
        self.queue.wake()
        self._stop_observer()
        if self._thread is not None:
            self._thread.join(timeout)
