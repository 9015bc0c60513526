"""The token check (a ``before_request``): ``Authorization: Bearer``, the auth cookie, or a page
visited with ``?token=`` (which sets the cookie and drops the token from the URL). Anything else
gets 401: JSON for the API, files and streams, the login page for pages; wrong tokens spend the
client's ``FailureBudget``."""
from __future__ import annotations

import time
from urllib.parse import unquote, urlencode, urlsplit

from flask import current_app, jsonify, redirect, render_template, request

from ...views.current import viewer
from .capabilities import read_capability
from .hosts import host_refusal
from .secret import COOKIE, cookie_value, same_secret

FAILED_LOGIN_DELAY = 0.5   # seconds a wrong token waits on a page (the budget is the real limit)


def pause_after_wrong_token():
    """A wrong token on a page (``?token=``, the login form) waits ``FAILED_LOGIN_DELAY``."""
    time.sleep(FAILED_LOGIN_DELAY)


def base(prefix):
    """The mount point as the browser sees it (a WSGI script root, then the prefix)."""
    return request.script_root + prefix


def safe_next(target, prefix):
    """``target`` when it is a local path under the mount, else the overview.

    Refused: anything with a scheme or a host (``https://evil``, ``//evil``), backslashes
    (browsers read ``/\\evil`` as ``//evil``), control characters (browsers drop tabs and
    newlines, turning ``/\\t/evil`` into ``//evil``) and ``..`` segments leaving the mount.
    """
    home = base(prefix) + "/"
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
    mount = base(prefix)
    if mount and not (parts.path == mount or parts.path.startswith(mount + "/")):
        return home
    return target


def set_auth_cookie(resp, token, prefix):
    resp.set_cookie(COOKIE, cookie_value(token), httponly=True, samesite="Lax",
                    secure=request.is_secure, path=base(prefix) or "/")
    return resp


def login_page(prefix, next_url, message=None, status=401):
    """The login form; after it, the browser goes back to ``next_url``."""
    return render_template("tailboard/login.html", next_url=safe_next(next_url, prefix),
                           message=message), status


def too_many(wait, page_body=None):
    """The 429 for a client past its budget: ``page_body`` (a login page), else JSON."""
    if page_body is None:
        page_body = jsonify(error=f"too many wrong tokens from your address: try again in {wait} s")
    resp = current_app.make_response((page_body, 429))
    resp.headers["Retry-After"] = str(wait)
    return resp


def _here():
    """This request's URL as a ``next`` (without a ``token`` parameter)."""
    rest = [(k, v) for k, v in request.args.items(multi=True) if k != "token"]
    return request.script_root + request.path + ("?" + urlencode(rest) if rest else "")


def _bearer():
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else None


def _let_through_unauthenticated(token, prefix):
    """The routes that must answer without the token (each says why)."""
    path = request.path
    if path in (prefix + "/login", prefix + "/logout"):
        return True  # the form itself, and forgetting a cookie
    if path.startswith(prefix + "/files/~"):
        found = read_capability(path[len(prefix) + 8:].split("/", 1)[0])
        if found is not None:
            return True  # a sandboxed report's own files: files.serve checks folder and expiry
    if path == prefix + "/-/livereload.js":
        return True  # the published livereload-js client, nothing of the runs
    if path == prefix + "/livereload":
        found = read_capability(request.args.get("v", "").rpartition("~")[2])
        if found is not None and not found[1]:
            return True  # a report's socket: bound to its folder (livereload.py)
    # CORS preflights carry no credentials; they reveal nothing either
    return request.method == "OPTIONS" and path.startswith(prefix + "/files/")


def check(token, prefix):
    """A ``before_request`` hook: None to let the request through, else the refusal."""
    refused = host_refusal(token)
    if refused is not None:
        return refused
    if not token or _let_through_unauthenticated(token, prefix):
        return None
    if same_secret(request.cookies.get(COOKIE, ""), cookie_value(token)):
        return None
    path = request.path
    api_like = (path.startswith((prefix + "/api/", prefix + "/files/", prefix + "/events",
                                 prefix + "/ws/", prefix + "/healthz", prefix + "/-/", prefix + "/livereload"))
                or request.accept_mimetypes.best == "application/json")
    bearer, given = _bearer(), request.args.get("token")
    if bearer is not None or given is not None:
        budget = viewer().failures
        wait = budget.retry_after(request.remote_addr)
        if wait:
            page = not api_like and bearer is None
            message = f"too many wrong tokens from your address: try again in {wait} s"
            return too_many(wait, login_page(prefix, _here(), message, status=429)[0] if page else None)
        if bearer is not None and same_secret(bearer, token):
            return None
        if bearer is None and same_secret(given, token):
            return set_auth_cookie(redirect(safe_next(_here(), prefix)), token, prefix)
        budget.fail(request.remote_addr)
        if api_like or bearer is not None:
            return jsonify(error="that token is not right"), 401
        pause_after_wrong_token()
        return login_page(prefix, _here(), "That token is not right.")
    if api_like:
        return jsonify(error="a token is required: send 'Authorization: Bearer <token>'"), 401
    return login_page(prefix, _here())
