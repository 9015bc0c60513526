"""Security headers on every response of the Tailboard blueprint (never on a host site's routes).

The page policy allows no inline script and no ``eval``: every behaviour lives in our own files
under ``/-/static/``, htmx is told not to eval nor to inject its indicator ``<style>`` (a meta
``htmx-config`` in ``base.html``), and our templates carry no ``on*=`` nor ``style=`` attribute.
Nothing is ``'unsafe-inline'``: the ANSI colours of log lines are classes (the 16 basic
colours) or ``data-fg``/``data-bg`` hex values that ``static/logs.js`` sets as CSSOM properties
(``viewer/views/terminal.py``), never a ``style=`` attribute. Markup from files never reaches a page
unescaped (``tests/test_browser_xss.py`` proves it with the CSP stripped as well).

Raw files under ``/files/`` are user content with their own rules (``blueprints/files.py``):
reports keep ``sandbox``, and no file gets ``frame-ancestors`` nor ``X-Frame-Options``, because
a sandboxed report has an opaque origin that matches no source: a report framing another
report, an SVG or a PDF would be blocked. Framing a file gains nothing: it holds no privilege.
"""
from __future__ import annotations

from flask import g

PAGE_CSP = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",       # data: the favicon placeholder; blob: exported PNGs
    "media-src 'self' blob:",
    "connect-src 'self'",               # fetch, EventSource and the same-origin log websockets
    "font-src 'self'",
    "frame-src 'self'",
    "frame-ancestors 'self'",
    "base-uri 'self'",
    "form-action 'self'",
    "object-src 'none'",
))

ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    # run ids and folder paths are in our URLs: never send them to another site
    "Referrer-Policy": "same-origin",
}
PAGES = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Frame-Options": "SAMEORIGIN",  # frame-ancestors for browsers that predate CSP 2
}


def user_file():
    """Mark this request's response as a raw file of the runs folder, not a Tailboard page."""
    g.tailboard_user_file = True


def add_headers(resp):
    """An ``after_request`` hook: the headers above, each unless the response set its own."""
    for name, value in ALWAYS.items():
        resp.headers.setdefault(name, value)
    if not g.get("tailboard_user_file"):
        for name, value in PAGES.items():
            resp.headers.setdefault(name, value)
    return resp
