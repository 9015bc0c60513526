"""MLflow file store: ``mlruns/<experiment_id>/<run_id>/`` is a run.

A run folder holds ``meta.yaml`` (status 1-5 = RUNNING, SCHEDULED, FINISHED, FAILED, KILLED;
start/end times in ms; ``lifecycle_stage: deleted`` for a deleted run), ``metrics/<name>``
(``timestamp value step`` lines, appended; a name with ``/`` is a folder path), ``params/<name>``
(one value: the hparams), ``tags/<name>`` (``mlflow.runName`` = name, ``mlflow.note.content`` =
notes, the rest ``key:value`` tags) and ``artifacts/`` (images there are the media tab's;
the files tab shows the folder). The experiment's ``meta.yaml`` names it: its name is the
hparam ``mlflow.experiment`` and the tag ``experiment:<name>`` (group by either).

Deleted runs (and the runs of a deleted experiment) are not shown; ``.trash`` is a hidden
folder, never walked. A metric line MLflow itself would refuse (not 2 or 3 fields, a value
that is no number) is skipped and counted on the run's row.
"""
from __future__ import annotations

import os

from .. import paths
from .base import (NAN, AppendedLines, MetricTable, Part, RunHooks, Series, SourceError, open_regular, safe_text,
                   stat_or_none)
from .media import linkable, media_type

STATUS = {1: "running", 2: "unknown", 3: "completed", 4: "failed", 5: "failed"}  # SCHEDULED: not started
MAX_FILE = 1 << 20        # meta.yaml, a param or a tag: small files
MAX_FILES = 10_000        # metrics, params or tags of one run
MAX_MEDIA = 5000


def read_small(path, within):
    with open_regular(path, within=within) as f:
        data = f.read(MAX_FILE + 1)
    if len(data) > MAX_FILE:
        raise SourceError(f"{safe_text(os.path.basename(path))}: over {MAX_FILE >> 20} MiB, not read")
    return data.decode("utf-8", errors="replace")


def read_meta_yaml(path, within):
    import yaml

    try:
        data = yaml.load(read_small(path, within), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise SourceError(f"meta.yaml: {e.strerror}") from e
    except (yaml.YAMLError, RecursionError) as e:
        raise SourceError(f"meta.yaml: not plain YAML ({(str(e).splitlines() or [''])[0]})") from e
    return data if isinstance(data, dict) else {}


def files_under(folder, limit=MAX_FILES):
    """Relative ``/`` paths of the files under ``folder``, listed beneath the root (``paths``:
    symlinked folders not entered, a symlinked file only when it stays inside); hidden ones left out."""
    out = []
    for dirpath, files in paths.walk(paths.root_of(folder) or folder, folder):
        rel = os.path.relpath(dirpath, folder)
        if rel != "." and any(part.startswith(".") for part in rel.split(os.sep)):
            continue
        for f in sorted(files):
            if f.startswith("."):
                continue
            out.append(os.path.relpath(os.path.join(dirpath, f), folder).replace(os.sep, "/"))
            if len(out) >= limit:
                return out
    return out


def _value(text):
    """A param as MLflow stored it (text), as a number when it is one (so it can be plotted)."""
    t = text.strip()
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        return t


def _when(ms):
    return ms / 1000.0 if isinstance(ms, (int, float)) and not isinstance(ms, bool) and 0 < ms < 1e14 else None


class MetricsFolder:
    """Every ``metrics/<name>`` file of a run (``timestamp value step`` lines), each read as it
    is appended; a file created later joins at the next refresh (the folder is listed again)."""

    kind = "mlflow"

    def __init__(self, run_dir):
        self.path = os.path.join(run_dir, "metrics")
        self.table = MetricTable()
        self.files = {}   # name -> AppendedLines
        self.bad = {}     # name -> lines skipped

    @property
    def problem(self):
        out = [f"metrics/{n}: {k} line(s) not `timestamp value [step]`, skipped" for n, k in self.bad.items() if k]
        return "; ".join(out) or None

    def refresh(self) -> bool:
        names = [safe_text(rel) for rel in files_under(self.path)]
        changed = False
        for gone in [n for n in self.files if n not in names]:
            del self.files[gone]
            self.bad.pop(gone, None)
            changed |= self.table.series.pop(gone, None) is not None
        for name in names:
            changed |= self._read(name)
        return changed

    def _read(self, name):
        lines = self.files.get(name)
        if lines is None:
            lines = self.files[name] = AppendedLines(os.path.join(self.path, name))
        st = stat_or_none(lines.path)
        if st is None:
            return False
        changed = False
        if lines.rewound(st.st_size):
            lines.restart()
            self.bad[name] = 0
            if name in self.table.series:
                self.table.series[name] = Series()  # a new object: live charts start over
                changed = True
        for text in lines.read_chunks(st.st_size):
            s = self.table.get(name)
            bad = 0
            for line in text.split("\n"):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) not in (2, 3):  # what MLflow's own reader refuses
                    bad += 1
                    continue
                try:
                    t = float(parts[0]) / 1000.0
                    y = float(parts[1])
                    step = float(int(parts[2])) if len(parts) == 3 else 0.0  # no step: MLflow says 0
                except ValueError:
                    bad += 1
                    continue
                s.append(step, NAN, t, y)
            self.bad[name] = self.bad.get(name, 0) + bad
            changed = True
        if name in self.table.series and not self.table.series[name]:
            del self.table.series[name]  # only bad lines so far
        return changed


