"""Read-path benchmark: scan of 1,000 runs, a 1,000,000-row metrics file, and log tails.

    python bench/bench_read_path.py            # about 2-3 minutes on 2 cores
    python bench/bench_read_path.py --keep     # keep the generated trees (path printed)

Prints figures only (no pass/fail): a table, then one line of JSON with every figure and
the machine. The server is the real app (``python -m flask --app app run``) in a subprocess;
see bench/README.md for what each figure means.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)  # the checkout under test; --repo points elsewhere (A/B runs)
sys.path.insert(0, HERE)

import make_runs  # noqa: E402

BIG_ID = "big/lightning_logs/version_0"
LOGS_ID = "logs/job_5g"
POLL = 0.02


# -- machine and helpers -------------------------------------------------------------------


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = next(int(ln.split()[1]) * 1024 for ln in f if ln.startswith("MemTotal:"))
    except (OSError, StopIteration):
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu or platform.processor(), "ram_bytes": mem,
            "python": platform.python_version(), "platform": platform.platform(), "kernel": platform.release(),
            "loadavg": loadavg()}


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return [float(v) for v in f.read().split()[:3]]
    except OSError:
        return None


def code_version(repo):
    """The commit under test and how many of its files are modified (others may be editing)."""
    def git(*a):
        try:
            return subprocess.run(["git", *a], cwd=repo, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    dirty = [ln for ln in git("status", "--porcelain", "--", "app.py", "viewer", "templates").splitlines() if ln]
    return {"repo": repo, "commit": git("rev-parse", "--short", "HEAD"), "modified_files": len(dirty)}


def proc_mem(pid):
    """VmRSS and VmHWM (peak RSS) of a process, in bytes."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for ln in f:
            if ln.startswith(("VmRSS:", "VmHWM:")):
                key, value = ln.split(":", 1)
                out[key] = int(value.split()[0]) * 1024
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(fn):
    t = time.perf_counter()
    result = fn()
    return time.perf_counter() - t, result


def median_of(n, fn):
    """Median seconds of n calls, and the last result."""
    times, result = [], None
    for _ in range(n):
        dt, result = timed(fn)
        times.append(dt)
    return statistics.median(times), result


def stop_process(proc, grace=10):
    """SIGTERM, then SIGKILL after ``grace`` seconds; reaped either way."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Server:
    """The real app in a subprocess: ``flask run`` or ``gunicorn`` (gevent worker); stop() is
    safe to call twice. Background rescans are off while we measure (VIEWER_RESCAN: the live
    path's safety net); inotify unless ``VIEWER_POLL`` is given."""

    def __init__(self, kind, root, log_path, **env):
        self.kind = kind
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        environ = {**os.environ, "VIEWER_ROOT": root, "VIEWER_RESCAN": "3600", "WEB_CONCURRENCY": "1"}
        for k in ("FLASK_DEBUG", "VIEWER_POLL", "VIEWER_HEARTBEAT", "VIEWER_TOKEN", "TAILBOARD_BIND"):
            environ.pop(k, None)  # no reloader: the Popen pid must be the server itself
        environ.update(env)
        if kind == "gunicorn":
            exe = os.path.join(os.path.dirname(sys.executable), "gunicorn")
            exe = exe if os.path.exists(exe) else shutil.which("gunicorn") or "gunicorn"
            cmd = [exe, "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{self.port}", "app:create_app()"]
        else:
            cmd = [sys.executable, "-m", "flask", "--app", "app", "run", "--port", str(self.port)]
        self.log = open(log_path, "wb")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=environ, stdout=self.log, stderr=subprocess.STDOUT)
        self.http = requests.Session()

    def url(self, path):
        return self.base + path

    def get(self, path, timeout=600, **kw):
        r = self.http.get(self.url(path), timeout=timeout, **kw)
        r.raise_for_status()
        return r

    def check(self):
        if self.proc.poll() is not None:
            with open(self.log_path, "rb") as f:
                tail = f.read()[-3000:].decode(errors="replace")
            raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}:\n{tail}")

    def wait_scan(self, path="/api/runs", timeout=600):
        """Poll ``path`` every 20 ms until the scan is done; seconds since Popen of each milestone."""
        marks, polls = {}, 0
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            self.check()
            try:
                r = self.http.get(self.url(path), timeout=60)
            except requests.ConnectionError:
                time.sleep(POLL)
                continue
            now = time.perf_counter() - self.started
            polls += 1
            marks.setdefault("first_answer", now)
            phase = r.json()["scan"]["phase"]
            marks.setdefault(phase, now)
            if phase == "done":
                marks["polls"] = polls
                return marks
            time.sleep(POLL)
        raise RuntimeError(f"scan not done after {timeout}s")

    def mem(self):
        return proc_mem(self.proc.pid)

    def stop(self):
        stop_process(self.proc)
        self.log.close()


