"""Who gets in: the access token (``VIEWER_TOKEN``), the login form, and websocket origins.

With a token, a request passes with ``Authorization: Bearer <token>``, or with the cookie that
the login form (``POST /login``) or a visit to any page with ``?token=<token>`` sets (the token
is then dropped from the URL by a redirect). Anything else gets 401: JSON for the API, files
and streams, the login page for pages. Every comparison is constant-time, on bytes.

The cookie holds an HMAC of the token under a fixed label, never the token: every worker and
every restart agree on it (a page's event stream reconnects by itself after a restart), and
changing the token logs every browser out. It is HttpOnly, SameSite=Lax (a link to a run
pasted in a chat still opens for someone logged in; Strict would show them the login page),
Secure over HTTPS, and scoped to the mount prefix.

Websockets are not covered by CORS and a browser sends the cookie with them, so a page of any
other site could read the logs: ``websocket_origin_ok`` refuses foreign ``Origin`` headers.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import unquote, urlencode, urlsplit

from flask import Blueprint, current_app, jsonify, redirect, render_template, request

COOKIE = "tailboard_auth"
FAILED_LOGIN_DELAY = 0.5   # seconds a wrong token waits: a guessing script gets two tries a second

bp = Blueprint("access", __name__)


def _bytes(value):
    # compare_digest refuses non-ASCII str; headers arrive as latin-1 str, forms as utf-8
    return (value or "").encode("utf-8", "surrogateescape")


def same_secret(given, expected):
    """Constant-time equality of two secrets, whatever characters ``given`` holds."""
    return hmac.compare_digest(_bytes(given), _bytes(expected))


def cookie_value(token):
    return hmac.new(_bytes(token), b"tailboard-cookie-v2", hashlib.sha256).hexdigest()


def files_capability(token):
    """The secret path segment that lets a sandboxed report load its own files.

    A report is served with an opaque origin (CSP sandbox), so its own requests (CSS, images,
    the live-reload socket) carry no cookie. Reports are therefore served under
    ``/files/~<capability>/...``: relative URLs stay under it, and it opens files (only files:
    not the API, not pages) to whoever holds the link, like the token itself would.
    """
    return hmac.new(_bytes(token), b"tailboard-files", hashlib.sha256).hexdigest()[:32]


def has_capability(token, given):
    return bool(token) and same_secret(given, files_capability(token))


def _base(prefix):
    """The mount point as the browser sees it (a WSGI script root, then the prefix)."""
    return request.script_root + prefix


def safe_next(target, prefix):
    """``target`` when it is a local path under the mount, else the overview.

    Refused: anything with a scheme or a host (``https://evil``, ``//evil``), backslashes
    (browsers read ``/\\evil`` as ``//evil``), control characters (browsers drop tabs and
    newlines, turning ``/\\t/evil`` into ``//evil``) and ``..`` segments leaving the mount.
    """
    home = _base(prefix) + "/"
    if not isinstance(target, str) or not target.startswith("/") or len(target) > 4096:
        return home
    if "\\" in target or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return home
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return home
    segments = unquote(parts.path).split("/")
    if ".." in segments or any(s.strip() in (".", "..") for s in segments):
        return home
    base = _base(prefix)
    if base and not (parts.path == base or parts.path.startswith(base + "/")):
        return home
    return target


def set_auth_cookie(resp, token, prefix):
    resp.set_cookie(COOKIE, cookie_value(token), httponly=True, samesite="Lax",
                    secure=request.is_secure, path=_base(prefix) or "/")
    return resp


def login_page(prefix, next_url, message=None, status=401):
    """The login form; after it, the browser goes back to ``next_url``."""
    return render_template("tailboard/login.html", next_url=safe_next(next_url, prefix),
                           message=message), status


def _here():
    """This request's URL as a ``next`` (without a ``token`` parameter)."""
    rest = [(k, v) for k, v in request.args.items(multi=True) if k != "token"]
    return request.script_root + request.path + ("?" + urlencode(rest) if rest else "")


def _authenticated(token):
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer " and same_secret(header[7:].strip(), token):
        return True
    return same_secret(request.cookies.get(COOKIE, ""), cookie_value(token))


def _let_through_unauthenticated(token, prefix):
    """The routes that must answer without the token (each says why)."""
    path = request.path
    if path in (prefix + "/login", prefix + "/logout"):
        return True  # the form itself, and forgetting a cookie
    if path.startswith(prefix + "/files/~") and has_capability(token, path[len(prefix) + 8:].split("/", 1)[0]):
        return True  # a sandboxed report's own files (see files_capability)
    if path == prefix + "/-/livereload.js":
        return True  # the published livereload-js client, nothing of the runs
    if path == prefix + "/livereload" and has_capability(token, request.args.get("v", "").rpartition("~")[2]):
        return True
    # CORS preflights carry no credentials; they reveal nothing either
    return request.method == "OPTIONS" and path.startswith(prefix + "/files/")


def check(token, prefix):
    """A ``before_request`` hook: None to let the request through, else the refusal."""
    if not token or _let_through_unauthenticated(token, prefix) or _authenticated(token):
        return None
    given = request.args.get("token")
    if given is not None and same_secret(given, token):
        return set_auth_cookie(redirect(safe_next(_here(), prefix)), token, prefix)
    path = request.path
    api_like = (path.startswith((prefix + "/api/", prefix + "/files/", prefix + "/events",
                                 prefix + "/ws/", prefix + "/healthz", prefix + "/-/", prefix + "/livereload"))
                or request.accept_mimetypes.best == "application/json")
    if api_like:
        return jsonify(error="a token is required: send 'Authorization: Bearer <token>'"), 401
    if given is not None:
        time.sleep(FAILED_LOGIN_DELAY)
        return login_page(prefix, _here(), "That token is not right.")
    return login_page(prefix, _here())


def _settings():
    v = current_app.extensions["tailboard"]
    return v.config["VIEWER_TOKEN"], v.url_prefix


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The login form (GET) and its answer (POST ``token``, ``next``): the cookie, then ``next``."""
    token, prefix = _settings()
    next_url = safe_next(request.values.get("next"), prefix)
    if not token:
        return redirect(next_url, 303)  # nothing to log in to
    if request.method == "GET":
        return login_page(prefix, next_url, status=200)
    if not same_secret(request.form.get("token", "").strip(), token):
        time.sleep(FAILED_LOGIN_DELAY)
        return login_page(prefix, next_url, "That token is not right.")
    return set_auth_cookie(redirect(next_url, 303), token, prefix)


@bp.post("/logout")
def logout():
    """Forget the cookie; back to the login form."""
    _, prefix = _settings()
    resp = redirect(_base(prefix) + "/login", 303)
    resp.delete_cookie(COOKIE, path=_base(prefix) or "/", httponly=True, samesite="Lax")
    return resp


# -- websocket origins ------------------------------------------------------------------------

def _host_port(netloc, scheme):
    parts = urlsplit("//" + netloc)
    try:
        port = parts.port
    except ValueError:
        return None
    default = 443 if scheme in ("https", "wss") else 80
    return (parts.hostname or "").lower(), port or default


def websocket_origin_ok(allow_null=False):
    """May this (websocket) request's ``Origin`` open the socket?

    Yes without an ``Origin`` (not a browser), when its host:port is the request's ``Host``,
    or when ``VIEWER_CORS`` lists it (``*`` does not count: fetches under ``*`` carry no
    cookie, a websocket would). ``null`` (a sandboxed report) only when ``allow_null``.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    origin = origin.strip()
    if origin == "null":
        return allow_null
    cors = current_app.extensions["tailboard"].config.get("VIEWER_CORS") or ""
    listed = {o.strip().rstrip("/").lower() for o in cors.split(",") if o.strip() not in ("", "*")}
    if origin.rstrip("/").lower() in listed:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    mine = _host_port(parts.netloc, parts.scheme)
    return mine is not None and mine == _host_port(request.host, parts.scheme)


def refuse_origin():
    return jsonify(error="this origin may not open the socket (see VIEWER_CORS)"), 403
