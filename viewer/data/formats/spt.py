"""stable-pretraining run folders: a directory holding ``sidecar.json`` is a run.

``sidecar.json`` is rewritten atomically (``.sidecar.json.*.tmp`` then rename) and carries
status, tags, hparams and summary; ``heartbeat`` is touched on every metrics flush;
``metrics.csv`` is Lightning's layout; ``media.jsonl`` lists images and videos; logs live in
the folder, in ``hparams["output_dir"]`` and in the submitit layout beside it.
"""
from __future__ import annotations

import fnmatch
import json
import os
import re
import stat

from .. import paths
from .base import Part, RunHooks, SourceError, clean_json, open_regular, stat_or_none
from .csvmetrics import CsvSource
from .lightning import flatten
from .logs import SUBMITIT, is_log_name
from .media import MediaJsonl

SIDECAR = "sidecar.json"
MAX_SIDECAR = 16 << 20  # a sidecar is a few kB; a bigger one would cost every refresh
STATUS = {"running": "running", "completed": "completed", "failed": "failed",
          "orphaned": "stale"}


def read_sidecar(run_dir):
    path = os.path.join(run_dir, SIDECAR)
    try:
        with open_regular(path, within=run_dir) as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_SIDECAR:
                raise SourceError(f"{SIDECAR}: {size >> 20} MiB, larger than a sidecar can be "
                                  f"({MAX_SIDECAR >> 20} MiB); not read")
            data = json.loads(f.read().decode("utf-8", errors="replace"))
    except FileNotFoundError:
        raise SourceError(f"{SIDECAR}: vanished") from None
    except OSError as e:
        raise SourceError(f"{SIDECAR}: {e.strerror}") from e
    except (ValueError, RecursionError) as e:
        raise SourceError(f"{SIDECAR}: invalid JSON ({e})") from e
    if not isinstance(data, dict):
        raise SourceError(f"{SIDECAR}: expected a JSON object, got {type(data).__name__}")
    return clean_json(data)


def _dict(v):
    return v if isinstance(v, dict) else {}


def _num(v):
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return None
    try:
        return float(v)
    except OverflowError:
        return None


def _when(v):
    """An epoch time, or None for what is not one (NaN, inf, 1e300 would break date formatting)."""
    v = _num(v)
    return v if v is not None and 0 <= v < 1e11 else None


def _text(v):
    """A scalar as text; None for what a name cannot be (a list, an object, null)."""
    return str(v) if isinstance(v, (str, int, float)) and not isinstance(v, bool) and v != "" else None


def sidecar_meta(run_dir):
    d = read_sidecar(run_dir)
    hb = stat_or_none(os.path.join(run_dir, "heartbeat"))
    tags = d.get("tags")
    meta = {
        "name": _text(d.get("display_name")) or _text(d.get("run_id")),
        "status": (STATUS.get(d["status"], "unknown") if isinstance(d["status"], str) else "unknown")
        if d.get("status") else None,
        "created_at": _when(d.get("created_at")),
        "ended_at": _when(d.get("ended_at")),
        "updated_at": _when(d.get("updated_at")),
        "heartbeat_at": hb.st_mtime if hb else None,
        "tags": [str(t) for t in tags] if isinstance(tags, list) else [],
        "notes": d.get("notes") if isinstance(d.get("notes"), str) else "",
        "hparams": _hparams(d.get("hparams")),
        "summary": {k: v for k, v in _dict(d.get("summary")).items() if _num(v) is not None},
        "archived": bool(d.get("archived")),
        "checkpoint_path": d.get("checkpoint_path"),
        "sidecar": clean_json({k: v for k, v in d.items() if k not in ("hparams", "summary")}, finite=True),
    }
    return {k: v for k, v in meta.items() if v is not None}


def _hparams(v):
    """The sidecar's hparams as a flat dict of scalars (a hand-written one may nest)."""
    if not isinstance(v, dict):
        return {}
    if all(isinstance(x, (str, int, float, bool)) or x is None for x in v.values()):
        return v
    return {k: x if isinstance(x, (str, int, float, bool)) or x is None else str(x)
            for k, x in flatten(v).items()}


SWEEP_TAG = re.compile(r"^sweep:(\d+)$")
TRAILING_TASK = re.compile(r"_(\d+)$")


