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


def check(token, prefix):
    """A ``before_request`` hook: None to let the request through, else the refusal."""
    if not token:
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
