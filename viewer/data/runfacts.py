"""What a run's files say about it: its times and status, logs, media, reports, summary and
JSON (a mixin of :class:`run.Run`, which holds the files, metadata and locks these read)."""
from __future__ import annotations

import re

from .formats.base import safe_text, stat_or_none
from .formats.logs import display_name, stream_ids, stream_kind, stream_rank
from .formats.media import html_reports, scan_media_files
from .numbers import json_can_carry
from .tailing import read_tail

FAILURE = re.compile(rb"Traceback \(most recent call last\)|CANCELLED AT|DUE TO TIME LIMIT|"
                     rb"oom-kill|OutOfMemoryError|CUDA out of memory|Segmentation fault|"
                     rb"srun: error|exited with exit code [1-9]")


STATUSES = ("running", "stale", "failed", "completed", "unknown")  # what Run.status() answers


def status_counts(statuses):
    """{status: how many} over ``statuses`` (each of STATUSES present, zero or more)."""
    counts = dict.fromkeys(STATUSES, 0)
    for st in statuses:
        counts[st] = counts.get(st, 0) + 1
    return counts


class RunFacts:
    """Run's derived facts: ``status``, times, ``streams``, ``media``, ``summary``, ``to_json``."""

    def _file_times(self):
        """mtimes of the run's files (not its folder: a listing change is not an update)."""
        return [t for p, t, _s in (self.stamp or ()) if p != self.path]

    def updated_at(self):
        cached = self._updated
        if cached is not None and cached[0] == self.version:
            return cached[1]
        times = self._file_times()
        times += [self.meta[k] for k in ("updated_at", "heartbeat_at") if k in self.meta]
        value = max(times) if times else None
        self._updated = (self.version, value)
        return value

    def created_at(self):
        if "created_at" in self.meta:
            return self.meta["created_at"]
        times = self._file_times()
        return min(times) if times else None

    def failed_in_logs(self):
        """True when the end of an output log shows a traceback, a SLURM kill or an OOM."""
        for path in self.logs:
            st = stat_or_none(path)
            if st is None or self._escapes(path):
                continue
            key = (path, st.st_size, st.st_mtime)
            if key not in self._failure_cache:
                try:
                    data = read_tail(path, 16384, self.root)[0]
                except OSError:
                    data = b""
                self._failure_cache = {k: v for k, v in self._failure_cache.items() if k[0] != path}
                self._failure_cache[key] = bool(FAILURE.search(data))
            if self._failure_cache[key]:
                return True
        return False

    def status(self):
        """running | completed | failed | stale | unknown."""
        now = self.clock()
        for hooks in self.hooks:  # a format that declares the status says it (spt's sidecar)
            declared = hooks.status(self.meta, now, self.stale_after)
            if declared:
                return declared
        if self.meta.get("status") == "completed":
            return "completed"
        updated = self.updated_at()
        recent = updated is not None and now - updated < self.stale_after
        if self.failed_in_logs():
            return "failed"
        if recent:
            return "running"
        return "unknown"

    def streams(self):
        """Log streams: id, display name, kind, size, rank (a submitit per-rank log's, else None),
        and the absolute path (not for JSON)."""
        out = []
        for sid, path in zip(stream_ids(self.logs), self.logs):
            if self._escapes(path):
                continue  # swapped for a symlink leading out since it was listed: never read
            st = stat_or_none(path)
            out.append({"id": sid, "name": safe_text(display_name(path)), "kind": stream_kind(path),
                        "size": st.st_size if st else 0, "rank": stream_rank(path), "path": path})
        return out

    def media(self):
        """Media items with ``path`` relative to the run folder.

        From ``media.jsonl`` the list is in file order and only grows (new lines are appended),
        so a count is a cursor; a folder scan has no such order (see ``media_indexed``).
        """
        if not self.linkable:
            return []
        with self.lock:  # the index reader keeps an offset: one reader at a time
            if self.media_src is not None:
                try:
                    return list(self.media_src.refresh())
                except OSError:
                    return list(self.media_src.items)  # unreadable now: what was read before
        return scan_media_files(self.path)

    @property
    def linkable(self):
        """False when the folder's name holds bytes that are not UTF-8: no URL can name its files."""
        return safe_text(self.path) == self.path

    @property
    def media_indexed(self):
        """True when ``media()`` comes from an append-only index (item ``i`` stays item ``i``)."""
        return self.media_src is not None

    def reports(self):
        return html_reports(self.path) if self.linkable else []

    def summary(self):
        """Last value per metric: the files win over the sidecar's (they are fresher)."""
        out = {k: v for k, v in self.meta.get("summary", {}).items() if json_can_carry(v)}  # JSON has no NaN
        for name, v in self.last_values().items():
            if v is not None:
                out[name] = v
        return out

    def to_json(self):
        updated, created = self.updated_at(), self.created_at()
        # a duration only when the run recorded its start; file mtimes cannot tell it
        end = self.meta.get("ended_at") or updated if "created_at" in self.meta else None
        return {
            "id": self.id,
            "name": self.meta.get("name") or self.id,
            "status": self.status(),
            "format": self.format,
            "formats": self.formats,
            "created_at": created,
            "updated_at": updated,
            "duration": (end - created) if (end and created and end >= created) else None,
            "tags": self.meta.get("tags", []),
            "notes": self.meta.get("notes", ""),
            "hparams": {k: v if json_can_carry(v) else repr(v) for k, v in self.meta.get("hparams", {}).items()},
            "summary": self.summary(),
            "metrics": list(self.last_values()),
            "error": self.error,
        }
