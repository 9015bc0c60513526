"""Tailboard as its own server: the standalone app, and gunicorn with one gevent worker.

``app.py`` (``flask --app app run``, ``gunicorn 'app:create_app()'``) and the ``tailboard``
command both build the app here. The command runs gunicorn's own arbiter in-process
(``BaseApplication``) with the settings of ``gunicorn.conf.py``, so it is the production stack:
the gevent worker monkey-patches the standard library *before* it imports Flask and Tailboard
(this module imports neither at the top), and flask-sock's websockets take gunicorn's socket.
"""
from __future__ import annotations

import os

# the values of gunicorn.conf.py (a test checks they agree); reasons are given there
SETTINGS = {
    "worker_class": "gevent",
    "workers": 1,
    "worker_connections": 10000,
    "timeout": 30,
    "graceful_timeout": 3,
    "keepalive": 5,
    "preload_app": False,
    "control_socket_disable": True,
}


def create_app(config=None):
    """The standalone app: Tailboard at ``/``; no ``VIEWER_ROOT`` serves the bundled live demo.

    ``config`` (a dict) overrides config and environment.
    """
    from flask import Flask

    from . import Viewer
    from .web import security

    app = Flask("tailboard", static_folder=None, template_folder=None)
    if config:
        app.config.update(config)
    if not (app.config.get("VIEWER_ROOT") or os.environ.get("VIEWER_ROOT")):
        from . import demo

        app.config["VIEWER_ROOT"], app.config["VIEWER_DEMO_STOP"] = demo.start()
    Viewer(app)
    # the standalone app is only Tailboard: its 404s for unknown URLs get the headers too
    # (the blueprint's own hook never sees a URL that matches none of its routes)
    app.after_request(security.add_headers)
    return app


def stop_on_signals(worker):
    """gunicorn's ``post_worker_init``: close streams and stop the watcher as soon as the
    worker is told to stop (SIGTERM, Ctrl-C), so ``graceful_timeout`` only covers requests."""
    import signal

    import gevent

    from . import shutdown_all

    def stop_then(handler):
        def on_signal(sig, frame):
            gevent.spawn(shutdown_all)  # not in the signal handler itself: it may block on locks
            handler(sig, frame)
        return on_signal

    for sig, handler in ((signal.SIGTERM, worker.handle_exit), (signal.SIGINT, worker.handle_quit),
                         (signal.SIGQUIT, worker.handle_quit)):
        signal.signal(sig, stop_then(handler))


def run(sock, config=None, on_ready=None, loglevel="warning"):
    """Serve on the listening socket ``sock`` until SIGTERM or Ctrl-C, then exit (0 when clean).

    ``config`` goes to :func:`create_app` in the worker; ``on_ready()`` runs in the master once
    it listens, before the worker forks (requests wait in the socket's backlog meanwhile).
    """
    from gunicorn.app.base import BaseApplication

    fd = sock.detach()  # gunicorn takes the descriptor over (and closes it when done)

    class Server(BaseApplication):
        def load_config(self):
            for key, value in {**SETTINGS, "loglevel": loglevel, "post_worker_init": stop_on_signals,
                               "bind": [f"fd://{fd}"], "proc_name": "tailboard"}.items():
                self.cfg.set(key, value)
            if on_ready is not None:
                self.cfg.set("when_ready", lambda server: on_ready())

        def load(self):
            return create_app(config)  # in the worker, after gevent patched the standard library

    Server(prog="tailboard").run()  # exits the process (gunicorn's halt calls sys.exit)
