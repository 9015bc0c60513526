"""The read-only promise: serving a runs folder changes nothing in it.

A copy of the real samples plus a few hostile cases is made read-only (``chmod -R a-w``; root
ignores that, so the real check is the snapshot), then served the way users run it: ``flask
run`` with the background watcher, every route of every run, the event stream and a log
socket held open for a moment. Every path's type, size, mtime, mode, content hash and symlink
target before and after must be equal, and no path may appear or vanish (no ``__pycache__``,
lock file or cache written into the tree).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import stat

import requests

from live_clients import SSE, start_server, stop_server, wait_for, ws_connect, ws_next
from test_hostile import CASES, sweep, url_id

# cases with no FIFO (reading one to hash it would block) and no 10 GB file to hash
HOSTILE = ("csv_ragged_long_row", "csv_random_bytes_tail", "jsonl_binary_tail", "jsonl_partial_last_line",
           "sidecar_not_json", "trainer_state_truncated", "hparams_yaml_alias_bomb", "name_markup",
           "name_not_utf8", "symlink_loops", "files_symlinked_out_of_the_root", "media_index_hostile",
           "log_invalid_utf8_and_controls")


def snapshot(top):
    """{relative path: (type, size, mtime_ns, mode, sha256 or symlink target)}; atime left out."""
    out = {}
    for dirpath, dirs, files in os.walk(top):
        for name in dirs + files:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                what = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    what = hashlib.file_digest(f, "sha256").hexdigest()
            else:
                what = None
            out[os.path.relpath(path, top)] = (stat.S_IFMT(st.st_mode), st.st_size if not stat.S_ISDIR(st.st_mode)
                                               else None, st.st_mtime_ns, stat.S_IMODE(st.st_mode), what)
    st = os.lstat(top)
    out["."] = (stat.S_IFMT(st.st_mode), None, st.st_mtime_ns, stat.S_IMODE(st.st_mode), None)
    return out


def chmod_tree(top, writable):
    for dirpath, dirs, files in os.walk(top):
        for name in dirs + files:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                mode = os.lstat(path).st_mode
                os.chmod(path, (mode | stat.S_IWUSR) if writable else (mode & ~0o222))
    mode = os.stat(top).st_mode
    os.chmod(top, (mode | stat.S_IWUSR) if writable else (mode & ~0o222))


class Remote:
    """``sweep``'s client over HTTP: a running server answers instead of the test client."""

    def __init__(self, base):
        self.base = base
        self.session = requests.Session()

    def get(self, url, headers=None):
        return Response(self.session.get(self.base + url, headers=headers or {}, timeout=60))


class Response:
    def __init__(self, r):
        self.status_code, self.headers, self._body = r.status_code, r.headers, r.content

    def get_data(self, as_text=False):
        return self._body.decode("utf-8", "replace") if as_text else self._body


def test_serving_changes_nothing_in_the_tree(samples, tmp_path):
    from test_hostile import View

    tree = tmp_path / "tree"
    shutil.move(str(samples), tree / "samples")
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in HOSTILE:
        (tree / name).mkdir()
        CASES[name](tree / name, outside)
    chmod_tree(tree, writable=False)
    before = snapshot(tree)
    proc, base = start_server("flask", tree, VIEWER_BACKGROUND="1", VIEWER_RESCAN="1")
    try:
        v = View(Remote(base))
        runs = v.json("/api/runs")["runs"]
        assert len(runs) >= 15  # the samples' five runs and the hostile ones
        sweep(v, listings=False)  # listings of names that are not UTF-8 are a known 500 (test_hostile)
        for path in ("/files/samples/", "/files/samples/spt/?format=json"):
            assert v.get(path).status_code == 200
        overview = SSE(base, "/events")
        spt = next(r["id"] for r in runs if r["format"] == "spt" and r["id"].startswith("samples/"))
        run_events = SSE(base, f"/events?run={url_id(spt)}")
        stream = v.json(f"/api/runs/{url_id(spt)}/logs")["streams"][0]["id"]
        ws = ws_connect(base, f"/ws/logs/{url_id(spt)}/{stream}")
        assert ws_next(ws)["type"] == "tail"
        # hold them open across a rescan of the watcher (VIEWER_RESCAN=1): pings every 0.5 s
        assert requests.get(base + "/healthz", timeout=10).json()["streams"] >= 3
        wait_for(lambda: len(overview.comments) >= 4 and len(run_events.comments) >= 4, what="four pings")
        ws.close()
        overview.close()
        run_events.close()
    finally:
        stop_server(proc)
        after = snapshot(tree)
        chmod_tree(tree, writable=True)
    assert sorted(set(after) - set(before)) == [], "files appeared in the runs folder"
    assert sorted(set(before) - set(after)) == [], "files vanished from the runs folder"
    changed = {p: (before[p], after[p]) for p in before if before[p] != after[p]}
    assert changed == {}
