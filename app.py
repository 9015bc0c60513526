"""Tailboard as a standalone app: ``flask --app app run`` or ``gunicorn 'app:create_app()'``.

With no ``VIEWER_ROOT`` it serves the bundled demo, whose live run keeps training.

Binding anything but loopback without ``VIEWER_TOKEN`` generates a token (as Jupyter does) and
prints the link to open on stderr: ``Tailboard: open http://<host>:<port>/?token=<token>``.
``flask run --host`` is seen here (its click context); gunicorn decides in ``gunicorn.conf.py``
before any worker forks. The token goes into ``os.environ`` so that every gunicorn worker and
the reloader's child process use the same one. ``VIEWER_OPEN=1`` says an authenticating proxy
is in front: no token is generated. That logic lives in ``viewer/bind.py`` (the wheel ships only
``viewer/``; the ``tailboard`` command uses it too). Only stdlib is imported at the top (and
``viewer`` imports only stdlib): gunicorn's master imports this module before its gevent
workers patch the standard library.
"""
from __future__ import annotations

from viewer.bind import is_loopback, token_for_bind  # noqa: F401 (tests and gunicorn.conf.py use them from here)


def create_app(test_config=None):
    """Build the app. ``test_config`` (a dict) overrides config and environment."""
    from viewer.serve import create_app as build

    bound = flask_run_address()
    if bound is not None:
        config = test_config or {}
        token_for_bind([bound[1:]], scheme=bound[0], configured=config.get("VIEWER_TOKEN"),
                       is_open=config.get("VIEWER_OPEN"))
    return build(test_config)


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
