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
from .formats.base import Part, safe_text, stat_or_none
from .cooperative import turn

MAX_DEPTH = 12  # folders below the root a walk goes (a symlink-free tree cannot loop; this bounds a silly one)
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


def entered(found, subdirs):
    """The subfolders a walk goes into: not hidden, not ``ALWAYS_SKIP``, not a run's own bulky ones."""
    skip = set(ALWAYS_SKIP)
    for p in found.parts if found else ():
        skip.update(p.skip_dirs)
    return [d for d in subdirs if d not in skip and not d.startswith(".")]


def depth_of(root, path):
    """How deep ``path`` lies under ``root`` (the root: 0)."""
    return 0 if path == root else os.path.relpath(path, root).count(os.sep) + 1


def walk(root, progress=None, max_depth=MAX_DEPTH, start=None, folders=None):
    """Yield every run under ``start`` (default: the root); ``progress(dirs_seen)`` as it goes.
    ``folders`` (a ``polling.FolderTree``) is told of every folder listed, with its stat taken
    before the listing and the subfolders entered."""
    root = os.path.abspath(root)
    start = os.path.abspath(start or root)
    stack = [(start, depth_of(root, start))]
    seen = 0
    while stack:
        dirpath, depth = stack.pop()
        st = stat_or_none(dirpath) if folders is not None else None  # before listing: a racing add moves it
        try:
            files, subdirs = list_dir(root, dirpath)
        except OSError:
            continue  # vanished or unreadable: skip, the rest of the tree still counts
        seen += 1
        if progress and seen % 64 == 0:
            progress(seen)
            turn()  # under gevent: the other connections get a turn when one is due
        found = inspect_dir(root, dirpath, files, subdirs)
        if found:
            yield found
        inside = entered(found, subdirs) if depth < max_depth else []
        if folders is not None:
            folders.saw(dirpath, st, inside)
        for d in sorted(inside, reverse=True):
            stack.append((os.path.join(dirpath, d), depth + 1))
    if progress:
        progress(seen)
