"""One watch process per host and runs folder, shared by every worker (``gunicorn -w N``).

The workers agree through a folder of the cache (``<cache>/watch/<root key>/``, never under the
runs folder). The first to take the flock on its ``lock`` file is the *owner*: it runs the watch
process (``watchclient``) as a lone worker would, and passes every line of it on through the
Unix socket ``sock`` there. The others are *followers*: they connect and read the same lines.
So the CPU an appended row costs in inotify is paid once per host, and every worker still
refreshes its own store and delivers every update to its own clients.

On the socket, one line each: ``!ready`` once the owner watches the tree; the watch process's
own lines (a JSON list of changed paths per coalesced burst, ``!overflow``); ``!rescan`` after
the owner restarted a dead watch process (events were lost meanwhile: every worker walks);
``!error <reason>`` when the owner gave inotify up (a kernel limit, the restart budget, queue
overflows): every worker then polls, as each would have on its own.

When the owner goes (its worker died, was recycled or stopped) its socket closes and the kernel
drops its flock: a follower takes the lock (or reaches whoever did) and walks the tree, so
nothing written during the takeover is lost. With no usable cache folder, each worker runs its
own watch process (``WatchClient``), as before.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
import time

from .watchclient import WatchClient

log = logging.getLogger(__name__)

OWNER_GONE = "the worker serving the watch process went away"
ATTACH_WAIT = 30.0   # seconds to become the owner or reach one; then this worker watches alone
READY_WAIT = 300.0   # seconds a follower waits for the owner's process (a huge tree takes a while)
SEND_TIMEOUT = 5.0   # a follower reading nothing this long is dropped (it reconnects and walks)
SUN_PATH_MAX = 107   # bytes in a Unix socket path (sun_path holds 108 with the NUL)


class HostWatch:
    """The watch process of ``root`` shared through ``folder``, with ``WatchClient``'s interface
    (``start``, ``stop``, ``restart``, ``active``, ``lost``, ``overflows``, ``restarts``).

    ``role``: ``owner`` (runs the process and serves it), ``follower`` (reads the owner's
    socket), ``alone`` (no owner answered within ``ATTACH_WAIT``: its own process) or ''.
    """

    def __init__(self, root, queue, settle, stopping, folder):
        self.root = root
        self.queue = queue
        self.stopping = stopping
        self.folder = folder
        self.own = WatchClient(root, queue, settle, stopping, relay=self._broadcast)
        self.role = ""
        self._lost = ""          # a follower's loss: OWNER_GONE, or the reason the owner gave up
        self._overflows = 0      # overflows heard as a follower
        self._lockfd = None
        self._server = None
        self._conn = None
        self._followers = set()
        self._ready = False
        self._mutex = threading.Lock()   # the owner's followers and readiness
        self._sending = threading.Lock()  # one line at a time on the followers' sockets

    # -- the WatchClient interface ---------------------------------------------------------

    @property
    def proc(self):
        return self.own.proc

    @property
    def active(self):
        return self.role == "follower" or (self.role in ("owner", "alone") and self.own.active)

    @property
    def lost(self):
        return self._lost if self.role == "follower" else self.own.lost

    @property
    def overflows(self):
        return self.own.overflows + self._overflows

    @property
    def restarts(self):
        return self.own.restarts

    def start(self):
        """Become the owner (start the watch process and serve it) or a follower of the one
        there is; OSError when inotify cannot serve (the owner says why)."""
        os.makedirs(self.folder, mode=0o700, exist_ok=True)
        deadline = time.monotonic() + ATTACH_WAIT
        while True:
            if self._take_lock():
                return self._serve()
            conn = self._connect()
            if conn is not None and self._follow(conn):
                return None
            if time.monotonic() > deadline:  # an owner that neither answers nor lets go
                log.warning("tailboard: no worker serves the watch process of %s; watching alone", self.root)
                self.own.start()
                self.role = "alone"
                return None
            time.sleep(0.05)

    def stop(self, reason=""):
        """Stop watching; an owner tells its followers ``reason`` (polling takes over) or, with
        none, just closes its socket (one of them takes over)."""
        if self.role in ("owner", "alone"):
            self.own.stop()
        if self.role == "owner":
            self._close(f"!error {reason}\n".encode() if reason else None)
        self._drop_conn()
        self.role = ""

    def restart(self):
        """After a loss: '' when watching again (owner: a new process; follower: the new owner
        found, or this worker became it), else why polling must take over."""
        if self.role in ("owner", "alone"):
            why = self.own.restart()
            if self.role == "owner":
                if why:
                    self._close(f"!error {why}\n".encode())
                    self.role = ""
                else:
                    self._broadcast(b"!rescan\n")
            return why
        reason, self._lost = self._lost, ""
        self._drop_conn()
        self.role = ""
        if reason != OWNER_GONE:
            return reason  # the owner gave inotify up: poll, as it does
        if not os.path.isdir(self.root):
            return ""  # the runs folder is gone: the watcher starts watching when it is back
        try:
            self.start()
        except OSError as e:
            return f"{reason}, and watching again failed: {e.strerror or e}"
        log.warning("tailboard: %s; this worker is now %s", reason, self.role)
        return ""

    # -- owner -----------------------------------------------------------------------------

    def _take_lock(self):
        fd = os.open(os.path.join(self.folder, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lockfd = fd
        return True

    def _unlock(self):
        fd, self._lockfd = self._lockfd, None
        if fd is not None:
            os.close(fd)  # closing the only descriptor drops the flock

    def _serve(self):
        self.role = "owner"
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._at_socket(server.bind, fresh=True)
            server.listen(64)
        except OSError:
            server.close()
            self._unlock()
            self.role = ""
            raise
        with self._mutex:
            self._server, self._ready = server, False
        threading.Thread(target=self._accept, args=(server,), name="tailboard-watch-host", daemon=True).start()
        try:
            self.own.start()
        except OSError as e:
            self._close(f"!error {e.strerror or e}\n".encode())
            self.role = ""
            raise
        with self._mutex:
            self._ready = True
            waiting = list(self._followers)
        for conn in waiting:
            self._send(conn, b"!ready\n")
        return None

    def _accept(self, server):
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return  # closed: this worker no longer serves
            conn.settimeout(SEND_TIMEOUT)
            with self._mutex:
                if self._server is not server:
                    conn.close()
                    return
                self._followers.add(conn)
                ready = self._ready
            if ready:
                self._send(conn, b"!ready\n")

    def _broadcast(self, raw):
        with self._mutex:
            followers = list(self._followers)
        for conn in followers:
            self._send(conn, raw)

    def _send(self, conn, raw):
        try:
            with self._sending:
                conn.sendall(raw)
        except OSError:  # gone, or stuck past SEND_TIMEOUT: it reconnects and walks
            with self._mutex:
                self._followers.discard(conn)
            _close_socket(conn)

    def _close(self, last_line=None):
        """Stop serving: tell the followers ``last_line`` (if any), close, let the lock go."""
        with self._mutex:
            server, self._server = self._server, None
            followers, self._followers = list(self._followers), set()
            self._ready = False
        if server is not None:
            try:
                self._at_socket(os.unlink)
            except OSError:
                pass
            _close_socket(server)
        for conn in followers:
            if last_line:
                try:
                    with self._sending:
                        conn.sendall(last_line)
                except OSError:
                    pass
            _close_socket(conn)
        self._unlock()

    # -- follower --------------------------------------------------------------------------

    def _connect(self):
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._at_socket(conn.connect)
        except OSError:  # none yet, or a dead owner's socket file (refused)
            conn.close()
            return None
        return conn

    def _follow(self, conn):
        """Read the owner's lines; True once it watches, False when it went before that."""
        first = _First()
        self._lost = ""
        self._conn = conn
        self.role = "follower"
        threading.Thread(target=self._read, args=(conn, first), name="tailboard-watch-follower",
                         daemon=True).start()
        first.seen.wait(READY_WAIT)
        if first.line == "!ready":
            return True
        self._drop_conn()
        self.role = ""
        if first.line.startswith("!error"):
            raise OSError(first.line[len("!error "):])
        return False  # the owner went while starting: try again

    def _read(self, conn, first):
        try:
            for raw in conn.makefile("rb"):
                line = raw.decode(errors="replace").strip()
                if not first.seen.is_set() and (line == "!ready" or line.startswith("!error")):
                    first.line = line
                    first.seen.set()
                elif line == "!overflow":
                    self._overflows += 1
                    self.queue.overflow()
                elif line == "!rescan":
                    self.queue.overflow()  # a full walk, not an overflow of ours
                elif line.startswith("!error"):
                    if conn is self._conn:
                        self._lost = line[len("!error "):]
                        self.queue.wake()
                elif line.startswith("["):
                    self.queue.put_many(json.loads(line))
        except (OSError, ValueError):
            pass  # closed under us, or a torn line: the owner is gone either way
        first.seen.set()
        if not self.stopping.is_set() and conn is self._conn and not self._lost:
            self._lost = OWNER_GONE
            self.queue.wake()

    def _drop_conn(self):
        conn, self._conn = self._conn, None
        if conn is not None:
            _close_socket(conn)

    # -- the socket's address --------------------------------------------------------------

    def _at_socket(self, call, fresh=False):
        """``call(address)`` of ``<folder>/sock``; a path too long for a Unix socket is reached
        through ``/proc/self/fd`` of the folder. ``fresh``: a dead owner's file is removed first."""
        path = os.path.join(self.folder, "sock")
        if fresh:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        if len(os.fsencode(path)) <= SUN_PATH_MAX:
            return call(path)
        fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            return call(f"/proc/self/fd/{fd}/sock")
        finally:
            os.close(fd)


class _First:
    """A follower's first word from the owner: ``!ready``, ``!error <why>``, or '' (it went)."""

    def __init__(self):
        self.seen = threading.Event()
        self.line = ""


def _close_socket(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked reading or accepting on it
    except OSError:
        pass
    sock.close()