class Artifacts:
    """Images and videos under ``artifacts/``, in the order first seen (new ones are appended,
    so the list is a cursor like ``media.jsonl``); a vanished artifact rebuilds the list."""

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.items = []
        self.seen = set()

    def refresh(self):
        base = os.path.join(self.run_dir, "artifacts")
        found = [p for p in files_under(base, MAX_MEDIA * 4) if media_type(p) and linkable(p)][:MAX_MEDIA]
        if not self.seen.issubset(found):
            self.items, self.seen = [], set()
        for rel in found:
            if rel in self.seen:
                continue
            self.seen.add(rel)
            self.items.append({"tag": os.path.dirname(rel) or "artifacts", "step": None,
                               "type": media_type(rel), "path": "artifacts/" + rel,
                               "caption": os.path.basename(rel)})
        return self.items


def run_meta(run_dir):
    meta = read_meta_yaml(os.path.join(run_dir, "meta.yaml"), run_dir)
    exp = read_meta_yaml(os.path.join(os.path.dirname(run_dir), "meta.yaml"), os.path.dirname(run_dir))
    tags, hparams = {}, {}
    for sub, into in (("tags", tags), ("params", hparams)):
        folder = os.path.join(run_dir, sub)
        for rel in files_under(folder):
            try:
                into[safe_text(rel)] = read_small(os.path.join(folder, rel), folder)
            except OSError:
                continue
    hparams = {k: _value(v) for k, v in hparams.items()}
    status = meta.get("status")
    name = tags.pop("mlflow.runName", None) or meta.get("run_name")
    notes = tags.pop("mlflow.note.content", "")
    exp_name = exp.get("name")
    if isinstance(exp_name, str) and exp_name:
        hparams.setdefault("mlflow.experiment", exp_name)
        tags = {"experiment": exp_name, **tags}
    stamps = [st.st_mtime for p in [os.path.join(run_dir, "meta.yaml")]
              + [os.path.join(run_dir, "metrics", m) for m in files_under(os.path.join(run_dir, "metrics"))]
              if (st := stat_or_none(p))]
    out = {
        "name": safe_text(str(name)) if name else None,
        "status": STATUS.get(status, "unknown") if isinstance(status, int) else None,
        "created_at": _when(meta.get("start_time")),
        "ended_at": _when(meta.get("end_time")),
        "heartbeat_at": max(stamps) if stamps else None,
        "tags": [f"{k}:{v.strip()}" for k, v in tags.items()],
        "notes": notes,
        "hparams": hparams,
    }
    return {k: v for k, v in out.items() if v is not None}


class MlflowHooks(RunHooks):
    """Status from meta.yaml; the files to stamp are those the metrics source knows now."""

    def __init__(self, source):
        self.source = source

    @property
    def watched(self):
        return ("meta.yaml", "tags", "params", "metrics") + tuple("metrics/" + n for n in self.source.files)

    def status(self, meta, now, stale_after):
        """meta.yaml's status; a RUNNING run whose files have not moved for ``stale_after`` is stale."""
        declared = meta.get("status")
        if declared == "running":
            beat = meta.get("heartbeat_at")
            if beat is not None and now - beat > stale_after:
                return "stale"
        return declared


def is_deleted(dirpath):
    """A run deleted in MLflow (or in a deleted experiment): ``lifecycle_stage: deleted``."""
    for path in (os.path.join(dirpath, "meta.yaml"), os.path.join(os.path.dirname(dirpath), "meta.yaml")):
        try:
            with open_regular(path) as f:
                head = f.read(MAX_FILE)
        except OSError:
            continue
        if b"\nlifecycle_stage: deleted" in b"\n" + head:
            return True
    return False


def detect(dirpath, files, subdirs):
    if "meta.yaml" not in files or "metrics" not in subdirs:
        return None
    if not ({"params", "tags"} & set(subdirs)) or not os.path.isfile(os.path.join(os.path.dirname(dirpath), "meta.yaml")):
        return None  # an MLflow run sits in an experiment folder that has its own meta.yaml
    if is_deleted(dirpath):
        return None
    source = MetricsFolder(dirpath)
    return Part("mlflow", 70, metrics=[source], meta=run_meta, media=Artifacts(dirpath),
                skip_dirs=("metrics", "params", "tags", "artifacts"), hooks=MlflowHooks(source))
