"""Which ``Origin`` may open a websocket or post the logout form.

Websockets are not covered by CORS and a browser sends the cookie with them, so a page of any
other site could read the logs: ``websocket_origin_ok`` refuses foreign ``Origin`` headers.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import jsonify, request

from ...views.current import viewer
from .hosts import allowed_hosts, host_refusal, listed


def _host_port(netloc, scheme):
    parts = urlsplit("//" + netloc)
    try:
        port = parts.port
    except ValueError:
        return None
    default = 443 if scheme in ("https", "wss") else 80
    return (parts.hostname or "").lower().rstrip("."), port or default


def websocket_origin_ok(allow_null=False):
    """May this (websocket) request's ``Origin`` open the socket?

    - no ``Origin``: yes (not a browser; the token and the host check still apply);
    - ``null`` (a sandboxed page): only when ``allow_null`` (the caller checked a capability);
    - an origin ``VIEWER_CORS`` lists: yes (``*`` does not count: fetches under ``*`` carry no
      cookie, a websocket would);
    - an origin whose host name ``VIEWER_ALLOWED_HOSTS`` lists (``*`` does not count): yes;
    - else only the request's own origin (host *and* port: cookies do not tell ports apart,
      so another local server's page must not ride ours), and only when that host passes the
      host check (with no token: a loopback name or a listed one).
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    origin = origin.strip()
    if origin == "null":
        return bool(allow_null)
    cors = viewer().config.get("VIEWER_CORS") or ""
    cors_listed = {o.strip().rstrip("/").lower() for o in cors.split(",") if o.strip() not in ("", "*")}
    if origin.rstrip("/").lower() in cors_listed:
        return True
    return our_origin(origin)


def our_origin(origin):
    """Whether ``origin`` is one of the viewer's own: a ``VIEWER_ALLOWED_HOSTS`` name (any port:
    the operator vouches for the name), or the request's own host and port, when that host
    passes the host check."""
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    mine = _host_port(parts.netloc, parts.scheme)
    if mine is None:
        return False
    entries = [e for e in allowed_hosts() if e != "*"]
    if listed(mine[0], entries):
        return True
    return mine == _host_port(request.host, parts.scheme) and host_refusal(viewer().config["VIEWER_TOKEN"]) is None


def same_origin_post():
    """Whether a form POST comes from our own pages: ``Origin`` (else ``Referer``) is this host.

    Browsers send ``Origin`` with every POST (``null`` under a no-referrer policy); a client
    sending neither is not a browser, so no other site is driving it.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        referer = request.headers.get("Referer")
        if referer is None:
            return True
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    return our_origin(origin.strip())


def refuse_origin():
    return jsonify(error="this origin may not open the socket (see VIEWER_ALLOWED_HOSTS, VIEWER_CORS)"), 403
