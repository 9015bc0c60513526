"""Hugging Face ``Trainer``: ``trainer_state.json`` in the output dir and in each ``checkpoint-<step>/``.

The file is rewritten whole, not appended. The most complete copy is the one with the highest
``global_step`` (the top-level one from ``save_state()`` wins a tie: it has the final summary
entry). Entries already read are kept when the new ``log_history`` starts with them.
"""
from __future__ import annotations

import json
import os
import re
import stat

from .. import paths
from . import tfevents
from .base import NAN, NO_HOOKS, MetricTable, Part, SourceError, clean_json, open_regular, stat_or_none, to_float

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
STATE = "trainer_state.json"
SUMMARY_MARK = "train_runtime"
MAX_STATE = 512 << 20  # a state of a million log entries is ~150 MB; beyond, something is wrong
SETTINGS = ("global_step", "max_steps", "num_train_epochs", "logging_steps", "eval_steps",
            "save_steps", "train_batch_size", "best_metric", "best_model_checkpoint",
            "best_global_step")


def is_plain_file(path):
    """A regular file that is not a symlink: a state file or checkpoint folder linked from
    elsewhere is not this run's (and may lead out of the root)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def candidates(run_dir):
    """Paths of the trainer_state.json files that may be the run's newest: top level, newest checkpoint."""
    out = []
    top = os.path.join(run_dir, STATE)
    if is_plain_file(top):
        out.append(top)
    try:
        with paths.entries(paths.root_of(run_dir) or run_dir, run_dir) as (_real, it):
            entries = [e.name for e in it if e.is_dir(follow_symlinks=False)]
    except OSError:
        entries = []
    ckpts = sorted((int(m.group(1)), e) for e in entries if (m := CHECKPOINT.match(e)))
    if ckpts:  # only the newest checkpoint can beat the top-level file
        path = os.path.join(run_dir, ckpts[-1][1], STATE)
        if is_plain_file(path):
            out.append(path)
    return out


def load_state(path):
    name = os.path.relpath(path, os.path.dirname(os.path.dirname(path)))
    try:
        with open_regular(path) as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_STATE:
                raise SourceError(f"{name}: {size >> 20} MiB, too large to be a Trainer state")
            state = json.loads(f.read().decode("utf-8", errors="replace"))
    except OSError as e:
        raise SourceError(f"{name}: {e.strerror}") from e
    except (ValueError, RecursionError) as e:
        raise SourceError(f"{name}: invalid JSON ({e})") from e
    if not isinstance(state, dict) or not isinstance(state.get("log_history", []), list):
        raise SourceError(f"{STATE}: not a Trainer state (no log_history list)")
    return state


class TrainerStateSource:
    kind = "hf"

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.path = os.path.join(run_dir, STATE)
        self.table = MetricTable()
        self.state = {}
        self.stamp = None
        self.consumed = 0
        self.last_entry = None
        self.error = None

    def _newest(self):
        best = None
        for path in candidates(self.run_dir):
            state = load_state(path)
            key = (to_float(state.get("global_step")) or 0.0, os.path.dirname(path) == self.run_dir)
            if best is None or key > best[0]:
                best = (key, path, state)
        return best

    def refresh(self) -> bool:
        stamp = tuple((p, st.st_mtime_ns, st.st_size) for p in candidates(self.run_dir)
                      if (st := stat_or_none(p)))
        if stamp == self.stamp:
            if self.error:
                raise SourceError(self.error)  # a broken file stays reported until it changes
            return False
        self.stamp = stamp
        try:
            best = self._newest()
        except SourceError as e:
            self.error = str(e)
            raise
        self.error = None
        if best is None:
            changed = bool(self.table.series)
            self.table.reset()
            self.state, self.consumed, self.last_entry = {}, 0, None
            return changed
        _, self.path, self.state = best
        history = self.state.get("log_history") or []
        keep = (self.consumed <= len(history) and self.consumed
                and history[self.consumed - 1] == self.last_entry)
        if not keep:
            self.table.reset()
            self.consumed = 0
        for entry in history[self.consumed:]:
            if isinstance(entry, dict) and SUMMARY_MARK not in entry:
                self._add(entry)
        self.consumed = len(history)
        self.last_entry = history[-1] if history else None
        return True

    def _add(self, entry):
        step = to_float(entry.get("step"))
        epoch = to_float(entry.get("epoch"))
        step = NAN if step is None else step
        epoch = NAN if epoch is None else epoch
        for k, v in entry.items():
            if k in ("step", "epoch"):
                continue
            v = to_float(v)
            if v is not None:
                self.table.get(k).append(step, epoch, NAN, v)

    def meta(self, run_dir):
        """Settings as hparams, the final summary entry as summary, completion from it."""
        try:
            self.refresh()
        except SourceError:
            pass  # already reported by the metrics source
        state = self.state
        hparams = clean_json({k: state[k] for k in SETTINGS if state.get(k) is not None})
        summary = {}
        for entry in state.get("log_history") or []:
            if isinstance(entry, dict) and SUMMARY_MARK in entry:
                summary.update({k: v for k, v in clean_json(entry).items()
                                if k not in ("step", "epoch") and to_float(v) is not None})
        # numbers only: a hand-edited state may hold "100" or null here
        step, last = to_float(state.get("global_step")), to_float(state.get("max_steps"))
        done = bool(summary) or bool(last and step is not None and step >= last)
        return {"hparams": hparams, "summary": summary,
                "status": "completed" if done else None}


def detect(dirpath, files, subdirs):
    ckpts = [d for d in subdirs if CHECKPOINT.match(d)]
    has_ckpt_state = any(is_plain_file(os.path.join(dirpath, d, STATE)) for d in ckpts)
    if STATE not in files and not has_ckpt_state:
        return None
    if STATE in files and CHECKPOINT.match(os.path.basename(dirpath)):
        return None  # a checkpoint inside an output dir is part of its parent's run
    source = TrainerStateSource(dirpath)
    # the Trainer's TensorBoard logging dir, runs/<date>_<host>/, belongs to this run
    events, hooks = tfevents.hf_logging_parts(dirpath, subdirs)
    return Part("hf", 60, metrics=[source] + events, meta=source.meta,
                skip_dirs=tuple(ckpts) + (("runs",) if events else ()), hooks=hooks or NO_HOOKS)
