"""Generated paths for every route that takes a path or a run id: nothing outside the root is read.

Issue 6, item 2. Hypothesis builds paths from an alphabet of the pieces traversals are made of
(``..``, slashes and backslashes, plain, percent- and double-encoded, NUL, ``~``, look-alike
unicode dots and slashes, overlong UTF-8, absolute paths, real names inside and outside the
root, symlink names). Two proofs, for every generated request:

(a) a canary file outside the root (with a symlink to it inside the root, and a run whose
    metrics file is a symlink to a copy of it) never shows up in a response body;
(b) an audit hook (``sys.addaudithook``) records every ``open``, ``os.listdir`` and
    ``os.scandir`` during the request: each path's realpath must be inside the root, or the
    repository's ``templates/``, ``static/`` or ``viewer/`` code, or Python's own install.

10,500 cases run through Flask's test client (the WSGI environ built from the raw target as
werkzeug's server builds it), and 300 through a real ``flask run`` with the raw request line
(there only status codes and bodies can be checked). ``tests/test_files_safety.py`` holds the
122 hand-written hostile paths; this file does not repeat them.
"""
from __future__ import annotations

import http.client
import os
import sys
import sysconfig
import uuid
from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO, SPT_ID, copy_samples
from live_clients import start_server, stop_server

pytestmark = pytest.mark.slow  # ten thousand fuzzed requests: over two minutes in all

CANARY = "TB-CANARY-" + uuid.uuid4().hex
TOKEN = "fuzz-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FUZZ = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))


# -- the tree ---------------------------------------------------------------------------------

class Tree:
    """The root (a copy of the samples) and, beside it, the canary and its copies."""


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    t = Tree()
    t.base = str(tmp_path_factory.mktemp("path_fuzz"))
    t.root = os.path.join(t.base, "root")
    copy_samples(t.root)
    t.canary = os.path.join(t.base, "canary.txt")
    with open(t.canary, "w") as f:
        f.write(CANARY + "\n")
    os.makedirs(os.path.join(t.base, "outside", "run"))
    with open(os.path.join(t.base, "outside", "run", "metrics.jsonl"), "w") as f:
        f.write('{"step": 1, "%s": 1.0}\n' % CANARY)
    trap = os.path.join(t.root, "trap")
    os.makedirs(os.path.join(t.root, "evil"))
    os.makedirs(trap)
    for name, target in {"canary_abs": t.canary, "canary_rel.txt": "../../canary.txt", "up": "../..",
                         "outside_dir": os.path.join(t.base, "outside"), "passwd": "/etc/passwd",
                         "train.out": "../../canary.txt"}.items():
        os.symlink(target, os.path.join(trap, name))
    os.symlink(os.path.join(t.base, "outside", "run", "metrics.jsonl"), os.path.join(t.root, "evil", "metrics.jsonl"))
    os.symlink(t.canary, os.path.join(t.root, "evil", "stdout.log"))
    os.symlink(os.path.join(t.base, "outside", "run"), os.path.join(t.root, "evil_run_link"))
    return t


# -- what a request opens -----------------------------------------------------------------------

class Opened:
    """Paths opened or listed while ``on``; the hook stays for the session (it cannot be removed)."""

    on = False
    paths = []
    installed = False

    @classmethod
    def hook(cls, event, args):
        if cls.on and event in ("open", "os.listdir", "os.scandir") and args:
            path = args[0]
            if isinstance(path, (str, bytes, os.PathLike)):
                cls.paths.append(os.fsdecode(path))

    @classmethod
    def install(cls):
        if not cls.installed:
            sys.addaudithook(cls.hook)
            cls.installed = True

    @classmethod
    def record(cls):
        cls.paths = []
        cls.on = True

    @classmethod
    def stop(cls):
        cls.on = False
        return list(cls.paths)


