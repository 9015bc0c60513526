"""Scale (issue 13): cost follows what is looked at, not what is on disk.

    python bench/bench_scale.py                  # 200 runs x 100,000 rows, and one 1,000,000-row run
    python bench/bench_scale.py --runs 20 --rows 20000 --big 200000   # a quick look
    python bench/bench_scale.py --peers tailboard        # without spt web

Generates spt run folders itself (``sidecar.json``, ``heartbeat``, a Lightning-layout
``metrics.csv`` with train rows every step and validation rows every 1,000 steps, ``train.out``),
cached in /tmp/tailboard-peers/trees/scale-*, and serves them with each peer as it is
served (Tailboard: ``gunicorn -c gunicorn.conf.py``, one gevent worker; spt web 0.1.8 via
bench/peer_spt.py, installed into /tmp/tailboard-peers). Reports, per peer:

- ``boot_s``: start -> the server answers at all (process start, imports);
- ``list_s``: start -> ``/api/runs`` lists every run with its table values (a summary);
- ``rss_list_mb``: RSS of the server's processes after that;
- ``pages_rss_mb``: RSS after opening 100 run pages one after another (the page, then its
  metrics answer, as the browser does), and 6 s later (``pages_rss_settled_mb``);
- ``first_metrics_s``: on a tree holding only the big run, cold start, listed, then the first
  metrics answer of the big run (Tailboard: ``/api/runs/<id>/metrics``, 2,000 points a series;
  spt: ``/api/metrics``).

Prints one line per figure with the ratio peer/Tailboard (above 1: Tailboard ahead) and a
JSON line. No pass/fail: the targets are in docs/incoming/scale.md.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from urllib.parse import quote

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_read_path import machine  # noqa: E402
from compare import Served, TailboardPeer, stop_all, tree_rss, wait_until  # noqa: E402
from peer_spt import PEERS, SptPeer, http_get  # noqa: E402

HEADER = "epoch,lr,step,train/loss,val/acc,val/loss\r\n"
TREES = os.path.join(PEERS, "trees")


def write_run(d, name, rows, seed):
    os.makedirs(d, exist_ok=True)
    now = time.time()
    sidecar = {"schema_version": 1, "run_id": name, "run_dir": d, "status": "completed",
               "created_at": now - 3600, "ended_at": now - 60, "updated_at": now - 60,
               "tags": [f"sweep:{seed % 7}"], "notes": "", "summary": {},
               "hparams": {"optim.lr": 1e-4 * (1 + seed % 5), "batch_size": 256, "seed": seed},
               "checkpoint_path": None}
    with open(os.path.join(d, "sidecar.json"), "w") as f:
        json.dump(sidecar, f)
    open(os.path.join(d, "heartbeat"), "w").close()
    with open(os.path.join(d, "metrics.csv"), "w", newline="") as f:
        f.write(HEADER)
        buf = []
        for step in range(rows):
            loss = 2.5 / (1 + step * 1e-3) + ((step * 2654435761 + seed) % 1000) * 1e-5
            buf.append(f"{step // 10_000},{1e-4:.6g},{step},{loss:.6g},,\r\n")
            if step % 1000 == 999:
                buf.append(f"{step // 10_000},,{step},,{0.5 + step / rows / 3:.6g},{loss * 1.1:.6g}\r\n")
            if len(buf) >= 50_000:
                f.write("".join(buf))
                buf = []
        f.write("".join(buf))
    with open(os.path.join(d, "train.out"), "w") as f:
        f.write("".join(f"step {i} loss ok\n" for i in range(200)))


def tree(kind, runs, rows):
    """The cached tree ``<kind>-<runs>x<rows>`` (written once; a marker says it is whole)."""
    root = os.path.join(TREES, f"scale-{kind}-{runs}x{rows}")
    marker = os.path.join(root, ".complete")
    if not os.path.exists(marker):
        t0 = time.perf_counter()
        for i in range(runs):
            name = f"run{i:05d}"
            write_run(os.path.join(root, name), name, rows, i)
        open(marker, "w").close()
        print(f"# wrote {root} in {time.perf_counter() - t0:.0f} s", flush=True)
    return root


def get(peer, path):
    status, body = http_get(peer.base, path, timeout=600)
    if status != 200:
        raise RuntimeError(f"{path}: {status}")
    return body


def listed(peer, n):
    """Every run listed with its table values: (ids) when so, else None."""
    if isinstance(peer, TailboardPeer):
        runs = json.loads(get(peer, "/api/runs"))["runs"]
        return [r["id"] for r in runs] if len(runs) >= n and all(r["summary"] for r in runs) else None
    runs = json.loads(get(peer, "/api/runs"))
    return [r["run_id"] for r in runs] if len(runs) >= n else None


def open_page(peer, rid):
    if isinstance(peer, TailboardPeer):
        get(peer, f"/runs/{quote(rid)}")
        get(peer, f"/api/runs/{quote(rid)}/metrics")
    else:
        get(peer, "/")
        get(peer, "/api/metrics?run_id=" + quote(rid, safe=""))


def first_metrics(peer, rid):
    t0 = time.perf_counter()
    if isinstance(peer, TailboardPeer):
        body = get(peer, f"/api/runs/{quote(rid)}/metrics")
        assert json.loads(body)["series"]["train/loss"]["count"] > 0
    else:
        get(peer, "/api/metrics?run_id=" + quote(rid, safe=""))
    return time.perf_counter() - t0


def measure(peer, root, n, big_root, pages):
    out = {}
    with Served(peer, root) as s:
        wait_until(lambda: get(peer, "/healthz" if isinstance(peer, TailboardPeer) else "/api/runs"),
                   timeout=120, every=0.02)
        out["boot_s"] = time.perf_counter() - s.t0  # the process answers at all (imports, server)
        secs, ids = wait_until(lambda: listed(peer, n), timeout=1800, every=0.05)
        out["list_s"] = time.perf_counter() - s.t0 if ids else None
        time.sleep(1.0)
        out["rss_list_mb"] = tree_rss(peer.pid()) / 2**20
        t0 = time.perf_counter()
        for rid in (ids or [])[:pages]:
            open_page(peer, rid)
        out["pages_s"] = time.perf_counter() - t0
        out["pages_rss_mb"] = tree_rss(peer.pid()) / 2**20
        time.sleep(11)  # every 5 s: the heap trim, and the pages of runs nobody asked for in 5 s released
        out["pages_rss_settled_mb"] = tree_rss(peer.pid()) / 2**20
        if isinstance(peer, TailboardPeer):
            out["healthz_memory"] = json.loads(get(peer, "/healthz")).get("memory")
    with Served(peer, big_root) as s:
        _secs, ids = wait_until(lambda: listed(peer, 1), timeout=1800, every=0.05)
        out["big_list_s"] = time.perf_counter() - s.t0
        out["first_metrics_s"] = first_metrics(peer, ids[0])
        out["second_metrics_s"] = first_metrics(peer, ids[0])
        out["big_rss_mb"] = tree_rss(peer.pid()) / 2**20
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--big", type=int, default=1_000_000, help="rows of the one big run")
    ap.add_argument("--pages", type=int, default=100)
    ap.add_argument("--peers", default="tailboard,spt")
    args = ap.parse_args(argv)
    print("# machine:", json.dumps(machine()), flush=True)
    print(f"# load average: {os.getloadavg()}", flush=True)
    root = tree("many", args.runs, args.rows)
    big = tree("big", 1, args.big)
    peers = {"tailboard": TailboardPeer, "spt": SptPeer}
    results = {}
    try:
        for key in args.peers.split(","):
            peer = peers[key]()
            peer.setup()
            results[key] = measure(peer, root, args.runs, big, args.pages)
            print(f"# {key}: {json.dumps(results[key])}", flush=True)
    finally:
        stop_all()
    tb = results.get("tailboard", {})
    for key, r in results.items():
        if key == "tailboard":
            continue
        print(f"| measure ({args.runs} x {args.rows:,} rows; big {args.big:,}) | Tailboard | {key} | {key}/Tailboard |")
        print("| --- | --- | --- | --- |")
        for m in ("boot_s", "list_s", "rss_list_mb", "pages_s", "pages_rss_mb", "pages_rss_settled_mb", "first_metrics_s", "second_metrics_s", "big_rss_mb"):
            a, b = tb.get(m), r.get(m)
            ratio = f"{b / a:.1f}" if a and b else "-"
            print(f"| {m} | {a if a is None else round(a, 3)} | {b if b is None else round(b, 3)} | {ratio} |")
    print(json.dumps({"runs": args.runs, "rows": args.rows, "big": args.big, "results": results}))


if __name__ == "__main__":
    main()