def submitit_task(sidecar, run_dir):
    """``(sweep_id, task_id)`` naming the run's submitit folder ``<sweep>_<task>``, or None.

    The sweep is the number of the run's ``sweep:N`` tag; the task is ``hparams["slurm.task_id"]``
    (flat or nested), else the trailing ``_<task>`` of the run id (the sidecar's, else the folder's).
    """
    tags = sidecar.get("tags")
    sweep = next((m[1] for t in tags if isinstance(t, str) and (m := SWEEP_TAG.match(t.strip())))
                 if isinstance(tags, list) else iter(()), None)
    if sweep is None:
        return None
    hp = _dict(sidecar.get("hparams"))
    task = hp.get("slurm.task_id", _dict(hp.get("slurm")).get("task_id"))
    if isinstance(task, bool) or not isinstance(task, (int, str)) or not str(task).strip().isdigit():
        rid = sidecar.get("run_id") if isinstance(sidecar.get("run_id"), str) else os.path.basename(run_dir)
        m = TRAILING_TASK.search(rid)
        if not m:
            return None
        task = m[1]
    return sweep, str(task).strip()


def output_dir_logs(run_dir, root):
    """Logs in ``hparams.output_dir`` and the submitit per-rank logs of the run's task, inside the root:
    ``<output_dir>/.submitit/`` and ``<output_dir>/../<sweep>_<task>/.submitit/<sweep>_<task>_<rank>_log.{out,err}``."""
    try:
        sidecar = read_sidecar(run_dir)
    except SourceError:
        return []
    out = _dict(sidecar.get("hparams")).get("output_dir")
    if not isinstance(out, str) or not out:
        return []
    try:  # resolved beneath the root: never read outside it, whatever a sidecar says
        out, st = paths.resolve(root, os.path.join(run_dir, out))
    except (OSError, ValueError):
        return []
    if not stat.S_ISDIR(st.st_mode):
        return []
    found = []
    try:
        found += [os.path.join(out, f) for f in sorted(paths.listdir(root, out)) if is_log_name(f)]
    except OSError:
        pass
    # submitit's per-rank logs of this run's own task: <output_dir>/.submitit/ ...
    found += _submitit_logs(root, os.path.join(out, ".submitit"))
    # ... and <output_dir>/../<sweep>_<task>/.submitit/ (not the sweep's other tasks')
    task = submitit_task(sidecar, run_dir)
    if task is not None:
        job = f"{task[0]}_{task[1]}"
        found += [p for p in _submitit_logs(root, os.path.join(os.path.dirname(out), job, ".submitit"), job)
                  if p not in found]
    # a symlinked log may still lead outside the root
    return [p for p in found if not paths.escapes(p, root)]


def _submitit_logs(root, folder, job=None):
    """``*_log.out|err`` in a ``.submitit`` folder beneath the root, ranks in numeric order
    (out before err); ``job``: only that job's (``<job>_<rank>_log.*``)."""
    try:
        names = paths.listdir(root, folder)
    except (OSError, ValueError):
        return []
    logs = [f for f in names if not f.startswith(".") and fnmatch.fnmatchcase(f, "*_log.[oe][ur][tr]")]
    if job is not None:
        logs = [f for f in logs if (m := SUBMITIT.match(f)) and m["job"] == job]
    return [os.path.join(folder, f) for f in sorted(logs, key=_rank_order)]


def _rank_order(name):
    m = SUBMITIT.match(name)
    return (m["job"], int(m["rank"]), m["kind"] != "out") if m else ("", 1 << 30, name)


class SptHooks(RunHooks):
    """The run-wide rules of an spt folder: the sidecar says the status, the heartbeat says
    whether a running run is alive, and logs may lie in ``output_dir`` and beside it."""

    # hparams.yaml: stable-pretraining writes it too; no reader needs it, but it dates the run
    watched = (SIDECAR, "heartbeat", "media.jsonl", "hparams.yaml")

    def logs(self, run_dir, root):
        return output_dir_logs(run_dir, root)

    def status(self, meta, now, stale_after):
        """The sidecar's status; a ``running`` run whose heartbeat is older than
        ``stale_after`` seconds is ``stale`` (the job died without a word)."""
        declared = meta.get("status")
        if not declared:
            return None
        if declared == "running":
            beat = meta.get("heartbeat_at") or meta.get("updated_at")
            if beat is not None and now - beat > stale_after:
                return "stale"
        return declared


HOOKS = SptHooks()


def detect(dirpath, files, subdirs):
    if SIDECAR not in files:
        return None
    metrics = [CsvSource(os.path.join(dirpath, "metrics.csv"))] if "metrics.csv" in files else []
    media = MediaJsonl(dirpath) if "media.jsonl" in files else None
    return Part("spt", 100, metrics=metrics, meta=sidecar_meta, media=media,
                skip_dirs=("media", "checkpoints"), hooks=HOOKS)
