"""The column cache (issue 13 item 4): restarts and workers share one parse.

    python bench/bench_cache.py                      # 1,000,000-row run; 100 pages of 200 x 100,000 rows
    python bench/bench_cache.py --big 200000 --runs 20 --rows 20000 --pages 20   # a quick look

Serves with the real ``gunicorn -c gunicorn.conf.py`` (gevent workers; ``WEB_CONCURRENCY``
workers) the spt trees bench/bench_scale.py writes (cached in /tmp/tailboard-peers/trees), with
``VIEWER_CACHE_DIR`` a fresh temporary folder. Prints:

- ``cold_metrics_s``: empty cache, one worker: the big run's first ``/api/runs/<id>/metrics``
  (parse, then the cache entry written); ``warm_metrics_s``: the same request after a
  restart (the entry mapped, nothing parsed), then ``again_s`` (a second request);
- ``rss_<w>w_<cache>_mb`` / ``pss_...``: summed RSS and PSS of gunicorn's processes once each of
  ``w`` workers (1, 4) answered the big run's metrics, with the cache (``mapped``: entry warm)
  and without (``off``). RSS counts a shared page in each process; PSS divides it among them;
- ``inproc_*``: in the bench's own process, ``RunStore.parsed`` of the big run parsing (empty
  cache) and mapping (entry warm), each followed by its first ``metrics`` (downsampling);
- ``pages_rss_mb``: RSS after opening ``--pages`` different run pages one after another (page,
  then its metrics), ``VIEWER_MEMORY_MB=512``, cold and warm cache, and 6 s later (heap trim).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from urllib.parse import quote

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from bench_read_path import free_port, machine  # noqa: E402
from bench_scale import tree  # noqa: E402
from compare import descendants, tree_rss, wait_until  # noqa: E402
from peer_spt import http_get  # noqa: E402


def serve(root, cache, workers=1, memory_mb=512):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIEWER_", "TAILBOARD_"))}
    env.update(VIEWER_ROOT=root, VIEWER_CACHE_DIR=cache, VIEWER_MEMORY_MB=str(memory_mb),
               WEB_CONCURRENCY=str(workers), TAILBOARD_BIND=f"127.0.0.1:{port}")
    exe = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([exe, "-c", "gunicorn.conf.py", "app:create_app()"], cwd=REPO, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    proc.base = f"http://127.0.0.1:{port}"
    wait_until(lambda: json.loads(get(proc, "/healthz"))["scan"]["phase"] == "done", timeout=600, every=0.05)
    return proc


def stop(proc):
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def get(proc, path):
    status, body = http_get(proc.base, path, timeout=600)
    if status != 200:
        raise RuntimeError(f"{path}: {status}")
    return body


def metrics_s(proc, rid):
    t0 = time.perf_counter()
    body = json.loads(get(proc, f"/api/runs/{quote(rid)}/metrics"))
    assert body["series"]["train/loss"]["count"] > 0
    return time.perf_counter() - t0


def workers(proc):
    return [p for p in descendants(proc.pid) if p != proc.pid and _cmd(p).startswith("gunicorn")]


def _cmd(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def pss(pid):
    total = 0
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                total += next(int(ln.split()[1]) * 1024 for ln in f if ln.startswith("Pss:"))
        except (OSError, StopIteration):
            pass
    return total


def answered_by_all(proc, rid, n):
    """Ask the big run's metrics on new connections until every worker has parsed or mapped it
    (each worker's anonymous or mapped memory grew past a threshold)."""
    seen, deadline = set(), time.time() + 600
    base = {p: _rss(p) for p in workers(proc)}
    while len(seen) < n and time.time() < deadline:
        metrics_s(proc, rid)
        seen = {p for p in workers(proc) if _rss(p) - base.get(p, 0) > 20 << 20}
    return len(seen)


def breakdown(pid):
    """{pid: "name anon+file MB"} for gunicorn's processes: which one holds what."""
    out = {}
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                st = dict(ln.split(":", 1) for ln in f if ":" in ln)
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")[:60]
        except OSError:
            continue
        mb = {k: int(st[k].split()[0]) // 1024 for k in ("RssAnon", "RssFile", "RssShmem") if k in st}
        out[p] = f"{cmd.strip()}: anon {mb.get('RssAnon')} + file {mb.get('RssFile')} + shmem {mb.get('RssShmem')} MB"
    return out


def _rss(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(ln.split()[1]) * 1024 for ln in f if ln.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0


def in_process(big, rid):
    """In this process, same load: ``RunStore.parsed`` of the big run parsing (empty cache), then
    mapping (a new store, the entry warm), each followed by its first ``metrics`` answer."""
    sys.path.insert(0, REPO)
    from viewer.data.cachedir import CacheDir
    from viewer.data.store import RunStore

    out, cache = {}, tempfile.mkdtemp(prefix="tailboard-bench-cache-")
    try:
        for kind in ("parse", "map"):
            store = RunStore(big, cache=CacheDir(cache, big))
            store.scan()
            t0 = time.perf_counter()
            store.parsed(rid)
            out[f"inproc_{kind}_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            store.metrics(rid)
            out[f"inproc_metrics_after_{kind}_s"] = time.perf_counter() - t0
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--big", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--pages", type=int, default=100)
    ap.add_argument("--restarts", type=int, default=3, help="restarts over the warm cache (the median is reported)")
    ap.add_argument("--parts", default="restart,workers,pages", help="a comma list of restart, workers, pages")
    args = ap.parse_args(argv)
    print("# machine:", json.dumps(machine()), flush=True)
    print(f"# load average: {os.getloadavg()}", flush=True)
    big, many = tree("big", 1, args.big), tree("many", args.runs, args.rows)
    rid = sorted(d for d in os.listdir(big) if not d.startswith("."))[0]
    out = {}
    cache = tempfile.mkdtemp(prefix="tailboard-bench-cache-")
    try:
        p = serve(big, cache)
        try:
            out["cold_metrics_s"] = metrics_s(p, rid)
            out["cold_healthz"] = json.loads(get(p, "/healthz"))["cache"]["columns"]
        finally:
            stop(p)
        warm, again = [], []
        for _ in range(args.restarts):
            p = serve(big, cache)
            try:
                warm.append(metrics_s(p, rid))
                again.append(metrics_s(p, rid))
                out["warm_healthz"] = json.loads(get(p, "/healthz"))["cache"]["columns"]
            finally:
                stop(p)
        out["warm_metrics_s"] = statistics.median(warm)
        out["warm_metrics_each_s"] = [round(v, 3) for v in warm]
        out["again_s"] = statistics.median(again)
        parts = set(args.parts.split(","))
        for w in (1, 4) if "workers" in parts else ():
            for kind, where in (("mapped", cache), ("off", "off")):
                p = serve(big, where, workers=w)
                try:
                    out[f"answered_{w}w_{kind}"] = answered_by_all(p, rid, w)
                    time.sleep(1)
                    out[f"rss_{w}w_{kind}_mb"] = tree_rss(p.pid) / 2**20
                    out[f"pss_{w}w_{kind}_mb"] = pss(p.pid) / 2**20
                finally:
                    stop(p)
                print(f"# {w} worker(s), cache {kind}: rss {out[f'rss_{w}w_{kind}_mb']:.0f} MB, "
                      f"pss {out[f'pss_{w}w_{kind}_mb']:.0f} MB", flush=True)
        out.update(in_process(big, rid))
        ids = sorted(d for d in os.listdir(many) if not d.startswith("."))[: args.pages] if "pages" in parts else []
        pages_cache = tempfile.mkdtemp(prefix="tailboard-bench-cache-")
        for kind in ("cold", "warm") if ids else ():
            p = serve(many, pages_cache, memory_mb=512)
            try:
                t0 = time.perf_counter()
                for r in ids:
                    get(p, f"/runs/{quote(r)}")
                    get(p, f"/api/runs/{quote(r)}/metrics")
                out[f"pages_{kind}_s"] = time.perf_counter() - t0
                out[f"pages_{kind}_rss_mb"] = tree_rss(p.pid) / 2**20
                time.sleep(11)  # every 5 s: the heap trim, and the pages of runs not asked for in 5 s released
                out[f"pages_{kind}_rss_settled_mb"] = tree_rss(p.pid) / 2**20
                out[f"pages_{kind}_pss_settled_mb"] = pss(p.pid) / 2**20
                out[f"pages_{kind}_memory"] = json.loads(get(p, "/healthz"))["memory"]
                for who, what in breakdown(p.pid).items():
                    print(f"#   {kind} {who} {what}", flush=True)
            finally:
                stop(p)
            print(f"# pages {kind}: {out[f'pages_{kind}_rss_mb']:.0f} MB, settled "
                  f"{out[f'pages_{kind}_rss_settled_mb']:.0f} MB", flush=True)
        shutil.rmtree(pages_cache, ignore_errors=True)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    for k, v in out.items():
        print(f"| {k} | {round(v, 3) if isinstance(v, float) else v} |")
    print(json.dumps({"big": args.big, "runs": args.runs, "rows": args.rows, "pages": args.pages, "results": out}))


if __name__ == "__main__":
    main()
