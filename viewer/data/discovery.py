"""Which directories under the root are runs, and which readers own them.

The walk never follows a symlink out of the root (nor any directory symlink: a loop cannot
trap it), skips hidden folders and the bulky subfolders a reader says are its own
(``checkpoints/``, ``media/``, HF ``checkpoint-N/``), and reports progress as it goes.
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field

from . import paths
from .formats import READERS
from .formats.base import Part, safe_text
from .cooperative import turn

ALWAYS_SKIP = frozenset(("__pycache__", "node_modules", ".git", "wandb", ".ipynb_checkpoints"))


@dataclass
class Found:
    """A run directory and the parts every reader contributed, most specific first."""

    id: str
    path: str
    parts: list = field(default_factory=list)

    def merged(self) -> Part:
        """One Part: the best reader's format, the union of the others' sources and logs."""
        best = self.parts[0]
        out = Part(best.format, best.priority)
        seen = set()
        claims = set()
        for p in self.parts:
            claims.update(p.claims)
        for p in self.parts:
            for m in p.metrics:
                if m.path not in seen:
                    seen.add(m.path)
                    out.metrics.append(m)
            out.logs += [lg for lg in p.logs if os.path.basename(lg) not in claims]
            out.media = out.media or p.media
        out.meta = [p.meta for p in self.parts if p.meta]
        return out


CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def run_id(root, path):
    """The folder relative to the root with ``/``. Bytes that are not UTF-8 read ``\\xff``
    and control characters ``\\n``, ``\\x07``: an id must fit in a URL path and a page."""
    rel = os.path.relpath(path, root)
    rel = os.path.basename(os.path.abspath(root)) if rel == "." else rel.replace(os.sep, "/")
    rel = safe_text(rel)
    if CONTROL.search(rel):
        rel = CONTROL.sub(lambda m: m[0].encode("unicode_escape").decode(), rel)
    return rel or "root"


def inspect_dir(root, dirpath, files, subdirs):
    """The Found for one directory, or None when no reader claims it."""
    parts = []
    for reader in READERS:
        try:
            part = reader.detect(dirpath, files, subdirs)
        except OSError:
            part = None
        if part:
            parts.append(part)
    if not parts:
        return None
    parts.sort(key=lambda p: -p.priority)
    return Found(run_id(root, dirpath), dirpath, parts)


def list_dir(root, dirpath):
    """(files, subdirs) of one folder, opened beneath the root (``paths``: a folder swapped for a
    symlink leading out is not listed); symlinked files count only when they stay inside it."""
    files, subdirs = [], []
    with paths.entries(root, dirpath) as (real, it):
        for e in it:
            try:
                if e.is_file(follow_symlinks=False):
                    files.append(e.name)
                elif e.is_symlink():
                    st = paths.stat_beneath(root, os.path.join(real, e.name))
                    if st is not None and stat.S_ISREG(st.st_mode):
                        files.append(e.name)
                elif e.is_dir(follow_symlinks=False):
                    subdirs.append(e.name)
            except OSError:
                continue
    return files, subdirs


def rediscover(root, dirpath):
    """The Found for one known run folder now (None when it is no longer a run or is gone)."""
    root = os.path.abspath(root)
    try:
        files, subdirs = list_dir(root, dirpath)
    except OSError:
        return None
    return inspect_dir(root, dirpath, files, subdirs)


def walk(root, progress=None, max_depth=12, start=None):
    """Yield every run under ``start`` (default: the root); ``progress(dirs_seen)`` as it goes."""
    root = os.path.abspath(root)
    start = os.path.abspath(start or root)
    depth0 = 0 if start == root else os.path.relpath(start, root).count(os.sep) + 1
    stack = [(start, depth0)]
    seen = 0
    while stack:
        dirpath, depth = stack.pop()
        try:
            files, subdirs = list_dir(root, dirpath)
        except OSError:
            continue  # vanished or unreadable: skip, the rest of the tree still counts
        seen += 1
        if progress and seen % 64 == 0:
            progress(seen)
            turn()  # under gevent: the other connections get a turn when one is due
        found = inspect_dir(root, dirpath, files, subdirs)
        skip = set(ALWAYS_SKIP)
        if found:
            for p in found.parts:
                skip.update(p.skip_dirs)
            yield found
        if depth < max_depth:
            for d in sorted(subdirs, reverse=True):
                if d not in skip and not d.startswith("."):
                    stack.append((os.path.join(dirpath, d), depth + 1))
    if progress:
        progress(seen)
