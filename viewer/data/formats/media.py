"""Media of a run: spt's ``media.jsonl`` index, else image/video files found in the run folder."""
from __future__ import annotations

import json
import math
import os
import re

from .. import paths
from .base import AppendedLines, safe_text, stat_or_none

IMAGE = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg")
VIDEO = (".mp4", ".webm", ".ogv", ".mov")
MEDIA_DIRS = ("media", "images", "plots", "figures", "samples")
STEP_IN_NAME = re.compile(r"(\d+)(?!.*\d)")


def is_media_path(path):
    """True for a ``media.jsonl`` index or an image/video file: what makes a media panel change."""
    return os.path.basename(path) == "media.jsonl" or media_type(path) is not None


def linkable(name):
    """True when a file name can be put in a URL (bytes that are not UTF-8 cannot)."""
    return safe_text(name) == name


def media_type(name):
    low = name.lower()
    if low.endswith(IMAGE):
        return "image"
    if low.endswith(VIDEO):
        return "video"
    return None


class MediaJsonl:
    """Incremental reader of ``media.jsonl``; a partial last line waits for its newline."""

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.lines = AppendedLines(os.path.join(run_dir, "media.jsonl"))
        self.items = []

    def refresh(self):
        st = stat_or_none(self.lines.path)
        if st is None or self.lines.rewound(st.st_size):
            self.items = []
            self.lines.restart()
            if st is None:
                return self.items
        for text in self.lines.read_chunks(st.st_size):
            for line in text.split("\n"):  # not splitlines(): a caption may hold a raw U+2028
                try:
                    d = json.loads(line)
                except (ValueError, RecursionError):
                    continue
                if not isinstance(d, dict) or not isinstance(d.get("path"), str) or not linkable(d["path"]):
                    continue
                rel = os.path.normpath(d["path"])
                if rel.startswith("..") or os.path.isabs(rel):
                    continue  # an index must not point outside its run
                step = d.get("step")
                self.items.append({
                    "tag": safe_text(str(d.get("tag") or "media")),
                    "step": step if isinstance(step, (int, float)) and not isinstance(step, bool)
                    and math.isfinite(step) else None,
                    "type": d.get("type") if d.get("type") in ("image", "video") else media_type(rel) or "image",
                    "path": rel.replace(os.sep, "/"),
                    "caption": safe_text(str(d.get("caption") or "")),
                })
        return self.items


def scan_media_files(run_dir, limit=5000):
    """Images and videos in the run folder and its usual media subfolders, tag = subfolder."""
    items = []
    root = paths.root_of(run_dir) or run_dir  # listed beneath the root (``paths``)
    for sub in ("",) + MEDIA_DIRS:
        base = os.path.join(run_dir, sub)
        try:
            walker = paths.walk(root, base) if sub else [(base, paths.listdir(root, base))]
            for dirpath, files in walker:
                for f in sorted(files):
                    kind = media_type(f)
                    if not kind or not linkable(dirpath + f):
                        continue
                    rel = os.path.relpath(os.path.join(dirpath, f), run_dir).replace(os.sep, "/")
                    tag = os.path.dirname(rel) or "files"
                    m = STEP_IN_NAME.search(os.path.splitext(f)[0])
                    items.append({"tag": tag, "step": int(m.group(1)) if m else None, "type": kind,
                                  "path": rel, "caption": f})
                    if len(items) >= limit:
                        return items
        except OSError:
            continue
    return items


def html_reports(run_dir, limit=200):
    """HTML files in the run folder and one level below (reports, benchmark pages)."""
    out = []
    root = paths.root_of(run_dir) or run_dir  # listed beneath the root (``paths``)
    try:
        with paths.entries(root, run_dir) as (_real, it):
            entries = sorted(((e.name, e.is_file(follow_symlinks=False), e.is_dir(follow_symlinks=False))
                              for e in it), key=lambda e: e[0])
    except OSError:
        return out
    for name, is_file, is_dir in entries:
        if name.startswith("."):
            continue
        if not linkable(name):
            continue
        if is_file and name.lower().endswith((".html", ".htm")):
            out.append(name)
        elif is_dir and name not in ("checkpoints",):
            try:
                out += [f"{name}/{f}" for f in sorted(paths.listdir(root, os.path.join(run_dir, name)))
                        if f.lower().endswith((".html", ".htm")) and linkable(f)]
            except OSError:
                pass
        if len(out) >= limit:
            break
    return out
