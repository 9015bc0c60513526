"""Issue 17, findings 2, 3, 5 and 7: every open under the root goes through viewer/data/paths.py.

Written the way the attacks were made: a real ``gunicorn -k gevent`` server, real symlink swaps
with ``renameat2(RENAME_EXCHANGE)`` in a loop, a log renamed over by a symlink to a file outside
the root while a real websocket client follows it, real FIFOs, a 40 MB ANSI log asked for whole.
"""
from __future__ import annotations

import ast
import ctypes
import errno
import os
import pathlib
import threading
import time
import uuid

import pytest
import requests

from live_clients import start_server, stop_server, ws_connect, ws_next
from viewer.data import paths
from viewer.data.tailing import MAX_LOG_WINDOW

REPO = pathlib.Path(__file__).resolve().parent.parent
CANARY = "TB-OUTSIDE-" + uuid.uuid4().hex


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


# -- renameat2(RENAME_EXCHANGE) through ctypes -------------------------------------------------

_libc = ctypes.CDLL("libc.so.6", use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2


def exchange(a, b):
    """Atomically swap two names (whatever they are: folder, file, symlink)."""
    fn = getattr(_libc, "renameat2", None)
    if fn is not None:
        rc = fn(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE)
    else:  # glibc < 2.28: the raw syscall (x86_64)
        rc = _libc.syscall(316, AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE)
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


class Swapper:
    """Swaps two names in a loop on a thread until stopped."""

    def __init__(self, a, b):
        self.a, self.b, self.swaps = str(a), str(b), 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            exchange(self.a, self.b)
            self.swaps += 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)
        if self.swaps % 2:
            exchange(self.a, self.b)  # back as it was


# -- the helper itself -------------------------------------------------------------------------

@pytest.fixture
def tree(tmp_path):
    root, out = tmp_path / "root", tmp_path / "outside"
    write(root / "a" / "b" / "f.txt", "inside\n")
    write(out / "s.txt", CANARY)
    os.symlink("a/b", root / "ab")                        # in-root, relative
    os.symlink(root / "a", root / "abs_a")                # in-root, absolute
    os.symlink("../b/f.txt", root / "a" / "b" / "rel")    # a/b/../b/f.txt
    os.symlink(out, root / "out_dir")
    os.symlink("../../outside/s.txt", root / "a" / "leak")
    os.symlink("ab/../../outside/s.txt", root / "via_link_up")  # ab/.. is a, not the root
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    os.mkfifo(root / "fifo.log")
    return root, out


def fd_path(fd):
    return os.readlink(f"/proc/self/fd/{fd}")


@pytest.mark.parametrize("rel", ["a/b/f.txt", "ab/f.txt", "abs_a/b/f.txt", "a/b/rel", "ab/../b/f.txt"])
def test_symlinks_that_stay_inside_are_followed_and_the_fd_is_inside(tree, rel):
    root, _out = tree
    fd = paths.open_fd(str(root), rel)
    try:
        assert os.read(fd, 100) == b"inside\n"
        assert paths.contains(str(root), fd_path(fd))
    finally:
        os.close(fd)


@pytest.mark.parametrize("rel,code", [("out_dir/s.txt", errno.EXDEV), ("a/leak", errno.EXDEV),
                                      ("via_link_up", errno.ENOENT), ("loop1", errno.ELOOP),
                                      ("../outside/s.txt", errno.EXDEV)])
def test_links_out_and_loops_are_refused(tree, rel, code):
    root, _out = tree
    with pytest.raises(OSError) as e:
        paths.open_fd(str(root), rel)
    assert e.value.errno == code
    assert paths.stat_beneath(str(root), rel) is None


def test_a_fifo_is_refused_without_blocking(tree):
    root, _out = tree
    t0 = time.monotonic()
    with pytest.raises(OSError) as e:
        paths.open_regular(str(root / "fifo.log"), within=str(root))
    assert e.value.errno == errno.EINVAL and time.monotonic() - t0 < 1


def test_listing_leaves_out_links_out_and_follows_links_in(tree):
    root, _out = tree
    names = {n for n, _st in paths.scandir(str(root), "")}
    assert names == {"a", "ab", "abs_a", "fifo.log"}
    assert "s.txt" not in {n for n, _st in paths.scandir(str(root), "ab")}
    with pytest.raises(OSError):
        paths.scandir(str(root), "out_dir")


def test_containment_by_text_is_not_a_prefix_test():
    assert paths.contains("/runs", "/runs") and paths.contains("/runs", "/runs/a")
    assert not paths.contains("/runs", "/runs-evil/a") and not paths.strictly_inside("/runs", "/runs")
    assert paths.contains("/", "/etc")


