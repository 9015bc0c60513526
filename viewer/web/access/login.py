"""The ``/login`` form and ``/logout`` (a blueprint under the viewer's own)."""
from __future__ import annotations

from flask import Blueprint, jsonify, redirect, request

from ...views.current import viewer
from .origins import same_origin_post
from .secret import COOKIE, same_secret
from .tokens import base, login_page, pause_after_wrong_token, safe_next, set_auth_cookie, too_many

bp = Blueprint("access", __name__)


def _settings():
    v = viewer()
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
    budget = viewer().failures
    wait = budget.retry_after(request.remote_addr)
    if wait:
        message = f"Too many wrong tokens from your address: try again in {wait} s."
        return too_many(wait, login_page(prefix, next_url, message, status=429)[0])
    if not same_secret(request.form.get("token", "").strip(), token):
        budget.fail(request.remote_addr)
        pause_after_wrong_token()
        return login_page(prefix, next_url, "That token is not right.")
    return set_auth_cookie(redirect(next_url, 303), token, prefix)


@bp.post("/logout")
def logout():
    """Forget the cookie; back to the login form. Only our own pages may ask (no CSRF)."""
    _, prefix = _settings()
    if not same_origin_post():
        return jsonify(error="log out from the viewer's own page: this request came from another site"), 403
    resp = redirect(base(prefix) + "/login", 303)
    resp.delete_cookie(COOKIE, path=base(prefix) or "/", httponly=True, samesite="Lax")
    return resp
