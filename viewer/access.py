"""Optional access token (``VIEWER_TOKEN``) guarding every route of the viewer.

A request passes with ``Authorization: Bearer <token>`` or with the cookie that a visit to any
page with ``?token=<token>`` sets (the token is then dropped from the URL by a redirect).
Anything else gets 401: JSON for the API, files and streams, a login page for pages. The
cookie holds a hash of the token, never the token, and is HttpOnly and SameSite=Lax.
"""
from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode

from flask import jsonify, redirect, render_template, request

COOKIE = "tailboard_auth"


def cookie_value(token):
    return hashlib.sha256(("tailboard:" + token).encode()).hexdigest()


def files_capability(token):
    """The secret path segment that lets a sandboxed report load its own files.

    A report is served with an opaque origin (CSP sandbox), so its own requests (CSS, images,
    the live-reload socket) carry no cookie. Reports are therefore served under
    ``/files/~<capability>/...``: relative URLs stay under it, and it opens files (only files:
    not the API, not pages) to whoever holds the link, like the token itself would.
    """
    return hmac.new(token.encode(), b"tailboard-files", hashlib.sha256).hexdigest()[:32]


def has_capability(token, given):
    return bool(token) and hmac.compare_digest(given or "", files_capability(token))


def check(token, prefix):
    """A ``before_request`` hook: None to let the request through, else the refusal."""
    if not token:
        return None
    path = request.path
    if path.startswith(prefix + "/files/~") and has_capability(token, path[len(prefix) + 8:].split("/", 1)[0]):
        return None
    if path == prefix + "/-/livereload.js":
        return None  # the published livereload-js client, nothing of the runs
    if path == prefix + "/livereload" and has_capability(token, request.args.get("v", "").rpartition("~")[2]):
        return None
    if request.method == "OPTIONS" and request.path.startswith(prefix + "/files/"):
        return None  # CORS preflights carry no credentials; they reveal nothing either
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip(), token):
        return None
    if hmac.compare_digest(request.cookies.get(COOKIE, ""), cookie_value(token)):
        return None
    given = request.args.get("token")
    if given is not None and hmac.compare_digest(given, token):
        rest = [(k, v) for k, v in request.args.items(multi=True) if k != "token"]
        resp = redirect(request.path + ("?" + urlencode(rest) if rest else ""))
        resp.set_cookie(COOKIE, cookie_value(token), httponly=True, samesite="Lax",
                        secure=request.is_secure, path=prefix or "/")
        return resp
    api_like = (request.path.startswith((prefix + "/api/", prefix + "/files/", prefix + "/events",
                                         prefix + "/ws/", prefix + "/healthz", prefix + "/-/"))
                or request.accept_mimetypes.best == "application/json")
    if api_like:
        return jsonify(error="a token is required: send 'Authorization: Bearer <token>'"), 401
    return render_template("tailboard/login.html"), 401
