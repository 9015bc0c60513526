"""Plain logs: ``*.out``, ``*.err``, ``*.log``, ``stdout*``, ``stderr*``; a folder holding only logs is a run.

Logs add streams to whatever run owns their folder. A stream id is URL-safe and stable: the
file name, prefixed with its parent folder when two streams would share a name.
"""
from __future__ import annotations

import os
import re

from .base import Part

LOG_NAME = re.compile(r"(\.(out|err|log)(\.\d+)?$)|(^std(out|err))", re.IGNORECASE)
SUBMITIT = re.compile(r"^(?P<job>.+)_(?P<rank>\d+)_log\.(?P<kind>out|err)$")


def is_log_name(name):
    return bool(LOG_NAME.search(name)) and not name.startswith(".")


def stream_kind(name):
    low = name.lower()
    if low.endswith(".err") or low.startswith("stderr") or ".err." in low:
        return "err"
    if low.endswith(".out") or low.startswith("stdout") or ".out." in low:
        return "out"
    return "log"


def display_name(path):
    """``train.out``; submitit per-rank logs read ``<job> rank <r> (out)``."""
    name = os.path.basename(path)
    m = SUBMITIT.match(name)
    if m:
        return f"{m['job']} rank {m['rank']} ({m['kind']})"
    return name


def stream_rank(path):
    """The rank of a submitit per-rank log (``<job>_<rank>_log.out``), else None."""
    m = SUBMITIT.match(os.path.basename(path))
    return int(m["rank"]) if m else None


def stream_ids(paths):
    """Unique, URL-safe ids for a run's log paths, in order."""
    ids, seen = [], {}
    for p in paths:
        base = re.sub(r"[^A-Za-z0-9._-]", "_", os.path.basename(p))
        sid = base
        if sid in seen:
            parent = re.sub(r"[^A-Za-z0-9._-]", "_", os.path.basename(os.path.dirname(p)))
            sid = f"{parent}~{base}"
        n = 2
        while sid in seen:
            sid, n = f"{base}~{n}", n + 1
        seen[sid] = p
        ids.append(sid)
    return ids


def detect(dirpath, files, subdirs):
    logs = [os.path.join(dirpath, f) for f in sorted(files) if is_log_name(f)]
    if not logs:
        return None
    return Part("logs", 0, logs=logs)