# -- the three parts -----------------------------------------------------------------------


def bench_scan(tmp, args, fig, servers):
    """(a) first scan of the run tree, in process and through the HTTP server; loaded answers."""
    from viewer.data.store import RunStore

    tree = os.path.join(tmp, "runs")
    dt, counts = timed(lambda: make_runs.make_tree(tree, args.runs, seed=0))
    fig["tree_generate_s"] = dt
    fig["tree_runs_by_format"] = counts

    # each repeat is a first scan of a fresh store (the files are in the page cache for all)
    last = []

    def first_scan():
        last[:] = [RunStore(tree)]  # keep only the newest store alive
        return last[0].scan()

    fig["scan_inprocess_s"], _ = median_of(args.scan_repeat, first_scan)
    store = last[0]
    fig["scan_inprocess_runs"] = len(store.runs())
    fig["rescan_inprocess_s"], _ = median_of(args.scan_repeat, store.scan)  # cost of every full rescan
    del store
    last.clear()  # free the stores before the server part

    # the same first scan through the server, polling only the cheap /healthz (no contention)
    srv = Server("flask", tree, os.path.join(tmp, "server-healthz.log"), VIEWER_POLL="3600")
    servers.append(srv)
    marks = srv.wait_scan("/healthz")
    fig["server_scan_healthz_poll_s"] = marks["done"]
    srv.stop()

    # the figure asked for: poll /api/runs every 20 ms until scan.phase == "done"
    srv = Server("flask", tree, os.path.join(tmp, "server-a.log"), VIEWER_POLL="3600")
    servers.append(srv)
    marks = srv.wait_scan("/api/runs")
    fig["server_first_answer_s"] = marks["first_answer"]
    fig["server_scan_done_s"] = marks["done"]
    fig["server_scan_polls"] = marks["polls"]
    fig["server_scan_phases_s"] = {k: v for k, v in marks.items() if k not in ("polls", "first_answer")}

    fig["api_runs_s"], r = median_of(args.repeat, lambda: srv.get("/api/runs"))
    body = r.json()
    fig["api_runs_count"], fig["api_runs_bytes"] = len(body["runs"]), len(r.content)
    fig["overview_page_s"], r = median_of(args.repeat, lambda: srv.get("/"))
    fig["overview_page_bytes"] = len(r.content)
    fig["server_a_rss_bytes"] = srv.mem()["VmRSS"]
    srv.stop()


