"""Who gets in: allowed host names, the access token (``VIEWER_TOKEN``), the login form, report
capabilities, websocket origins, the failure budget, and what the access logs may show.

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

import base64
import collections
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import threading
import time
from urllib.parse import unquote, urlencode, urlsplit

from flask import Blueprint, current_app, jsonify, redirect, render_template, request

from ..data.errors import ViewerError

COOKIE = "tailboard_auth"
FAILED_LOGIN_DELAY = 0.5   # seconds a wrong token waits on a page (the budget is the real limit)
CAPABILITY_TTL = 12 * 3600  # seconds a report link (``/files/~<capability>/``) stays valid

bp = Blueprint("access", __name__)


def _bytes(value):
    # compare_digest refuses non-ASCII str; headers arrive as latin-1 str, forms as utf-8
    if isinstance(value, bytes):
        return value
    return (value or "").encode("utf-8", "surrogateescape")


def same_secret(given, expected):
    """Constant-time equality of two secrets, whatever characters ``given`` holds."""
    return hmac.compare_digest(_bytes(given), _bytes(expected))


def cookie_value(token):
    return hmac.new(_bytes(token), b"tailboard-cookie-v2", hashlib.sha256).hexdigest()


def _viewer():
    return current_app.extensions["tailboard"]


# -- host names (DNS rebinding) ---------------------------------------------------------------

def host_name(hostport):
    """The lower-case name of a ``Host`` value (``[::1]:8000`` -> ``::1``), or None if malformed."""
    value = (hostport or "").strip().lower()
    if not value or any(c.isspace() or c in "/\\@?#" for c in value):
        return None
    if value.startswith("["):
        name, sep, rest = value[1:].partition("]")
        if not sep or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        return name
    name, sep, port = value.rpartition(":")
    if not sep:
        name = value
    elif not port.isdigit():
        return None
    return name.rstrip(".") or None


def is_loopback_name(name):
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def allowed_hosts():
    """``VIEWER_ALLOWED_HOSTS`` as a list of lower-case entries (empty when unset)."""
    setting = _viewer().config.get("VIEWER_ALLOWED_HOSTS") or ""
    if not isinstance(setting, str):
        setting = ",".join(setting)
    return [h.strip().lower().rstrip(".") for h in setting.split(",") if h.strip()]


def _listed(name, entries):
    """Whether ``name`` is one of ``entries`` (``.example.org`` also takes its subdomains)."""
    for entry in entries:
        if entry == "*" or entry == name or (entry.startswith(".") and (name.endswith(entry) or name == entry[1:])):
            return True
    return False


def host_refusal(token):
    """The 403 for a ``Host`` this viewer does not answer to, else None."""
    entries = allowed_hosts()
    if token and not entries:
        return None  # the token protects; a rebound page has no cookie and no token
    name = host_name(request.host)
    if name is not None and (is_loopback_name(name) or _listed(name, entries)):
        return None
    message = (f"this viewer does not answer to the host name {request.host[:100]!r}: open it as "
               "http://localhost:<port>/ (or 127.0.0.1), or add the name to VIEWER_ALLOWED_HOSTS")
    return jsonify(error=message), 403


# -- report capabilities ----------------------------------------------------------------------

def signing_key():
    """What capabilities are signed with: the token, else the instance secret (``Viewer.secret``)."""
    v = _viewer()
    return _bytes(v.config.get("VIEWER_TOKEN") or v.secret)


def _folder_of(relpath):
    parts = [p for p in relpath.split("/") if p not in ("", ".")]
    return "/".join(parts)


def _mac(key, folder, expires):
    msg = b"tailboard-report-v1\0" + str(expires).encode() + b"\0" + folder.encode("utf-8", "surrogateescape")
    return hmac.new(key, msg, hashlib.sha256).hexdigest()[:32]


def make_capability(key, folder, now=None):
    """``<expiry, hex>.<mac>.<folder, base64url>``: opens the files under ``folder`` (relative to
    the root; ``""`` is the whole root) for 12 hours. The MAC is HMAC-SHA256(key, folder, expiry)."""
    folder = _folder_of(folder)
    expires = int((now or time.time()) + CAPABILITY_TTL)
    encoded = base64.urlsafe_b64encode(folder.encode("utf-8", "surrogateescape")).decode().rstrip("=")
    return f"{expires:x}.{_mac(_bytes(key), folder, expires)}.{encoded}"


def mint_capability(folder, now=None):
    """A capability for ``folder``, signed with this viewer's key (``signing_key``)."""
    return make_capability(signing_key(), folder, now)


