"""Where Tailboard listens, and whether that needs a token. Standard library only: gunicorn's
master (``gunicorn.conf.py``, the ``tailboard`` command) uses this before its gevent workers
patch the standard library.

Binding anything but loopback without ``VIEWER_TOKEN`` generates a token (as Jupyter does) and
prints the link to open on stderr: ``Tailboard: open http://<host>:<port>/?token=<token>``. The
token goes into ``os.environ`` so that every gunicorn worker and the reloader's child process use
the same one. ``VIEWER_OPEN=1`` says an authenticating proxy is in front: no token is generated.
"""
from __future__ import annotations

import errno
import ipaddress
import os
import secrets
import socket
import sys

WILDCARDS = ("", "0.0.0.0", "::", "*")
PORT_TRIES = 100  # ports tried from the asked one on, as ``spt web`` and bencher do


def is_loopback(address):
    """Whether only this machine can reach ``address`` (a ``(host, port)``; else a unix socket)."""
    if not isinstance(address, (tuple, list)):
        return False  # a unix socket or an fd: whoever may open it (gunicorn's umask is 0)
    host = str(address[0]).strip("[]").split("%")[0]
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        found = {info[4][0].split("%")[0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False  # cannot tell: assume others can reach it
    return bool(found) and all(ipaddress.ip_address(a).is_loopback for a in found)


def token_for_bind(addresses, scheme="http", configured=None, is_open=None):
    """Generate, export and announce a token when a bind reaches beyond loopback.

    ``addresses`` are ``(host, port)`` pairs or unix socket paths. Returns the new token, or
    None when a token is already set (config or environment), ``VIEWER_OPEN`` is on, or every
    address is loopback. An empty ``VIEWER_TOKEN=`` does not count as set.
    """
    if configured or os.environ.get("VIEWER_TOKEN"):
        return None
    from .views.args import flag  # stdlib only, like this module

    is_open = is_open if is_open is not None else os.environ.get("VIEWER_OPEN")
    if is_open is not None and flag(is_open, default=True):  # as VIEWER_OPEN in the settings
        return None
    if all(is_loopback(a) for a in addresses):
        return None
    token = secrets.token_urlsafe(32)
    os.environ["VIEWER_TOKEN"] = token  # inherited by forked workers and the reloader's child
    for address in addresses:
        print(announcement(address, token, scheme), file=sys.stderr, flush=True)
    return token


def url_for(address, scheme="http", token=None):
    """The URL a browser opens for a ``(host, port)`` listener (a wildcard: this host's name)."""
    host, port = str(address[0]), address[1]
    if host in WILDCARDS:
        host = socket.gethostname()  # reachable by name from the other machines
    elif ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}/" + (f"?token={token}" if token else "")


def announcement(address, token, scheme="http"):
    """The line to print for one listening address."""
    if not isinstance(address, (tuple, list)):
        return f"Tailboard: open <the URL your proxy serves unix:{address} at>/?token={token}"
    return f"Tailboard: open {url_for(address, scheme, token)}"


def listen(host, port, tries=PORT_TRIES):
    """A listening TCP socket on ``host`` at ``port``, or at the next free port after it.

    Only "address in use" moves on; any other error (a host that is not ours, a privileged
    port) is raised at once. ``port=0`` lets the kernel pick.
    """
    ports = range(port, min(port + tries, 65536)) if port else [0]
    for candidate in ports:
        try:
            return _listen(host, candidate)
        except OSError as e:
            if e.errno != errno.EADDRINUSE or candidate == ports[-1]:
                raise
    raise AssertionError("unreachable")


def _listen(host, port):
    host = None if host in ("", "*") else host.strip("[]")  # None: every address
    family, kind, proto, _name, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                          flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        # as gunicorn does: a restart may rebind a port whose old connections sit in TIME_WAIT
        # (Linux still refuses a port another socket is listening on)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock
