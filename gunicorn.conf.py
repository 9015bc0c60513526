"""gunicorn settings for Tailboard. gunicorn reads ./gunicorn.conf.py by itself, so from the
repository folder this is all it takes:

    VIEWER_ROOT=/data/runs gunicorn 'app:create_app()'

- One gevent worker holds thousands of event streams (each is a greenlet and a small queue).
  The gevent worker monkey-patches the standard library *before* it imports the app, so
  ``threading``, ``queue``, ``select`` and sockets are cooperative everywhere in Tailboard,
  watchdog's observer included. Keep ``preload_app`` off: importing the app in the master,
  before patching, would create real threads and locks that the workers then inherit.
- Parsing yields between 512 KiB chunks, so a big file never holds the hub for long.
- SIGTERM (and Ctrl-C) closes every SSE stream and log socket at once and stops the watcher;
  ``graceful_timeout`` then only has to cover ordinary requests.
- Several workers: each runs its own store and delivers every update to its own clients; they
  share one watch process per host (see docs/serving.md). One worker is the recommended setting.
- Binds 127.0.0.1 (port ``TAILBOARD_PORT``, 8000) unless ``TAILBOARD_BIND`` or ``-b`` says
  otherwise. Listening beyond loopback without ``VIEWER_TOKEN`` generates one, printed as
  ``Tailboard: open http://<host>:<port>/?token=<token>`` (``when_ready``, below).
- The access log (off unless ``--access-logfile``) never shows a token or a report capability:
  ``RedactingLogger`` passes every field through ``viewer.web.access.redact``.
"""
import logging
import os
import secrets
import sys

from gunicorn.glogging import Logger

bind = os.environ.get("TAILBOARD_BIND") or "127.0.0.1:" + os.environ.get("TAILBOARD_PORT", "8000")
worker_class = "gevent"
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
worker_connections = 10000   # open streams per worker (browsers hold one SSE stream per page)
timeout = 30                 # the gevent worker heartbeats every second even with open streams
graceful_timeout = 3         # streams are closed at SIGTERM; this covers in-flight requests
keepalive = 5
preload_app = False
control_socket_disable = True  # gunicorn 27's control socket is one path per user, shared by all servers


def when_ready(server):
    """In the master, listening, before any worker forks: a token for a non-loopback bind.

    It looks at the real listeners, so ``-b`` on the command line and port 0 are covered; the
    token lands in ``os.environ``, which every worker inherits.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    from viewer.bind import token_for_bind  # stdlib only at import: safe before gevent patches

    addresses = [_address(lnr.sock.getsockname()) for lnr in server.LISTENERS]
    # one secret for every worker: a report's capability minted by one is good on the others
    os.environ.setdefault("TAILBOARD_SECRET", secrets.token_hex(32))
    token_for_bind(addresses, scheme="https" if server.cfg.is_ssl else "http")


def _address(name):
    return tuple(name[:2]) if isinstance(name, tuple) else name  # IPv6 names have 4 fields


def post_worker_init(worker):
    """Close streams and stop the watcher as soon as the worker is told to stop."""
    from viewer.serve import stop_on_signals

    stop_on_signals(worker)


class _RedactOnceLoaded(logging.Filter):
    """``viewer.web.access.RedactFilter`` once a worker has loaded the app (the master, which
    must not import it before gevent patches, logs no request)."""

    def filter(self, record):
        access = sys.modules.get("viewer.web.access")
        return access.RedactFilter().filter(record) if access is not None else True


class RedactingLogger(Logger):
    """gunicorn's logger, with tokens and report capabilities cut out of every access-log field
    (request line, path, query, Referer, any header or environ atom a custom format names) and
    of the error log ("Error handling request /?token=...")."""

    def __init__(self, cfg):
        super().__init__(cfg)
        self.error_log.addFilter(_RedactOnceLoaded())

    def atoms(self, resp, req, environ, request_time):
        from viewer.web.access import redact  # in the worker, after gevent patched the stdlib

        return {k: redact(v) if isinstance(v, str) else v
                for k, v in super().atoms(resp, req, environ, request_time).items()}


logger_class = RedactingLogger