_CAP = re.compile(r"([0-9a-f]{1,12})\.([0-9a-f]{32})\.([A-Za-z0-9_-]*)")


def read_capability(cap, now=None):
    """``(folder, expired)`` for a capability this viewer signed, else None."""
    m = _CAP.fullmatch(cap or "")
    if not m:
        return None
    expires = int(m.group(1), 16)
    try:
        raw = m.group(3)
        folder = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("utf-8", "surrogateescape")
    except (ValueError, TypeError):
        return None
    if folder != _folder_of(folder) or not same_secret(m.group(2), _mac(signing_key(), folder, expires)):
        return None
    return folder, expires <= (now or time.time())


def _under(rel, folder):
    return not folder or rel == folder or rel.startswith(folder + "/")


def capability_refusal(cap, relpath, now=None):
    """None when ``cap`` opens ``relpath``; else ``(message, status)``.

    The path must lie under the capability's folder both as written (no ``..``) and once
    symlinks are resolved (a link inside the folder to another run's files does not count).
    """
    found = read_capability(cap, now)
    if found is None:
        return "no such file", 404
    folder, expired = found
    if expired:
        return ("this report link has expired (report links last 12 hours): open the report "
                "again from the viewer"), 403
    return folder_refusal(folder, relpath)


def folder_refusal(folder, relpath):
    """None when ``relpath`` lies under ``folder`` as written (no ``..``) and once symlinks are
    resolved (a link inside the folder to another run's files does not count); else
    ``(message, status)``."""
    outside = (f"this report link opens only the files under {folder or '.'}/; "
               "open other files from the viewer")
    if ".." in relpath.split("/") or not _under(_folder_of(relpath), folder):
        return outside, 403
    store = _viewer().store
    try:
        real_folder = store.resolve(folder)
        real = store.resolve(relpath)
    except ViewerError:
        return "no such file", 404
    if not (real == real_folder or real.startswith(real_folder.rstrip(os.sep) + os.sep)):
        return outside, 403
    return None


# -- failure budget -----------------------------------------------------------------------------

class FailureBudget:
    """At most ``limit`` wrong tokens per client address in any ``window`` seconds.

    Bounded: at most ``max_clients`` addresses are tracked; when full (and none has aged out),
    new addresses share one overflow entry, so flooding from many addresses neither grows the
    memory nor resets anyone's budget. IPv6 addresses count per /64 (one host holds a /64).
    """

    def __init__(self, limit=10, window=60.0, max_clients=10000, clock=time.monotonic):
        self.limit, self.window, self.max_clients, self.clock = limit, window, max_clients, clock
        self._fails = collections.OrderedDict()   # client -> deque of failure times
        self._lock = threading.Lock()

    @staticmethod
    def client(address):
        try:
            ip = ipaddress.ip_address((address or "").split("%")[0])
        except ValueError:
            return address or "?"
        if ip.version == 6:
            if ip.ipv4_mapped:
                return str(ip.ipv4_mapped)
            return str(ipaddress.ip_network(f"{ip}/64", strict=False))
        return str(ip)

    def _recent(self, key, now):
        times = self._fails.get(key)
        while times and times[0] <= now - self.window:
            times.popleft()
        if times is not None and not times:
            del self._fails[key]
            return None
        return times

    def retry_after(self, address):
        """Seconds until this client may try again (0: it may now)."""
        now = self.clock()
        with self._lock:
            key = self._key(self.client(address), now, create=False)
            times = self._recent(key, now) if key else None
            if times is None or len(times) < self.limit:
                return 0
            return max(1, int(times[0] + self.window - now + 0.999))

    def fail(self, address):
        now = self.clock()
        with self._lock:
            key = self._key(self.client(address), now, create=True)
            times = self._fails.setdefault(key, collections.deque(maxlen=self.limit))
            times.append(now)
            self._fails.move_to_end(key)

    def _key(self, key, now, create):
        if key in self._fails:
            return key
        if len(self._fails) < self.max_clients:
            return key
        for old in list(self._fails)[:64]:   # the least recently failing ones, aged out
            self._recent(old, now)
        if len(self._fails) < self.max_clients:
            return key
        return "overflow" if (create or "overflow" in self._fails) else None


def _too_many(wait, prefix, page):
    message = f"too many wrong tokens from your address: try again in {wait} s"
    if page:
        body, status = login_page(prefix, _here(), message, status=429)
    else:
        body, status = jsonify(error=message), 429
    resp = current_app.make_response((body, status))
    resp.headers["Retry-After"] = str(wait)
    return resp


