"""A run's page: its header (RUN dict, logs, reports), the media panel and a log's tail.

The page, its htmx fragments and the JSON API build their answers here."""
from __future__ import annotations

import posixpath
import re
from urllib.parse import quote

from flask import url_for

from .args import partition_known
from .current import store, viewer
from ..data.cooperative import each
from ..data.errors import ViewerError
from ..data.formats.base import safe_text
from ..data.tailing import MAX_LOG_WINDOW, clamp_window, render_chunks

ALL_RANKS_UP_TO = 4   # more ranks than this: the logs tab opens on the lowest rank, not every tail
MEDIA_PER_STEP = 16   # items drawn at one step of a tag (the lightbox pages through them all)
URL_SAFE = "!$&'()*+,/:;=@"  # what werkzeug's path converter leaves unquoted
_PLAIN = re.compile(r"[A-Za-z0-9_.~/-]*")  # a path quote() would leave as it is


def url_quote(path):
    """``quote(path, safe=URL_SAFE)``, without its cost for the usual plain path (300,000 media
    items: 6 s of quote() became a regex test each)."""
    return path if _PLAIN.fullmatch(path) else quote(path, safe=URL_SAFE)


def run_context(run_id):
    """One run: its RUN dict plus log streams, media and HTML reports."""
    s = store()
    run = s.get(run_id)
    data = run.to_json()
    data["logs"] = [stream_json(st) for st in run.streams()]
    data["reports"] = [{"path": p, "url": url_for("tailboard.files.serve", relpath=p)}
                       for p in s.reports(run_id)]
    data["path"] = safe_text(run.path)  # a folder name may hold bytes that are not UTF-8
    data["sidecar"] = run.meta.get("sidecar", {})
    data["text"] = run.meta.get("text", {})  # TensorBoard text summaries: tag -> last text (step)
    return data


def stream_json(st):
    """A log stream as the API gives it: its file's path on the server left out."""
    return {k: v for k, v in st.items() if k != "path"}


def rank_view(streams, raw):
    """The logs tab's rank choice: ``streams`` (stream dicts with ``rank``) and the ``rank``
    query value (``all``, a rank the run has, else ignored). ``ranks``: the run's ranks, empty
    (no control) unless there are two or more; ``chosen``: a rank, or None for all of them;
    ``streams``: those shown, every log without a rank included."""
    ranks = sorted({st["rank"] for st in streams if st.get("rank") is not None})
    if len(ranks) < 2:
        return {"ranks": [], "chosen": None, "streams": list(streams)}
    word = str(raw).strip().lower() if raw is not None else ""
    by_text = {str(r): r for r in ranks}  # matched as text: int() of 5,000 digits would raise
    if word == "all":
        chosen = None
    elif word in by_text:
        chosen = by_text[word]
    else:  # absent or not one of this run's ranks: the default
        chosen = None if len(ranks) <= ALL_RANKS_UP_TO else ranks[0]
    shown = [st for st in streams if chosen is None or st.get("rank") in (None, chosen)]
    return {"ranks": ranks, "chosen": chosen, "streams": shown}


def media_context(run_id):
    return media_json(store().media(run_id))


def media_json(items):
    """Media items as the API gives them: ``path`` (relative to the root) becomes a ``url``."""
    files_root = url_for("tailboard.files.serve", relpath="")
    return [{"tag": m["tag"], "step": m["step"], "type": m["type"], "caption": m["caption"],
             "url": media_url(m, files_root)} for m in each(items, 4096)]


def media_url(m, files_root):
    """A media item's URL: its file under ``/files/``, or for an item inside a file (``blob``:
    an image in a TensorBoard event file) ``/api/runs/<id>/media/<n>``."""
    if "blob" in m:
        return url_for("tailboard.api.run_path", path=f"{m['run']}/media/{m['index']}")
    return files_root + url_quote(m["path"])


def _step_key(m):
    """Sort key of a media item: items without a step first, then by step (stable otherwise)."""
    return (m["step"] is not None, m["step"] or 0)


