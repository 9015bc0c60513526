"""stable-pretraining run folders: a directory holding ``sidecar.json`` is a run.

``sidecar.json`` is rewritten atomically (``.sidecar.json.*.tmp`` then rename) and carries
status, tags, hparams and summary; ``heartbeat`` is touched on every metrics flush;
``metrics.csv`` is Lightning's layout; ``media.jsonl`` lists images and videos; logs live in
the folder, in ``hparams["output_dir"]`` and in the submitit layout beside it.
"""
from __future__ import annotations

import glob
import json
import os

from .base import Part, SourceError, stat_or_none
from .csvmetrics import CsvSource
from .logs import is_log_name
from .media import MediaJsonl

SIDECAR = "sidecar.json"
STATUS = {"running": "running", "completed": "completed", "failed": "failed",
          "orphaned": "stale"}


def read_sidecar(run_dir):
    path = os.path.join(run_dir, SIDECAR)
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise SourceError(f"{SIDECAR}: vanished") from None
    except OSError as e:
        raise SourceError(f"{SIDECAR}: {e.strerror}") from e
    except ValueError as e:
        raise SourceError(f"{SIDECAR}: invalid JSON ({e})") from e
    if not isinstance(data, dict):
        raise SourceError(f"{SIDECAR}: expected a JSON object, got {type(data).__name__}")
    return data


def _dict(v):
    return v if isinstance(v, dict) else {}


def _num(v):
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def sidecar_meta(run_dir):
    d = read_sidecar(run_dir)
    hb = stat_or_none(os.path.join(run_dir, "heartbeat"))
    tags = d.get("tags")
    meta = {
        "name": d.get("display_name") or d.get("run_id") or None,
        "status": STATUS.get(d.get("status"), "unknown") if d.get("status") else None,
        "created_at": _num(d.get("created_at")),
        "ended_at": _num(d.get("ended_at")),
        "updated_at": _num(d.get("updated_at")),
        "heartbeat_at": hb.st_mtime if hb else None,
        "tags": [str(t) for t in tags] if isinstance(tags, list) else [],
        "notes": d.get("notes") if isinstance(d.get("notes"), str) else "",
        "hparams": _dict(d.get("hparams")),
        "summary": {k: v for k, v in _dict(d.get("summary")).items() if _num(v) is not None},
        "archived": bool(d.get("archived")),
        "checkpoint_path": d.get("checkpoint_path"),
        "sidecar": {k: v for k, v in d.items() if k not in ("hparams", "summary")},
    }
    return {k: v for k, v in meta.items() if v is not None}


def output_dir_logs(run_dir, root):
    """Logs in ``hparams.output_dir`` and the submitit per-rank logs beside it, inside the root."""
    try:
        out = _dict(read_sidecar(run_dir).get("hparams")).get("output_dir")
    except SourceError:
        return []
    if not isinstance(out, str) or not out:
        return []
    out = os.path.realpath(os.path.join(run_dir, out))
    if not out.startswith(os.path.realpath(root) + os.sep):
        return []  # never read outside the root, whatever a sidecar says
    found = []
    try:
        found += [os.path.join(out, f) for f in sorted(os.listdir(out)) if is_log_name(f)]
    except OSError:
        pass
    # submitit's per-rank logs of this run's own task (<sweep>_<task>/.submitit), not its siblings'
    pattern = os.path.join(glob.escape(out), ".submitit", "*_log.[oe][ur][tr]")
    found += sorted(glob.glob(pattern))
    # a symlinked log or submitit folder may still lead outside the root
    return [p for p in found if os.path.realpath(p).startswith(os.path.realpath(root) + os.sep)]


def detect(dirpath, files, subdirs):
    if SIDECAR not in files:
        return None
    metrics = [CsvSource(os.path.join(dirpath, "metrics.csv"))] if "metrics.csv" in files else []
    media = MediaJsonl(dirpath) if "media.jsonl" in files else None
    return Part("spt", 100, metrics=metrics, meta=sidecar_meta, media=media,
                skip_dirs=("media", "checkpoints"))
