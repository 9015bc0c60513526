"""Settings: Flask config keys prefixed ``VIEWER_``, each also read from the environment.

Precedence: arguments to ``Viewer(...)`` > ``app.config`` > environment > default.
Every key is documented in docs/settings.md (a test checks it).
"""
from __future__ import annotations

import os

from .views.args import flag

DEFAULTS = {
    "VIEWER_ROOT": None,            # the runs folder; unset = the bundled live demo
    "VIEWER_POLL": None,            # seconds: force polling at this interval (unset: inotify when it can serve)
    "VIEWER_RESCAN": 30.0,          # seconds between full safety-net rescans of the root
    "VIEWER_HEARTBEAT": 15.0,       # seconds between SSE ping comments / websocket keepalives
    "VIEWER_STALE_AFTER": 300.0,    # a running run silent this long is shown as stale
    "VIEWER_POINTS": 2000,          # default points per series in /metrics
    "VIEWER_LOG_BYTES": 4 << 20,    # default bytes of a log tail in the API
    "VIEWER_PAGE_LOG_BYTES": 256 << 10,  # bytes of each log tail rendered on the run page
    "VIEWER_BACKGROUND": True,      # scan in a background thread (False: scan before serving)
    "VIEWER_TOKEN": None,           # optional access token (see docs/security.md, "Access")
    "VIEWER_OPEN": False,           # no generated token on a non-loopback bind: an authenticating proxy is in front
    "VIEWER_LIVERELOAD": True,      # inject the LiveReload client into HTML under /files/
    "VIEWER_CORS": None,            # origins allowed to fetch /files/ ("*" or a comma list); off
    # host names answered besides loopback (localhost, 127.0.0.1, [::1]), a comma list; ".example.org"
    # takes subdomains, "*" any name. Unset: with no token only loopback names (DNS rebinding), with
    # a token any. Set: held with or without a token. Websockets also take these names as Origin.
    "VIEWER_ALLOWED_HOSTS": None,
    "VIEWER_MEMORY_MB": 512,        # budget of parsed series per process; least recently used runs evicted
    "VIEWER_ALERTS": None,          # the alert rules file (TOML or YAML, outside the runs folder); unset: built-in rules; "off": no alerts
    "VIEWER_ALERT_WEBHOOK": None,   # URL each alert is POSTed to as JSON (Slack, Discord, Mattermost, ntfy)
    "VIEWER_COARSE_MB": 4.0,        # metric files this big: a sampled first chart, full parse in the background (0: off)
    "VIEWER_CACHE_DIR": None,       # where the viewer may write (column cache, alert state); unset: $XDG_CACHE_HOME/tailboard; "off": none
    "VIEWER_CACHE_MB": 4096,        # the column cache's cap on disk: least recently used entries pruned past it (0: no cap)
}

TYPES = {"VIEWER_POLL": float, "VIEWER_RESCAN": float, "VIEWER_HEARTBEAT": float, "VIEWER_STALE_AFTER": float, "VIEWER_POINTS": int,
         "VIEWER_LOG_BYTES": int, "VIEWER_PAGE_LOG_BYTES": int, "VIEWER_BACKGROUND": "bool", "VIEWER_LIVERELOAD": "bool",
         "VIEWER_OPEN": "bool", "VIEWER_MEMORY_MB": float,
         "VIEWER_COARSE_MB": float, "VIEWER_CACHE_MB": float}


def _cast(key, value):
    kind = TYPES.get(key)
    if value is None or kind is None:
        return value
    if kind == "bool":
        return flag(value, default=True)  # any word but off/false/no/0/blank is on
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key}={value!r}: expected {kind.__name__}") from None


def load(app, overrides):
    """The effective settings as a dict, also written back into ``app.config``."""
    out = {}
    for key, default in DEFAULTS.items():
        short = key[len("VIEWER_"):].lower()
        if overrides.get(short) is not None:
            value = overrides[short]
        elif app.config.get(key) is not None:
            value = app.config[key]
        elif os.environ.get(key) not in (None, ""):
            value = os.environ[key]
        else:
            value = default
        out[key] = _cast(key, value)
        app.config[key] = out[key]
    return out