def media_panel_context(run_id, compare=()):
    """The media tab: per tag, one row per run (the run, then the runs compared), one slider.

    Each row carries its items as compact rows ``[step, path, caption, type]`` (``path``
    relative to the row's ``base`` URL) for the page's script, plus the items at the latest
    step, drawn server-side. Unknown compare ids are listed in ``missing``, not an error.
    """
    s = store()
    known, missing = partition_known([rid for rid in compare if rid != run_id], s.has)
    ids = [run_id, *known]
    files_root = url_for("tailboard.files.serve", relpath="")
    tags, counts = {}, {}
    for rid in ids:
        items = s.media(rid)
        counts[rid] = len(items)
        for m in each(items, 4096):
            tags.setdefault(m["tag"], {}).setdefault(rid, []).append(m)
    names = {rid: s.get(rid, refresh=False).meta.get("name") or rid for rid in ids}
    out = []
    for tag, by_run in tags.items():
        runs = []
        for rid in ids:
            items = sorted(by_run.get(rid, ()), key=_step_key)
            if any("blob" in m for m in items):  # inside event files: each row holds its whole URL
                runs.append({"id": rid, "name": names[rid], "items": items, "base": "",
                             "rows": [[m["step"], media_url(m, files_root), m["caption"], m["type"]] for m in items]})
                continue
            base = posixpath.dirname(posixpath.commonprefix([m["path"] for m in items])) if items else ""
            base = base + "/" if base else ""
            runs.append({"id": rid, "name": names[rid], "items": items,
                         "base": files_root + quote(base, safe=URL_SAFE),
                         "rows": [[m["step"], url_quote(m["path"][len(base):]), m["caption"], m["type"]]
                                  for m in each(items, 4096)]})
        out.append(_latest_view(tag, runs, files_root))
    choices = [r.id for r in s.runs() if r.id not in ids][:2000]
    return {"run": run_id, "runs": ids, "missing": missing, "compare": ids[1:], "tags": out,
            "count": counts[run_id], "per_step": MEDIA_PER_STEP, "choices": choices}


def _latest_view(tag, runs, files_root):
    """A tag at its latest position: the slider's size and what each row shows there."""
    steps = {m["step"] for r in runs for m in r["items"] if m["step"] is not None}
    nulls = max(sum(m["step"] is None for m in r["items"]) for r in runs)
    positions = nulls + len(steps)
    step = max(steps) if steps else None
    rows = []
    for r in runs:
        if steps:   # the largest step of each run (every one is <= the latest)
            mine = [m for m in r["items"] if m["step"] is not None]
            shown = [m for m in mine if m["step"] == mine[-1]["step"]] if mine else []
        else:       # no steps at all: the last item without one
            mine = [m for m in r["items"] if m["step"] is None]
            shown = [mine[-1]] if len(mine) == nulls else []
        rows.append({"id": r["id"], "name": r["name"],
                     "data": {"id": r["id"], "base": r["base"], "items": r["rows"]},
                     "count": len(r["items"]),
                     "shown": [{**m, "url": media_url(m, files_root)} for m in shown[:MEDIA_PER_STEP]],
                     "more": max(0, len(shown) - MEDIA_PER_STEP)})
    return {"tag": tag, "rows": rows, "positions": positions, "step": step,
            "count": sum(r["count"] for r in rows), "data": {"runs": [r["data"] for r in rows]}}


def log_context(run_id, stream_id, nbytes=None, lazy=False):
    """A log's tail rendered for the page (``VIEWER_PAGE_LOG_BYTES`` unless ``nbytes``; at most
    ``MAX_LOG_WINDOW`` whatever is asked) as HTML pieces: a list, or with ``lazy`` an iterator
    that reads and renders the window piece by piece, yielding to other greenlets (for a
    streamed response). ``more``: the window "show more" asks for next (None at the clamp).
    An unreadable log gives its message in ``error`` instead of failing the page."""
    nbytes = clamp_window(nbytes or viewer().config["VIEWER_PAGE_LOG_BYTES"])
    st = store().stream(run_id, stream_id)
    try:
        start, size, chunks = store().log_window(run_id, stream_id, nbytes)
        html, error = render_chunks(chunks), None
        if not lazy:
            html = list(html)
    except ViewerError as e:
        html, start, size, error = [], 0, 0, e.message
    return {"stream": stream_json(st), "html": html, "start": start, "size": size, "error": error,
            "more": min(max(size - start, 1) * 4, MAX_LOG_WINDOW) if nbytes < MAX_LOG_WINDOW else None}