# -- finding 5: no blocking open of a file under the root ------------------------------------------

def blocks(fn, *args):
    """True when ``fn(*args)`` is still running after 2 s (a blocking open of a FIFO)."""
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("v", fn(*args)), daemon=True)
    t.start()
    t.join(2)
    return t.is_alive()


def release(fifo):
    """Let a reader blocked on ``fifo`` go (a writer opens and closes it)."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass


def test_the_keras_detector_does_not_block_on_a_fifo(tmp_path):
    from viewer.data.formats.keras import is_keras_csv

    fifo = tmp_path / "training.log"
    os.mkfifo(fifo)
    try:
        assert not blocks(is_keras_csv, str(fifo))
    finally:
        release(fifo)


def test_livereload_page_references_do_not_block_on_a_fifo(tmp_path):
    from app import create_app
    from viewer.web.blueprints.livereload import page_references

    os.mkfifo(tmp_path / "report.html")
    app = create_app({"VIEWER_ROOT": str(tmp_path), "VIEWER_BACKGROUND": False})

    def call():
        with app.test_request_context("/files/report.html"):
            try:
                return page_references(str(tmp_path / "report.html"), "/files/report.html")
            except OSError:
                return None
    try:
        assert not blocks(call)
    finally:
        release(tmp_path / "report.html")


# the opens that read our own package's files or write the demo's own tree; each with its reason
ALLOWED = {
    ("viewer/demo.py", "open"): "writes the bundled demo tree the viewer itself creates (not a runs folder)",
    ("viewer/demo.py", "os.walk"): "walks the bundled demo tree the viewer itself creates",
    ("viewer/demo.py", "os.fdopen"): "writes a sidecar of the bundled demo tree (mkstemp's fd)",
    ("viewer/live/source.py", "open"): "reads /proc/self/mounts (is the root on NFS?), not the runs folder",
    ("viewer/live/alerts/rules.py", "open"): "reads the alert rules file (VIEWER_ALERTS), the user's "
                                             "configuration, not a file of the runs folder",
    ("viewer/live/alerts/state.py", "open"): "reads the alert state file in the cache dir (never the runs folder)",
    ("viewer/live/alerts/state.py", "os.fdopen"): "writes the alert state file in the cache dir (mkstemp's fd)",
    ("viewer/live/watchhost.py", "os.open"): "the lock file and folder of the host's shared watch process, in "
                                             "the cache dir (CacheDir refuses one inside the runs folder)",
    ("viewer/live/interest.py", "os.scandir"): "stats the entries of folders RunStore.resolve returned, "
                                               "for polling; nothing is read, no name is sent",
    ("viewer/data/colcache.py", "os.open"): "writes the column cache's files and lock in the cache dir "
                                            "(CacheDir refuses one under the root); reads go through paths",
    ("viewer/data/colcache.py", "os.scandir"): "is the column cache of this root empty? (the cache dir, never the root)",
    ("viewer/data/colprune.py", "os.open"): "the pruner's lock (.prune) and entries' writer locks, in the cache dir",
    ("viewer/data/colprune.py", "os.scandir"): "lists the column cache's entries to prune them (the cache dir, never "
                                               "the root: only os.stat looks at the files they describe)",
}
OPENERS = {"open", "io.open", "os.open", "os.fdopen", "os.scandir", "os.listdir", "os.walk", "codecs.open"}


def _name(func):
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return f"{func.value.id}.{func.attr}"
    return None


def bare_opens():
    found = {}
    for path in sorted((REPO / "viewer").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel == "viewer/data/paths.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), rel)):
            if isinstance(node, ast.Call) and _name(node.func) in OPENERS:
                found.setdefault((rel, _name(node.func)), []).append(node.lineno)
    return found


def test_no_file_under_the_root_is_opened_or_listed_outside_paths_py():
    """Every open/listing under the root goes through viewer/data/paths.py (beneath the root's fd,
    non-blocking, regular files only); this lint names any other."""
    bad = {k: v for k, v in bare_opens().items() if k not in ALLOWED}
    assert not bad, f"open or list through viewer.data.paths, not directly: {bad}"


def test_the_lint_can_fail():
    tree = ast.parse("def f(p):\n    with open(p, 'rb') as f:\n        return os.listdir(p)\n")
    calls = {_name(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert {"open", "os.listdir"} <= calls & OPENERS
    assert all(reason for reason in ALLOWED.values())


# -- findings 2 and 3 through a real gunicorn -k gevent server ---------------------------------------

@pytest.fixture
def race_tree(tmp_path):
    root, out = tmp_path / "root", tmp_path / "outside"
    write(out / "evil" / "passwd", CANARY + "\n")
    write(out / "secret.out", CANARY + "\n")
    write(root / "race" / "sub" / "passwd", "inside\n")
    os.symlink(out / "evil", root / "race" / "swap")        # the swap partner of race/sub
    write(root / "r" / "metrics.jsonl", '{"step": 0, "loss": 1}\n')
    write(root / "r" / "train.out", "mine\n")
    os.symlink(out / "secret.out", root / "r" / ".swap")   # the swap partner of train.out
    return root, out


def stream_id(url, run, name):
    for st in requests.get(f"{url}/api/runs/{run}/logs", timeout=5).json()["streams"]:
        if st["name"] == name:
            return st["id"]
    raise AssertionError(f"no stream {name}")


def hammer(url, path, n, seconds):
    """GET ``path`` up to ``n`` times or ``seconds``: (requests, leaks, 5xx answers)."""
    done = leaks = errors = 0
    deadline = time.monotonic() + seconds
    with requests.Session() as s:
        while done < n and time.monotonic() < deadline:
            r = s.get(url + path, timeout=10)
            done += 1
            leaks += CANARY in r.text
            errors += r.status_code >= 500
    return done, leaks, errors


def test_symlink_swap_races_never_serve_outside_files(race_tree):
    root, _out = race_tree
    proc, url = start_server("gunicorn", root)
    try:
        sid = stream_id(url, "r", "train.out")
        assert requests.get(f"{url}/files/race/sub/passwd", timeout=5).text == "inside\n"
        with Swapper(root / "race" / "sub", root / "race" / "swap") as sw:
            files = hammer(url, "/files/race/sub/passwd", 1500, 30)
        assert sw.swaps > 100
        with Swapper(root / "r" / "train.out", root / "r" / ".swap") as sw:
            logs = hammer(url, f"/api/runs/r/logs/{sid}", 1500, 30)
        assert sw.swaps > 100
        assert files[0] >= 100 and logs[0] >= 100, (files, logs)
        assert (files[1], logs[1]) == (0, 0), f"outside file served: files {files}, logs {logs}"
        assert (files[2], logs[2]) == (0, 0), f"5xx answers: files {files}, logs {logs}"
    finally:
        stop_server(proc)


def test_the_log_socket_never_follows_a_rotation_out_of_the_root(race_tree):
    root, out = race_tree
    proc, url = start_server("gunicorn", root)
    try:
        sid = stream_id(url, "r", "train.out")
        ws = ws_connect(url, f"/ws/logs/r/{sid}")
        first = ws_next(ws)
        assert first["type"] == "tail" and "mine" in "".join(first["lines"])
        # logrotate-style: a new name renamed over the log, here a symlink to a file outside
        os.symlink(out / "secret.out", root / "r" / "train.out.new")
        os.rename(root / "r" / "train.out.new", root / "r" / "train.out")
        seen = []
        deadline = time.time() + 3  # six heartbeats (0.5 s): each re-checks the file
        while time.time() < deadline:
            raw = ws.receive(timeout=0.5)
            if raw:
                seen.append(raw)
        assert not any(CANARY in m for m in seen), "the socket sent a file outside the root"
        # a real file renamed over it is followed again
        write(root / "r" / "train.out.new", "after rotation\n")
        os.rename(root / "r" / "train.out.new", root / "r" / "train.out")
        msg = ws_next(ws, timeout=5)
        assert msg["type"] == "reset" and "after rotation" in "".join(msg["lines"])
        ws.close()
    finally:
        stop_server(proc)


# -- finding 7: a big log window holds neither the worker nor its memory -------------------------------

def worker_pids(master):
    kids = pathlib.Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(k) for k in kids]


def peak_rss_mib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_a_huge_log_window_is_clamped_and_does_not_hold_the_worker(tmp_path):
    root = tmp_path / "root"
    line = "\x1b[32mINFO\x1b[0m step {i:08d} \x1b[1;31mloss\x1b[0m 0.123456 \x1b[38;5;208mlr\x1b[0m 3e-4 " + "x" * 40 + "\n"
    write(root / "r" / "metrics.jsonl", '{"step": 0, "loss": 1}\n')
    with open(root / "r" / "train.out", "w") as f:
        i = 0
        while f.tell() < 40 << 20:
            f.write("".join(line.format(i=i + k) for k in range(1000)))
            i += 1000
    proc, url = start_server("gunicorn", root, WEB_CONCURRENCY="1")
    try:
        sid = stream_id(url, "r", "train.out")
        worker = worker_pids(proc.pid)[0]
        base_rss = peak_rss_mib(worker)
        sizes = {}

        def fetch(key, path):
            with requests.get(url + path, stream=True, timeout=120) as r:
                sizes[key] = sum(len(c) for c in r.iter_content(1 << 20))

        jobs = [threading.Thread(target=fetch, args=("partial", f"/-/partials/log?run=r&stream={sid}&bytes=1000000000000"))]
        jobs += [threading.Thread(target=fetch, args=(f"api{k}", f"/api/runs/r/logs/{sid}?bytes={1 << 30}"))
                 for k in range(4)]
        for t in jobs:
            t.start()
        worst, probes, lat = 0.0, 0, []
        time.sleep(0.2)
        while any(t.is_alive() for t in jobs) and probes < 100:  # bounded: at most 100 probes
            t0 = time.monotonic()
            assert requests.get(url + "/healthz", timeout=60).status_code == 200
            worst = max(worst, time.monotonic() - t0)
            lat.append(round(time.monotonic() - t0, 2))
            probes += 1
            time.sleep(0.05)
        for t in jobs:
            t.join(120)
        assert probes >= 3, "the big answers ended before they could be probed"
        assert all(sizes[f"api{k}"] <= MAX_LOG_WINDOW for k in range(4)), sizes
        assert sizes["api0"] > MAX_LOG_WINDOW - (1 << 10), sizes   # the clamp, not less
        assert sizes["partial"] <= 6 * MAX_LOG_WINDOW, sizes      # the clamped window, rendered
        print(f"healthz worst {worst:.2f}s over {probes} probes {lat}, sizes {sizes}")
        assert worst < 3.0, f"/healthz took {worst:.2f}s while big tails were served"
        grown = peak_rss_mib(worker) - base_rss
        print(f"worker peak RSS grew {grown:.0f} MiB")
        assert grown < 160, f"the worker's peak RSS grew {grown:.0f} MiB"
    finally:
        stop_server(proc)


def test_a_log_rendered_piece_by_piece_shows_what_it_shows_whole():
    import re

    from viewer.data.tailing import render_chunks, render_terminal

    line = "\x1b[32mINFO\x1b[0m step {i} \x1b[1;31mloss é\x1b[0m \r50%\r100%\n"
    raw = "".join(line.format(i=i) for i in range(20000)).encode() + b"\x1b[31mno newline"
    text = lambda h: re.sub(r"<[^>]+>", "", h)  # noqa: E731
    whole = render_terminal(raw.decode())
    for size in (7, 1000, 1 << 16, 1 << 18):
        pieces = list(render_chunks(raw[i:i + size] for i in range(0, len(raw), size)))
        assert text("".join(pieces)) == text(whole)
        assert "".join(pieces).count('class="ansi-fg-red"') >= whole.count('class="ansi-fg-red"')


def test_show_more_grows_within_the_clamp(tmp_path):
    import re

    from app import create_app

    write(tmp_path / "r" / "metrics.jsonl", '{"step": 0, "loss": 1}\n')
    write(tmp_path / "r" / "train.out", "".join(f"line {i:07d}\n" for i in range(1_700_000)))  # ~22 MiB
    client = create_app({"VIEWER_ROOT": str(tmp_path), "VIEWER_BACKGROUND": False}).test_client()
    sid = client.get("/api/runs/r/logs").get_json()["streams"][0]["id"]
    asked = 1 << 20
    for _ in range(10):
        html = client.get(f"/-/partials/log?run=r&stream={sid}&bytes={asked}").get_data(as_text=True)
        shown = html.count("line ") * len("line 0000000\n")
        assert shown <= min(asked, MAX_LOG_WINDOW)
        more = re.search(r"bytes=(\d+)", html)
        if more is None:
            break
        assert int(more.group(1)) > asked and int(more.group(1)) <= MAX_LOG_WINDOW
        asked = int(more.group(1))
    assert more is None and asked == MAX_LOG_WINDOW and "not shown" in html
    assert shown > MAX_LOG_WINDOW - 64
    # whatever is asked for, the window is the clamp
    html = client.get(f"/-/partials/log?run=r&stream={sid}&bytes=1000000000000").get_data(as_text=True)
    assert html.count("line ") * len("line 0000000\n") <= MAX_LOG_WINDOW
