"""Writing files and building run folders in tests: one home for what tests write to disk.

Files are written as bytes: a ``str`` is UTF-8 with no newline translation (CSV tests care
whether a line ends in ``\\n`` or ``\\r\\n``). Paths may be ``str`` or ``pathlib.Path``; parent
folders are created. Run builders write the files the real tools write (see
``tests/data/README.md`` for the real samples these imitate) and return the run's folder.
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import time
from pathlib import Path

PAGE = """<!doctype html>
<html><head><link rel="stylesheet" href="style.css"><script src="js/app.js"></script>
<link rel="stylesheet" href="../common/theme.css"></head>
<body><h1 id="t">{title}</h1><img src="plot.png"></body></html>
"""


def _bytes(data):
    return data.encode() if isinstance(data, str) else data


def write(path, data):
    """Create or truncate ``path`` (same inode when it exists) with ``data``; returns the Path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(_bytes(data))
    return path


def append(path, data):
    """Append ``data`` to ``path`` (created when missing), as a writer that keeps its file open does."""
    with open(path, "ab") as f:
        f.write(_bytes(data))


def replace(path, data, mtime=None):
    """Write ``data`` beside ``path`` then rename it over ``path`` (atomic, as spt writes its
    sidecar); ``mtime`` (epoch s) is set before the rename."""
    path = Path(path)
    tmp = write(path.with_name(path.name + ".tmp"), data)
    if mtime is not None:
        os.utime(tmp, (mtime, mtime))
    os.replace(tmp, path)
    return path


def csv_text(header, rows, end="\n"):
    """CSV text as Python's ``csv`` writes it: ``rows`` in ``header`` order, None an empty cell,
    each line ending in ``end`` (Lightning's and Keras' writers use ``\\r\\n``)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator=end).writerows([header, *rows])
    return buf.getvalue()


def sidecar(run_id, status="completed", *, now=None, **fields):
    """An spt ``sidecar.json`` dict: schema 1, created a minute before ``now`` (default: the
    clock) and updated at ``now``; ``fields`` add to or override these."""
    now = time.time() if now is None else now
    return {"schema_version": 1, "run_id": run_id, "status": status, "created_at": now - 60,
            "updated_at": now, **fields}


def csv_rows(rows):
    """``metrics.csv`` text of dict ``rows``: ``step`` first, then every other key, sorted."""
    names = sorted({k for r in rows for k in r if k != "step"})
    return "\n".join(["step," + ",".join(names)] + [
        ",".join([str(r["step"])] + [str(r.get(n, "")) for n in names]) for r in rows]) + "\n"


def spt_run(folder, sidecar, *, metrics=None, files=None):
    """An spt run folder: ``sidecar.json`` (a dict as JSON; str or bytes as is), ``metrics.csv``
    when ``metrics`` (its text) is given, then ``files`` (relative name -> str or bytes)."""
    folder = Path(folder)
    write(folder / "sidecar.json", sidecar if isinstance(sidecar, (str, bytes)) else json.dumps(sidecar))
    if metrics is not None:
        write(folder / "metrics.csv", metrics)
    for name, data in (files or {}).items():
        write(folder / name, data)
    return folder


def lightning_run(root, rid, rows, hparams=None, header=("epoch", "step", "train/loss", "val/acc", "time")):
    """A Lightning CSVLogger folder ``root/rid``: ``rows`` are tuples in ``header`` order (None =
    empty cell), ``hparams`` a flat dict for ``hparams.yaml``. Returns ``rid``."""
    d = Path(root) / rid
    write(d / "metrics.csv", csv_text(header, rows))
    write(d / "hparams.yaml", "".join(f"{k}: {v}\n" for k, v in (hparams or {}).items()))
    return rid


def add_media(run, tag, step, caption, png, kind="image"):
    """Copy ``png`` to where spt's writer puts an item of ``tag`` at ``step``, then append its
    ``media.jsonl`` line (the writer's order: file first). Returns the index item."""
    run = Path(run)
    ext = ".mp4" if kind == "video" else ".png"
    rel = f"media/{tag.replace('/', '__')}/{step:08d}_0{ext}"
    (run / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(png, run / rel)
    item = {"step": step, "tag": tag, "type": kind, "path": rel, "caption": caption}
    append(run / "media.jsonl", json.dumps(item) + "\n")
    return item


def html_report(root, title="v1"):
    """An HTML report at ``root/reports/bench`` with its CSS, script and image, and a stylesheet
    it shares with other reports in ``root/reports/common``. Returns the report's folder."""
    root = Path(root)
    rep = root / "reports" / "bench"
    (rep / "js").mkdir(parents=True, exist_ok=True)
    write(rep / "index.html", PAGE.format(title=title))
    write(rep / "style.css", "h1 { color: rgb(255, 0, 0) }\n")
    write(rep / "js" / "app.js", "window.app = 1;\n")
    write(rep / "plot.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    write(root / "reports" / "common" / "theme.css", "body { margin: 0 }\n")
    return rep