def make_big_tree(tmp, args):
    """Tree B: the big Lightning run (header only until the server has scanned) and a log-only run."""
    root = os.path.join(tmp, "big-tree")
    target = os.path.join(root, BIG_ID, "metrics.csv")
    make_runs.write_big_csv(target, args.big_rows, header_only=True)
    make_runs.write(os.path.join(root, BIG_ID, "hparams.yaml"), "model:\n  name: big\n")
    full = os.path.join(tmp, "big-metrics.csv")  # outside the tree, same filesystem (os.replace)
    dt, size = timed(lambda: make_runs.write_big_csv(full, args.big_rows))
    logs = os.path.join(root, LOGS_ID)
    os.makedirs(logs)
    line = b"[00042] loss=0.4321 lr=1.00e-04 throughput=512.0 samples/s\n"
    with open(os.path.join(logs, "huge.out"), "wb") as f:
        # 5 GB, sparse: a hole, then 128 KB of lines, so a 64 KB tail is all text as in a real log
        f.seek(5 << 30)
        f.write(line * ((128 << 10) // len(line)))
    with open(os.path.join(logs, "small.out"), "wb") as f:  # 5 KB
        f.write((line * (5120 // len(line) + 1))[:5120])
    return root, target, full, dt, size


def bench_big(tmp, args, fig, servers):
    """(b) the 1,000,000-row file and (c) the log tails, on one server."""
    root, target, full, dt, size = make_big_tree(tmp, args)
    fig["big_generate_s"], fig["big_bytes"], fig["big_rows"] = dt, size, args.big_rows

    srv = Server("flask", root, os.path.join(tmp, "server-b.log"), VIEWER_POLL="3600")
    servers.append(srv)
    srv.wait_scan("/api/runs")
    srv.get("/api/runs")
    fig["rss_before_big_bytes"] = srv.mem()["VmRSS"]

    # the run "wrote" its million rows while the viewer was open: same header, so an append
    os.replace(full, target)
    metrics = f"/api/runs/{BIG_ID}/metrics"
    fig["metrics_first_s"], r = timed(lambda: srv.get(metrics))
    fig["metrics_first_bytes"] = len(r.content)
    fig["metrics_points"] = {k: s["count"] for k, s in r.json()["series"].items()}
    fig["rss_after_big_bytes"] = srv.mem()["VmRSS"]
    fig["metrics_second_s"], _ = timed(lambda: srv.get(metrics))
    fig["metrics_p2000_s"], r = median_of(args.repeat, lambda: srv.get(metrics + "?points=2000"))
    fig["metrics_p2000_bytes"] = len(r.content)
    fig["metrics_p100000_s"], r = median_of(max(1, args.repeat // 2), lambda: srv.get(metrics + "?points=100000"))
    fig["metrics_p100000_bytes"] = len(r.content)

    def download():
        n = 0
        with srv.http.get(srv.url(f"/api/runs/{BIG_ID}/metrics.csv"), stream=True, timeout=600) as resp:
            resp.raise_for_status()
            for chunk in resp.iter_content(1 << 20):
                n += len(chunk)
        return n

    fig["metrics_csv_first_s"], fig["metrics_csv_bytes"] = timed(download)
    mem = srv.mem()
    fig["rss_after_csv_bytes"], fig["rss_peak_bytes"] = mem["VmRSS"], mem["VmHWM"]

    # (c) log tails: same request against a 5 GB and a 5 KB log
    streams = {st["name"]: st for st in srv.get(f"/api/runs/{LOGS_ID}/logs").json()["streams"]}
    for key, name in (("huge", "huge.out"), ("small", "small.out")):
        path = f"/api/runs/{LOGS_ID}/logs/{streams[name]['id']}?bytes=65536"
        fig[f"log_tail_{key}_s"], r = median_of(args.log_repeat, lambda: srv.get(path))
        fig[f"log_tail_{key}_bytes"] = len(r.content)
        fig[f"log_{key}_size"] = int(r.headers["X-Log-Size"])
    srv.stop()
    return target


def bench_breakdown(target, fig):
    """Where the first /metrics answer goes, in process: parse, downsample, JSON encoding."""
    import viewer.data.formats.csvmetrics as csvmetrics
    from viewer.data.downsample import downsample, select

    src = csvmetrics.CsvSource(target)
    fig["inproc_parse_s"], _ = timed(src.refresh)
    series = src.table.series

    def ds(points):
        out = {}
        for name, s in series.items():
            idx = select(s.step, s.y)
            out[name] = downsample(s.step, s.y, idx, points)
        return out

    fig["inproc_downsample_2000_s"], small = timed(lambda: ds(2000))
    fig["inproc_downsample_100000_s"], large = timed(lambda: ds(100_000))
    fig["inproc_json_100000_s"], _ = timed(lambda: json.dumps(large))


# -- report --------------------------------------------------------------------------------


def ms(v):
    return f"{v * 1000:,.1f} ms" if v < 10 else f"{v:,.2f} s"


def mb(v):
    return f"{v / 1e6:,.1f} MB"


def table(fig):
    rows = [
        ("(a) scan", None, None),
        ("tree generated", ms(fig["tree_generate_s"]), f"{fig['tree_runs_by_format']}; the scan found {fig['scan_inprocess_runs']} runs"),
        ("RunStore.scan() first scan, in process", ms(fig["scan_inprocess_s"]), ""),
        ("RunStore.scan() rescan, nothing changed", ms(fig["rescan_inprocess_s"]), "cost of each full rescan (safety net / poll)"),
        ("server: Popen -> first HTTP answer", ms(fig["server_first_answer_s"]), "import + app + server start"),
        ("server: Popen -> scan done (poll /api/runs)", ms(fig["server_scan_done_s"]),
         f"{fig['server_scan_polls']} polls; phases first seen at "
         + ", ".join(f"{k} {v:.2f}s" for k, v in fig["server_scan_phases_s"].items())),
        ("server: Popen -> scan done (poll /healthz)", ms(fig["server_scan_healthz_poll_s"]), "same, light polling"),
        ("GET /api/runs, loaded", ms(fig["api_runs_s"]), f"{fig['api_runs_count']} runs, {mb(fig['api_runs_bytes'])}"),
        ("GET / overview page, loaded", ms(fig["overview_page_s"]), mb(fig["overview_page_bytes"])),
        (f"server RSS, {fig['api_runs_count']} runs loaded", mb(fig["server_a_rss_bytes"]), ""),
        ("(b) big metrics file", None, None),
        ("file generated", ms(fig["big_generate_s"]), f"{fig['big_rows']:,} rows, {mb(fig['big_bytes'])}"),
        ("GET metrics, first (parses the file)", ms(fig["metrics_first_s"]),
         f"{mb(fig['metrics_first_bytes'])}; points " + ", ".join(f"{k}={v:,}" for k, v in fig["metrics_points"].items())),
        ("GET metrics, second (nothing appended)", ms(fig["metrics_second_s"]), ""),
        ("GET metrics?points=2000", ms(fig["metrics_p2000_s"]), mb(fig["metrics_p2000_bytes"])),
        ("GET metrics?points=100000", ms(fig["metrics_p100000_s"]), mb(fig["metrics_p100000_bytes"])),
        ("GET metrics.csv, full download", ms(fig["metrics_csv_first_s"]), mb(fig["metrics_csv_bytes"])),
        ("server RSS before / after loading", f"{mb(fig['rss_before_big_bytes'])} / {mb(fig['rss_after_big_bytes'])}",
         f"after csv {mb(fig['rss_after_csv_bytes'])}, peak {mb(fig['rss_peak_bytes'])}"),
        ("in process: parse / downsample 2k / 100k / json 100k",
         " / ".join(ms(fig[k]) for k in ("inproc_parse_s", "inproc_downsample_2000_s",
                                          "inproc_downsample_100000_s", "inproc_json_100000_s"))
         if "inproc_parse_s" in fig else "-", fig.get("inproc_error", "")),
        ("(c) log tail, bytes=65536", None, None),
        ("5 GB sparse log", ms(fig["log_tail_huge_s"]), f"{fig['log_tail_huge_bytes']:,} B of {fig['log_huge_size']:,}"),
        ("5 KB log", ms(fig["log_tail_small_s"]), f"{fig['log_tail_small_bytes']:,} B of {fig['log_small_size']:,}"),
    ]
    return render_rows(rows, value_width=24)


def render_rows(rows, value_width):
    """Rows of (name, value, note) as aligned text; a row whose value is None is a heading."""
    w = max((len(r[0]) for r in rows if r[1] is not None), default=0)  # headings may overflow
    lines = []
    for name, value, note in rows:
        if value is None:
            lines.append(f"\n{name}")
        else:
            lines.append(f"  {name:<{w}}  {value:>{value_width}}  {note}")
    return "\n".join(lines)


def set_repo(path):
    global REPO
    REPO = path
    sys.path.insert(0, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=1000, help="runs in the scan tree (default 1000)")
    ap.add_argument("--big-rows", type=int, default=1_000_000, help="rows of the big metrics.csv")
    ap.add_argument("--repeat", type=int, default=5, help="repeats of each small measurement (median)")
    ap.add_argument("--log-repeat", type=int, default=20, help="repeats of each log tail (median)")
    ap.add_argument("--scan-repeat", type=int, default=3, help="repeats of the in-process scans (median)")
    args = parse_args(ap, argv, set_repo)

    def parts(tmp, fig, servers):
        bench_scan(tmp, args, fig, servers)
        target = bench_big(tmp, args, fig, servers)
        try:
            bench_breakdown(target, fig)
        except Exception as e:  # internal APIs may move; the HTTP figures above still stand
            fig["inproc_error"] = f"{type(e).__name__}: {e}"

    run_bench("Tailboard read path", "tailboard-bench-", args, parts, table)


def parse_args(ap, argv, set_repo):
    """Add the options every benchmark has (--keep, --repo), parse, point the benchmark's
    servers at --repo with ``set_repo``."""
    ap.add_argument("--keep", action="store_true", help="keep the generated trees and server logs")
    ap.add_argument("--repo", default=REPO, help="checkout to benchmark (default: this one)")
    args = ap.parse_args(argv)
    set_repo(os.path.abspath(args.repo))
    return args


def run_bench(title, prefix, args, parts, table, json_line=True):
    """The frame every benchmark shares: ``parts(tmp, fig, servers)`` in a fresh temp folder,
    every server in ``servers`` stopped and the folder removed (unless ``args.keep``) whatever
    happens, SIGTERM included; then the machine, the code, ``table(fig)`` and the JSON line."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still runs the finally below
    tmp = tempfile.mkdtemp(prefix=prefix)
    fig, servers = {"loadavg_start": loadavg()}, []
    t0 = time.perf_counter()
    try:
        parts(tmp, fig, servers)
    finally:
        for srv in servers:
            srv.stop()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    fig["bench_total_s"] = time.perf_counter() - t0
    m, code = machine(), code_version(os.path.abspath(args.repo))
    print(f"{title}: {m['nproc']} x {m['cpu']}, {mb(m['ram_bytes'] or 0)} RAM, kernel {m['kernel']}, "
          f"Python {m['python']}, load {m['loadavg']}")
    print(f"code: {code['repo']} @ {code['commit'] or '?'} ({code['modified_files']} modified files); "
          f"benchmark took {fig['bench_total_s']:.0f} s")
    print(table(fig))
    if json_line:
        print()
        print(json.dumps({"machine": m, "code": code, "figures": fig}, sort_keys=True))
    return fig

if __name__ == "__main__":
    main()
