"""Who gets in: allowed host names, the access token (``VIEWER_TOKEN``), the login form, report
capabilities, websocket origins, the failure budget, and what the access logs may show.

One module per idea; this package re-exports their public names (``access.check``,
``access.mint_capability``, ``access.redact``...), so callers import ``viewer.web.access``:

- ``hosts``: which ``Host`` names the viewer answers to (DNS rebinding, ``VIEWER_ALLOWED_HOSTS``);
- ``secret``: constant-time comparison of secrets, and the auth cookie's value;
- ``tokens``: the ``before_request`` check (token, cookie, ``?token=``), the login page, ``next``;
- ``login``: the ``/login`` and ``/logout`` blueprint;
- ``capabilities``: report links (``/files/~<capability>/``), bound to a folder for 12 hours;
- ``origins``: which ``Origin`` may open a websocket or post the logout form;
- ``budget``: wrong tokens per client address (``FailureBudget``);
- ``redaction``: tokens and capabilities cut out of every access log.

**Host names.** With no token, the viewer answers only requests whose ``Host`` is a loopback
name (``localhost``, ``127.0.0.1``, any 127.x address, ``[::1]``; any port) or is listed in
``VIEWER_ALLOWED_HOSTS``: anything else gets 403 before any route runs. Without it, a page of
any site could rebind its own name to 127.0.0.1 (DNS rebinding) and read every run through the
user's browser. With a token, ``Host`` is free (a rebound page carries no cookie for our
origin and does not know the token) unless ``VIEWER_ALLOWED_HOSTS`` is set, which then holds.

**Token.** With a token, a request passes with ``Authorization: Bearer <token>``, or with the
cookie that the login form (``POST /login``) or a visit to any page with ``?token=<token>`` sets
(the token is then dropped from the URL by a redirect). Anything else gets 401: JSON for the
API, files and streams, the login page for pages. Every comparison is constant-time, on bytes.
Wrong tokens (header, ``?token=``, form) spend a per-address budget (``FailureBudget``): past
it, 429 with ``Retry-After``, and the token given is not even compared.

The cookie holds an HMAC of the token under a fixed label, never the token: every worker and
every restart agree on it (a page's event stream reconnects by itself after a restart), and
changing the token logs every browser out. It is HttpOnly, SameSite=Lax (a link to a run
pasted in a chat still opens for someone logged in; Strict would show them the login page),
Secure over HTTPS, and scoped to the mount prefix.

**Reports** run sandboxed (an opaque origin, no cookie): they are served under
``/files/~<capability>/``, a capability bound to the report's folder and valid 12 hours
(``mint_capability``). The live-reload socket of a report takes the same capability.

Websockets are not covered by CORS and a browser sends the cookie with them, so a page of any
other site could read the logs: ``websocket_origin_ok`` refuses foreign ``Origin`` headers.
"""
from __future__ import annotations

from .budget import FailureBudget
from .capabilities import (CAPABILITY_TTL, capability_refusal, folder_refusal, make_capability,
                           mint_capability, read_capability, signing_key)
from .hosts import allowed_hosts, host_name, host_refusal, is_loopback_name
from .login import bp, login, logout
from .origins import refuse_origin, same_origin_post, websocket_origin_ok
from .redaction import REDACTED, SECRET_KEYS, RedactFilter, install_log_redaction, redact
from .secret import COOKIE, cookie_value, same_secret
from .tokens import check, login_page, safe_next, set_auth_cookie

__all__ = [
    "CAPABILITY_TTL", "COOKIE", "REDACTED", "SECRET_KEYS", "FailureBudget",
    "RedactFilter", "allowed_hosts", "bp", "capability_refusal", "check", "cookie_value",
    "folder_refusal", "host_name", "host_refusal", "install_log_redaction", "is_loopback_name",
    "login", "login_page", "logout", "make_capability", "mint_capability", "read_capability",
    "redact", "refuse_origin", "safe_next", "same_origin_post", "same_secret", "set_auth_cookie",
    "signing_key", "websocket_origin_ok",
]