# -- login, logout ------------------------------------------------------------------------------

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
        budget = _viewer().failures
        wait = budget.retry_after(request.remote_addr)
        if wait:
            return _too_many(wait, prefix, page=not api_like and bearer is None)
        if bearer is not None and same_secret(bearer, token):
            return None
        if bearer is None and same_secret(given, token):
            return set_auth_cookie(redirect(safe_next(_here(), prefix)), token, prefix)
        budget.fail(request.remote_addr)
        if api_like or bearer is not None:
            return jsonify(error="that token is not right"), 401
        time.sleep(FAILED_LOGIN_DELAY)
        return login_page(prefix, _here(), "That token is not right.")
    if api_like:
        return jsonify(error="a token is required: send 'Authorization: Bearer <token>'"), 401
    return login_page(prefix, _here())


def _settings():
    v = _viewer()
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
    budget = _viewer().failures
    wait = budget.retry_after(request.remote_addr)
    if wait:
        resp = current_app.make_response(login_page(prefix, next_url, f"Too many wrong tokens from your "
                                                     f"address: try again in {wait} s.", status=429))
        resp.headers["Retry-After"] = str(wait)
        return resp
    if not same_secret(request.form.get("token", "").strip(), token):
        budget.fail(request.remote_addr)
        time.sleep(FAILED_LOGIN_DELAY)
        return login_page(prefix, next_url, "That token is not right.")
    return set_auth_cookie(redirect(next_url, 303), token, prefix)


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
    return _our_origin(origin.strip())


@bp.post("/logout")
def logout():
    """Forget the cookie; back to the login form. Only our own pages may ask (no CSRF)."""
    _, prefix = _settings()
    if not same_origin_post():
        return jsonify(error="log out from the viewer's own page: this request came from another site"), 403
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
    cors = _viewer().config.get("VIEWER_CORS") or ""
    listed = {o.strip().rstrip("/").lower() for o in cors.split(",") if o.strip() not in ("", "*")}
    if origin.rstrip("/").lower() in listed:
        return True
    return _our_origin(origin)


def _our_origin(origin):
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
    if _listed(mine[0], entries):
        return True
    return mine == _host_port(request.host, parts.scheme) and host_refusal(_viewer().config["VIEWER_TOKEN"]) is None


def refuse_origin():
    return jsonify(error="this origin may not open the socket (see VIEWER_ALLOWED_HOSTS, VIEWER_CORS)"), 403


# -- what the access logs may show --------------------------------------------------------------

_QUERY_PAIR = re.compile(r"(^|[?&;\s])([^=&;#\s\"?]*)=([^&;#\s\"]*)")
_BEARER = re.compile(r"(?i)\b(bearer\s+)\S+")
SECRET_KEYS = ("token", COOKIE)
_PATH_CAP = re.compile(r"/(?:~|%7[eE])[^/?#\s\"]*")
REDACTED = "[redacted]"


def redact(text):
    """``text`` (a URL, a request line, a Referer) with its secrets replaced by ``[redacted]``:
    ``token=`` values (however the name is percent-encoded), ``/files/~<capability>/`` segments,
    the capability in ``livereload?v=<stamp>~<capability>``, a bearer token and the auth cookie
    (for log formats that show headers). For every access log."""
    if not isinstance(text, str) or not text:
        return text

    def pair(m):
        key = unquote(m.group(2))
        if key in SECRET_KEYS:
            return f"{m.group(1)}{m.group(2)}={REDACTED}"
        value = m.group(3)
        if "~" in value or "%7e" in value.lower():
            value = re.split(r"~|%7[eE]", value, maxsplit=1)[0] + "~" + REDACTED
        return f"{m.group(1)}{m.group(2)}={value}"

    text = _QUERY_PAIR.sub(pair, text)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    return _PATH_CAP.sub("/~" + REDACTED, text)


class RedactFilter(logging.Filter):
    """A logging filter that passes every string of a record through ``redact``.

    Installed on werkzeug's request log (``flask run``); gunicorn's access log uses
    ``gunicorn.conf.py``'s logger class; a CLI serving Tailboard adds it to its own logger.
    """

    def filter(self, record):
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(a) if isinstance(a, str) else a for k, a in record.args.items()}
        return True


def install_log_redaction(name="werkzeug"):
    """Add ``RedactFilter`` to the logger ``name`` once (idempotent)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactFilter) for f in logger.filters):
        logger.addFilter(RedactFilter())