def allowed_roots(tree):
    roots = {os.path.realpath(tree.root)}
    roots |= {os.path.realpath(os.path.join(REPO, d)) for d in ("templates", "static", "viewer")}
    roots |= {os.path.realpath(p) for k, p in sysconfig.get_paths().items() if k in
              ("stdlib", "platstdlib", "purelib", "platlib")}
    roots |= {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    # the cache folder (conftest points XDG_CACHE_HOME at a temporary one): the column cache of a
    # run a request parses is read there; it holds no file of the runs folder's neighbours
    roots |= {os.path.realpath(os.environ["TAILBOARD_TEST_CACHE"])}
    return tuple(r + os.sep for r in roots), roots


def beneath_a_folder_fd(p):
    """A one-component name opened relative to a folder fd (``viewer/data/paths.py`` walks the
    root's fd that way: the audit event has no ``dir_fd``). The root fd itself is opened by its
    absolute path, so it is checked; test_paths.py proves each walk stays beneath it."""
    return not os.path.isabs(p) and os.sep not in p and p != ".."


def outside(paths, tree):
    prefixes, exact = allowed_roots(tree)
    bad = []
    for p in paths:
        if beneath_a_folder_fd(p):
            continue
        real = os.path.realpath(p)
        if real not in exact and not real.startswith(prefixes):
            bad.append(p)
    return bad


# -- the alphabet -------------------------------------------------------------------------------

PIECES = [
    "..", ".", "/", "//", "\\", "%2e", "%2E", "%2e%2e", "%2f", "%2F", "%5c", "%252e", "%252f", "%255c",
    "%00", "\x00", "~", "~/", "\u2024", "\u2025", "\uff0e", "\u2215", "\uff0f", "\uff3c",
    "%e2%80%a4", "%ef%bc%8e", "%ef%bc%8f", "%e2%88%95", "%c0%ae", "%c0%af", "%c1%9c", "%e0%80%ae",
    "%f0%80%80%ae", "%c0%2e", "%20", " ", ";", "%3b", "?", "%3f", "#", "%23", "&", "%26", "=", "+",
    "%", "%%", "%u002e", "\r\n", "%0d%0a", "\t", "*", ":", "file:", "C:",
    # absolute paths and real names inside and outside the root
    "/etc/passwd", "/proc/self/environ", "/dev/zero", "etc", "passwd", "canary.txt", "outside", "root",
    "spt", "runs", "20261121", "142732", "1c80a3b1799d", "jsonl", "run1", "metrics.jsonl", "keras",
    "lightning", "lightning_logs", "version_0", "metrics.csv", "hf", "trainer_state.json", "sidecar.json",
    "media", "samples", "00000016_0.png", "train.out", "train.err", "trap", "canary_abs", "canary_rel.txt",
    "up", "outside_dir", "evil", "evil_run_link", "stdout.log", SPT_ID, SPT_ID + "/", "~" + "0" * 32,
]


def pieces(tree):
    """The alphabet, with this tree's absolute paths (the canary's, the root's) added."""
    return PIECES + [tree.canary, tree.base, tree.root, tree.root + "/../canary.txt",
                     os.path.relpath(tree.canary, "/")]


def fuzz_path(tree):
    return st.lists(st.sampled_from(pieces(tree)) | st.text(max_size=3), max_size=9).map("".join)


# -- requests through the test client -------------------------------------------------------------

def wsgi_str(s):
    """werkzeug.serving's encoding: a WSGI (latin-1) string of the target's UTF-8 bytes."""
    return s.encode("utf-8", "surrogateescape").decode("latin-1")


@pytest.fixture(scope="module")
def fuzz_app(tree):
    from app import create_app

    Opened.install()
    app = create_app({"VIEWER_ROOT": tree.root, "VIEWER_BACKGROUND": False, "TESTING": True,
                      "VIEWER_TOKEN": TOKEN})
    client = app.test_client()
    for url in ("/", f"/runs/{SPT_ID}", f"/runs/{SPT_ID}?tab=logs", f"/runs/{SPT_ID}?tab=media",
                "/files/", f"/api/runs/{SPT_ID}/media", "/compare?run=keras", "/files/trap/"):
        client.get(url, headers=AUTH)  # warm up: lazy imports and first-use caches
    yield app
    app.extensions["tailboard"].stop()


class Fuzzer:
    """Sends raw targets to the app and checks both proofs; counts the cases."""

    def __init__(self, app, tree):
        self.client = app.test_client()
        self.app = app
        self.tree = tree
        self.cases = 0
        self.capability = None

    def get(self, target, headers=AUTH):
        u = urlsplit(target)
        path = f"/{u.netloc}{u.path}" if not u.scheme and u.netloc else u.path
        environ = {"PATH_INFO": wsgi_str(unquote(path)), "QUERY_STRING": wsgi_str(u.query),
                   "REQUEST_URI": wsgi_str(target), "RAW_URI": wsgi_str(target)}
        Opened.record()
        try:
            resp = self.client.open("/", headers=headers, environ_overrides=environ, buffered=False)
            try:
                body = b"" if resp.mimetype == "text/event-stream" else resp.get_data()
                status = resp.status_code
            finally:
                resp.close()
        finally:
            opened = Opened.stop()
        self.check(target, status, body, opened)
        return status

    def check(self, what, status, body, opened):
        self.cases += 1
        assert status < 500, f"{what!r}: {status}"
        assert CANARY.encode() not in body, f"{what!r} served the canary"
        bad = outside(opened, self.tree)
        assert not bad, f"{what!r} opened {bad} outside the root"


@pytest.fixture(scope="module")
def fuzzer(fuzz_app, tree):
    from viewer.web import access

    f = Fuzzer(fuzz_app, tree)
    f.capability = access.make_capability(TOKEN, "")  # the whole root: the widest a capability opens
    return f


def run(fuzzer, n, body):
    """Run ``body`` as a hypothesis test of ``n`` cases and check that they all ran."""
    before = fuzzer.cases
    settings(FUZZ, max_examples=n)(body)()
    assert fuzzer.cases - before >= n


def test_files(fuzzer, tree):
    @given(fuzz_path(tree))
    def body(p):
        fuzzer.get("/files/" + p)
    run(fuzzer, 3000, body)


def test_files_under_the_capability_without_credentials(fuzzer, tree):
    @given(fuzz_path(tree))
    def body(p):
        fuzzer.get(f"/files/~{fuzzer.capability}/" + p, headers={})
    run(fuzzer, 1500, body)


def test_run_pages(fuzzer, tree):
    @given(fuzz_path(tree), st.sampled_from(["", "?tab=logs", "?tab=media", "?tab=config", "?compare="]))
    def body(p, query):
        fuzzer.get("/runs/" + p + (query + p if query == "?compare=" else query))
    run(fuzzer, 1000, body)


ACTIONS = ["", "/metrics", "/metrics.csv", "/logs", "/logs/train.out", "/logs/{p}", "/media"]


def test_api_run_routes(fuzzer, tree):
    @given(fuzz_path(tree), st.sampled_from(ACTIONS), fuzz_path(tree))
    def body(p, action, p2):
        fuzzer.get("/api/runs/" + p + action.replace("{p}", p2))
    run(fuzzer, 2000, body)


PARTIALS = ["/-/partials/hparams?run={p}", "/-/partials/media?run={p}&compare={q}",
            "/-/partials/log?run={p}&stream={q}", "/-/partials/log?run=" + SPT_ID + "&stream={q}",
            "/-/partials/rows?run={p}&run={q}", "/compare?run={p}&run={q}", "/compare?runs={p},{q}",
            "/api/compare?run={p}&run={q}", "/runs/" + SPT_ID + "?tab=media&compare={p},{q}"]


def test_partials_and_compare(fuzzer, tree):
    @given(st.sampled_from(PARTIALS), fuzz_path(tree), fuzz_path(tree))
    def body(template, p, q):
        fuzzer.get(template.replace("{p}", p).replace("{q}", q))
    run(fuzzer, 1000, body)


def test_event_streams(fuzzer, tree):
    """``/events?run=`` and ``?dir=``: the status and the work done before the first byte."""
    @given(st.sampled_from(["/events?run={p}", "/events?dir={p}", "/events?run={p}&run={p}&scan=1"]),
           fuzz_path(tree))
    def body(template, p):
        fuzzer.get(template.replace("{p}", p))
    run(fuzzer, 500, body)


def test_log_socket_resolver(fuzzer, tree):
    """``/ws/logs/<id>/<stream>`` cannot be reached by the test client: its resolver can."""
    from viewer.data.errors import ViewerError
    from viewer.data.tailing import LogFollower

    store = fuzzer.app.extensions["tailboard"].store

    @given(fuzz_path(tree), fuzz_path(tree) | st.sampled_from(["train.out", "train.err", "stdout.log"]))
    def body(run_id, stream_id):
        Opened.record()
        data = b""
        try:
            path = store.stream(run_id, stream_id)["path"]
            data = str(LogFollower(path, 4096).tail()).encode()
        except (ViewerError, OSError):
            pass
        finally:
            opened = Opened.stop()
        fuzzer.check(("ws", run_id, stream_id), 200, data, opened)
    run(fuzzer, 1500, body)


def test_the_proofs_can_fail(fuzzer, tree):
    """The hook sees a read of the canary and the checks call it out (no silent pass)."""
    Opened.record()
    with open(tree.canary) as f:
        f.read()
    opened = Opened.stop()
    assert outside(opened, tree) == [tree.canary]
    with pytest.raises(AssertionError, match="canary"):
        fuzzer.check("self-test", 200, CANARY.encode(), [])
    assert fuzzer.get(f"/files/{SPT_ID}/train.out") == 200  # a real file is served, and allowed


def test_the_fuzz_ran_ten_thousand_cases(fuzzer):
    if fuzzer.cases < 10_000:
        pytest.skip("only part of the module ran")
    assert fuzzer.cases >= 10_500


# -- a sample through a real server ------------------------------------------------------------------

class RawHTTPConnection(http.client.HTTPConnection):
    """http.client with the request target written verbatim: no validation, no ASCII-only."""

    def _validate_path(self, url):
        pass

    def _encode_request(self, request):
        return request.encode("utf-8", "surrogateescape")


TEMPLATES = ["/files/{p}", "/files/~{cap}/{p}", "/runs/{p}", "/api/runs/{p}", "/api/runs/{p}/metrics",
             "/api/runs/{p}/metrics.csv", "/api/runs/{p}/logs", "/api/runs/{p}/logs/{p}", "/api/runs/{p}/media",
             "/-/partials/log?run={p}&stream={p}", "/-/partials/media?run={p}", "/compare?run={p}",
             "/events?dir={p}", "/events?run={p}"]


def raw_get(host, port, target):
    conn = RawHTTPConnection(host, port, timeout=5)
    try:
        conn.putrequest("GET", target, skip_accept_encoding=True)
        for k, v in {**AUTH, "Connection": "close"}.items():
            conn.putheader(k, v)
        conn.endheaders()
        resp = conn.getresponse()
        stream = resp.getheader("Content-Type", "").startswith("text/event-stream")
        return resp.status, b"" if stream else resp.read()
    finally:
        conn.close()


def test_real_server_sample(tree):
    proc, url = start_server("flask", tree.root, VIEWER_TOKEN=TOKEN)
    u = urlsplit(url)
    from viewer.web import access

    cap = access.make_capability(TOKEN, "")
    seen = []
    try:
        @settings(FUZZ, max_examples=300)
        @given(st.sampled_from(TEMPLATES), fuzz_path(tree))
        def body(template, p):
            target = template.replace("{cap}", cap).replace("{p}", p).replace("\r\n", "%0d%0a")
            for raw, enc in (("\n", "%0a"), ("\r", "%0d"), (" ", "%20"), ("\t", "%09")):
                target = target.replace(raw, enc)  # whitespace would split the request line itself
            status, data = raw_get(u.hostname, u.port, target if target.startswith("/") else "/" + target)
            seen.append(status)
            assert status < 500, f"{target!r}: {status}"
            assert CANARY.encode() not in data, f"{target!r} served the canary"
        body()
        assert len(seen) >= 300
        status, data = raw_get(u.hostname, u.port, f"/files/{SPT_ID}/train.out")
        assert status == 200 and data  # the server did serve files all along
    finally:
        stop_server(proc)
