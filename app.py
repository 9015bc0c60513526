"""Tailboard as a standalone app: ``flask --app app run`` or ``gunicorn 'app:create_app()'``.

With no ``VIEWER_ROOT`` it serves the bundled demo, whose live run keeps training.

Binding anything but loopback without ``VIEWER_TOKEN`` generates a token (as Jupyter does) and
prints the link to open on stderr: ``Tailboard: open http://<host>:<port>/?token=<token>``.
``flask run --host`` is seen here (its click context); gunicorn decides in ``gunicorn.conf.py``
before any worker forks. The token goes into ``os.environ`` so that every gunicorn worker and
the reloader's child process use the same one. ``VIEWER_OPEN=1`` says an authenticating proxy
is in front: no token is generated. Only stdlib is imported at the top: gunicorn's master
imports this module before its gevent workers patch the standard library.
"""
from __future__ import annotations

import ipaddress
import os
import secrets
import socket
import sys

WILDCARDS = ("", "0.0.0.0", "::", "*")


def create_app(test_config=None):
    """Build the app. ``test_config`` (a dict) overrides config and environment."""
    from flask import Flask

    from viewer import Viewer

    app = Flask(__name__, static_folder=None, template_folder=None)
    if test_config:
        app.config.update(test_config)
    bound = flask_run_address()
    if bound is not None:
        token_for_bind([bound[1:]], scheme=bound[0], configured=app.config.get("VIEWER_TOKEN"),
                       is_open=app.config.get("VIEWER_OPEN"))
    if not (app.config.get("VIEWER_ROOT") or os.environ.get("VIEWER_ROOT")):
        from viewer import demo

        app.config["VIEWER_ROOT"], app.config["VIEWER_DEMO_STOP"] = demo.start()
    Viewer(app)
    from viewer.web import security

    # the standalone app is only Tailboard: its 404s for unknown URLs get the headers too
    # (the blueprint's own hook never sees a URL that matches none of its routes)
    app.after_request(security.add_headers)
    return app


def flask_run_address():
    """``(scheme, host, port)`` when ``flask run`` is loading the app, else None.

    Flask's ``run`` command loads the app inside its click command (in the reloader's parent
    and again in its child), so its options are in the current click context.
    """
    try:
        import click
    except ImportError:
        return None
    ctx = click.get_current_context(silent=True)
    if ctx is None or ctx.command.name != "run" or "host" not in ctx.params:
        return None
    scheme = "https" if ctx.params.get("cert") else "http"
    return scheme, ctx.params.get("host") or "127.0.0.1", ctx.params.get("port") or 5000


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
    from viewer.views.args import flag  # stdlib only, like this module (see the docstring)

    if configured or os.environ.get("VIEWER_TOKEN"):
        return None
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


def announcement(address, token, scheme="http"):
    """The line to print for one listening address."""
    if not isinstance(address, (tuple, list)):
        return f"Tailboard: open <the URL your proxy serves unix:{address} at>/?token={token}"
    host, port = str(address[0]), address[1]
    if host in WILDCARDS:
        host = socket.gethostname()  # reachable by name from the other machines
    elif ":" in host:
        host = f"[{host}]"
    return f"Tailboard: open {scheme}://{host}:{port}/?token={token}"
