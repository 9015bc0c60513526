"""Which ``Host`` names the viewer answers to (DNS rebinding): loopback names, and with no token
only those or ``VIEWER_ALLOWED_HOSTS``; with a token, any unless ``VIEWER_ALLOWED_HOSTS`` is set."""
from __future__ import annotations

import ipaddress

from flask import jsonify, request

from ...views.current import viewer


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
    setting = viewer().config.get("VIEWER_ALLOWED_HOSTS") or ""
    if not isinstance(setting, str):
        setting = ",".join(setting)
    return [h.strip().lower().rstrip(".") for h in setting.split(",") if h.strip()]


def listed(name, entries):
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
    if name is not None and (is_loopback_name(name) or listed(name, entries)):
        return None
    message = (f"this viewer does not answer to the host name {request.host[:100]!r}: open it as "
               "http://localhost:<port>/ (or 127.0.0.1), or add the name to VIEWER_ALLOWED_HOSTS")
    return jsonify(error=message), 403
