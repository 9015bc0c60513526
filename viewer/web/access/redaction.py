"""What the access logs may show: tokens, the auth cookie and report capabilities cut out."""
from __future__ import annotations

import logging
import re
from urllib.parse import unquote

from .secret import COOKIE

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
