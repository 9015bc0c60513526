"""Load and soak benchmark: runs written live, hundreds of event streams, every view checked.

    python bench/bench_soak.py                         # issue 6: 50 runs x 100 rows/s, 200 clients, 10 min
    python bench/bench_soak.py --minutes 0.5 --clients 40 --runs 10    # a smoke run

The server is the real ``gunicorn -c gunicorn.conf.py`` (one gevent worker, inotify) over a
temp tree of Lightning runs. Writer processes append rows on a schedule; client processes hold
``/events`` streams (run pages and compare pages) and build each run's series as a chart does.
At the end every client's view of every series is compared with the files, parsed apart with
the ``csv`` module. Prints a table, then one JSON line; exits 1 when a view differs from its
file (or a client failed). See bench/README.md, "Soak".
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import soak_agents  # noqa: E402
from bench_live import Server, children, cmdline, cpu_seconds, ms, raise_fd_limit  # noqa: E402
from bench_read_path import mb, parse_args, proc_mem, render_rows, run_bench, set_repo  # noqa: E402

BYTES_PER_POINT = 32  # viewer/data/formats/base.py Series: four float64 arrays (step, epoch, time, y)


# -- helpers -------------------------------------------------------------------------------


class Procs:
    """Agent processes, stopped with the servers whatever happens (run_bench calls stop())."""

    def __init__(self):
        self.ctx = multiprocessing.get_context("spawn")  # a clean interpreter: no inherited sockets
        self.items = []

    def start(self, target, *args):
        parent, child = self.ctx.Pipe()
        p = self.ctx.Process(target=target, args=(*args, child), daemon=True)
        p.start()
        child.close()
        self.items.append((p, parent))
        return p, parent

    def stop(self):
        for p, _conn in self.items:
            if p.is_alive():
                p.terminate()
            p.join(5)


def hist_pct(hist, p, bucket):
    """The p-th percentile (nearest rank) of a {bucket index: count} histogram, in seconds."""
    total = sum(hist.values())
    if not total:
        return None
    rank, seen = max(1, -(-p * total // 100)), 0
    for b in sorted(hist):
        seen += hist[b]
        if seen >= rank:
            return (b + 0.5) * bucket
    return None


def slope_per_min(samples):
    """Least-squares slope of [(seconds, value)] in value units per minute (None: < 3 samples)."""
    if len(samples) < 3:
        return None
    n = len(samples)
    mx = sum(t for t, _ in samples) / n
    my = sum(v for _, v in samples) / n
    var = sum((t - mx) ** 2 for t, _ in samples)
    return None if not var else 60 * sum((t - mx) * (v - my) for t, v in samples) / var


def watch_pid(worker):
    """The worker's inotify process (``python -m viewer.watchproc``), if any."""
    return next((p for p in children(worker) if "watchproc" in cmdline(p)), None)


def rss(pid):
    """VmRSS of a process, None when it is gone (the watch process ends when polling takes over)."""
    try:
        return proc_mem(pid)["VmRSS"] if pid else None
    except (OSError, KeyError):
        return None


def cpu_or_none(pid):
    try:
        return cpu_seconds(pid) if pid else None
    except OSError:
        return None


def assign(args, runs):
    """[(client id, [run ids])]: run-page clients spread evenly over the runs, then compare
    pages each following ``--compare-size`` consecutive runs (so each run is on as many)."""
    n_cmp = round(args.clients * args.compare_share)
    size = min(args.compare_size, len(runs))
    specs = [(c, [runs[c % len(runs)]]) for c in range(args.clients - n_cmp)]
    for j in range(n_cmp):
        specs.append((len(specs), [runs[(j * size + m) % len(runs)] for m in range(size)]))
    return specs


# -- the soak ------------------------------------------------------------------------------


def soak(tmp, args, fig, servers):
    """The whole soak: tree, server, clients, writers, memory samples, then every view checked."""
    fig["params"] = {k: getattr(args, k) for k in ("minutes", "runs", "rate", "clients", "compare_share",
                                                   "compare_size", "batch", "log_every", "initial_rows",
                                                   "client_procs", "writer_procs", "warmup", "drain", "env")}
    fig["fd_limit"] = raise_fd_limit(args.clients * 2 + 1024)  # before Popen: the worker inherits it
    runs = soak_agents.make_tree(os.path.join(tmp, "runs"), args.runs, args.initial_rows, args.seed)
    env = dict(kv.split("=", 1) for kv in args.env)  # e.g. VIEWER_POLL=1: the soak on a polling watcher
    srv = Server("gunicorn", os.path.join(tmp, "runs"), os.path.join(tmp, "server.log"), **env)
    servers.append(srv)
    h = srv.wait_ready()
    fig["watcher"], fig["scan_runs"] = f"{h['watcher']} {h.get('watcher_reason') or ''}".strip(), h["runs"]
    worker = srv.worker_pid()
    procs = Procs()
    servers.append(procs)
    specs = assign(args, [rid for rid, _m, _o in runs])
    client_pipes = start_clients(procs, srv, specs, args, fig)  # first: every view fetched before row one
    fig["streams_open"] = srv.healthz()["streams"]
    writer_pipes = [procs.start(soak_agents.writer_main, runs[k::args.writer_procs], args.rate, args.batch,
                                args.log_every, args.seed, args.initial_rows)
                    for k in range(min(args.writer_procs, len(runs)))]
    duration = fig["duration_s"] = args.minutes * 60
    t0 = time.time() + 1.0  # the writers' imports are done by then
    for _p, conn in writer_pipes:
        conn.send((t0, t0 + duration))
    measure_server(srv, worker, t0, duration, args, fig)
    written = collect_writers(writer_pipes, fig)
    expected = expected_views(runs, written, args, fig)
    collect_clients(client_pipes, specs, expected, t0 + duration, args, fig)
    mem = proc_mem(worker)
    fig["worker_rss_end_bytes"], fig["worker_hwm_bytes"] = mem["VmRSS"], mem["VmHWM"]
    fig["streams_end"] = srv.healthz()["streams"]
    srv.stop()


def start_clients(procs, srv, specs, args, fig):
    """The client processes, each with its share of ``specs``; returns once all are ready."""
    fig["mix"] = Counter(len(r) for _c, r in specs)
    pipes = [procs.start(soak_agents.clients_main, "127.0.0.1", srv.port, specs[k::args.client_procs])
             for k in range(min(args.client_procs, len(specs)))]
    errors = []
    for _p, conn in pipes:
        if not conn.poll(600):
            raise RuntimeError("a client process did not get ready in 600 s")
        errors += conn.recv()[1]
    fig["client_start_errors"] = errors
    return pipes


def measure_server(srv, worker, t0, duration, args, fig):
    """Memory samples and watcher modes until the writers stop; the server's CPU over that time."""
    cpu0 = cpu_seconds(worker)
    fig["rss"], fig["watcher_modes"] = sample(srv, worker, watch_pid(worker), t0, t0 + duration, args.sample)
    if rss(worker) is None:  # killed (gunicorn's timeout, OOM): the soak failed, say so plainly
        srv.check()
        raise RuntimeError(f"the gunicorn worker {worker} died during the soak (last RSS sample "
                           f"{max((t for t, w, _x, _c in fig['rss'] if w is not None), default=0)} s "
                           f"after the first write); see {srv.log_path} (--keep keeps it)")
    alive = [(t, c) for t, _w, _x, c in fig["rss"] if c is not None]  # the watch process, while it lived
    fig["watch_alive_s"] = alive[-1][0] if alive else None
    fig["cpu_pct"] = {"worker": 100 * (cpu_seconds(worker) - cpu0) / duration,
                      "watch": 100 * (alive[-1][1] - alive[0][1]) / (alive[-1][0] - alive[0][0])
                      if len(alive) > 1 and alive[-1][0] > alive[0][0] else None}
    h = srv.healthz()  # did the watcher keep up (inotify), or fall back to polling?
    fig["watcher_end"] = f"{h['watcher']} {h.get('watcher_reason') or ''}".strip()


def collect_writers(pipes, fig):
    """Rows each writer wrote per run, and how late its batches were against the schedule."""
    written, late = {}, Counter()
    fig["writers_cpu_s"] = 0.0
    for _p, conn in pipes:
        if not conn.poll(120):
            raise RuntimeError("a writer did not finish 120 s after its end")
        w = conn.recv()
        written.update(w["rows"])
        late.update({int(k): v for k, v in w["late_ms"].items()})
        fig["writers_cpu_s"] += w["cpu_s"]
    fig["rows_written"] = sum(written.values())
    fig["writer_late_ms"] = {"p50": hist_pct(late, 50, 1), "p99": hist_pct(late, 99, 1),
                             "max": max(late) if late else None,
                             "over_10ms": sum(v for k, v in late.items() if k >= 10)}
    return written


def expected_views(runs, written, args, fig):
    """{run: {metric: digest key}} from the files, parsed apart from the viewer (csv module)."""
    t = time.perf_counter()
    expected = {rid: {name: d.key() for name, d in soak_agents.file_digests(path).items()}
                for rid, path, _o in runs}
    fig["file_parse_s"] = time.perf_counter() - t
    fig["file_points"] = sum(key[0] for names in expected.values() for key in names.values())
    fig["rows_expected"] = sum(args.initial_rows + written.get(rid, 0) for rid, _m, _o in runs)
    fig["rows_in_files"] = sum(names.get(soak_agents.LATENCY_SERIES, (0,))[0] for names in expected.values())
    return expected


def collect_clients(pipes, specs, expected, t_end, args, fig):
    """Send the expected views, wait for every client's comparison; latency and counters merged."""
    deadline = time.time() + args.drain
    for _p, conn in pipes:
        conn.send((expected, deadline))
    results, hist, stats, fig["clients_cpu_s"] = [], Counter(), Counter(), 0.0
    for _p, conn in pipes:
        if not conn.poll(args.drain + 300):
            raise RuntimeError("a client process did not report")
        r = conn.recv()[1]
        results += r["results"]
        hist.update({int(k): v for k, v in r["hist"].items()})
        stats.update(r["stats"])
        fig["clients_cpu_s"] += r["cpu_s"]
    fig["drain_s"] = time.time() - t_end
    fig["stats"] = dict(stats)
    b = soak_agents.BUCKET
    fig["latency_s"] = {"n": sum(hist.values()), "p50": hist_pct(hist, 50, b), "p95": hist_pct(hist, 95, b),
                        "p99": hist_pct(hist, 99, b), "p999": hist_pct(hist, 99.9, b),
                        "max": max((r["max_latency"] for r in results), default=None)}
    fig["clients"] = len(results)
    fig["clients_equal"] = sum(1 for r in results if r["ok"])
    fig["series_checked"] = sum(len(expected[rid]) for _c, rs in specs for rid in rs)
    fig["differences"] = [r for r in results if not r["ok"]][:10]
    fig["step_jumps"] = sum(r["jumps"] or 0 for r in results)


def sample(srv, worker, watcher, t0, t_end, every):
    """[(seconds since t0, worker VmRSS, watch process VmRSS, its CPU s)] every ``every`` s until ``t_end``,
    and [(seconds, watcher mode)] each time ``/healthz`` reported another mode."""
    out, modes = [], []
    now = time.time()
    if now < t0:
        time.sleep(t0 - now)
    k = 0
    while True:
        at = t0 + k * every
        if at > t_end:
            break
        now = time.time()
        if now < at:
            time.sleep(at - now)
        out.append((round(time.time() - t0, 2), rss(worker), rss(watcher), cpu_or_none(watcher)))
        try:
            h = srv.http.get(srv.base + "/healthz", timeout=every).json()
            mode = f"{h['watcher']} {h.get('watcher_reason') or ''}".strip()
        except (OSError, ValueError, KeyError) as e:  # requests' errors are OSErrors
            mode = f"/healthz failed: {type(e).__name__}"
        if not modes or modes[-1][1] != mode:
            modes.append((out[-1][0], mode))
        k += 1
    return out, modes


# -- report --------------------------------------------------------------------------------


def memory_rows(fig, args):
    """Worker and watch-process RSS after warm-up: slope and spread, against the parsed data's growth."""
    warm = min(args.warmup, fig["duration_s"] / 3)
    after = [s for s in fig["rss"] if s[0] >= warm]
    w = [(t, r / 1e6) for t, r, _x, _c in after if r is not None]
    x = [(t, r / 1e6) for t, _r, r, _c in after if r is not None]
    slope = slope_per_min(w)
    # the store keeps every point it parsed: that growth is the data, not a leak
    rows_per_min = fig["rows_written"] / fig["duration_s"] * 60
    data_slope = rows_per_min * len(soak_agents.METRICS) * BYTES_PER_POINT / 1e6
    fig["memory"] = {"warmup_s": warm, "worker_slope_mb_min": slope, "data_slope_mb_min": data_slope,
                     "worker_excess_mb_min": None if slope is None else slope - data_slope,
                     "worker_spread_mb": max(v for _, v in w) - min(v for _, v in w) if w else None,
                     "worker_first_mb": w[0][1] if w else None, "worker_last_mb": w[-1][1] if w else None,
                     "watch_slope_mb_min": slope_per_min(x),
                     "watch_spread_mb": max(v for _, v in x) - min(v for _, v in x) if x else None}
    m = fig["memory"]

    def f(v, unit):
        return "-" if v is None else f"{v:+,.2f} {unit}" if unit == "MB/min" else f"{v:,.1f} {unit}"

    return [
        (f"memory after warm-up ({warm:.0f} s), {len(w)} samples every {args.sample:g} s", None, None),
        ("worker RSS first / last", f"{f(m['worker_first_mb'], 'MB')} / {f(m['worker_last_mb'], 'MB')}",
         f"max - min {f(m['worker_spread_mb'], 'MB')}; peak (VmHWM) {mb(fig['worker_hwm_bytes'])}"),
        ("worker RSS slope", f(m["worker_slope_mb_min"], "MB/min"),
         f"the parsed points alone grow {f(m['data_slope_mb_min'], 'MB/min')} "
         f"({rows_per_min:,.0f} rows/min x {len(soak_agents.METRICS)} series x {BYTES_PER_POINT} B)"),
        ("worker RSS slope beyond the data", f(m["worker_excess_mb_min"], "MB/min"), "~0 when flat"),
        ("watch process RSS slope", f(m["watch_slope_mb_min"], "MB/min"),
         f"max - min {f(m['watch_spread_mb'], 'MB')}"),
    ]


def table(fig, args):
    st, lat, d = fig["stats"], fig["latency_s"], fig["duration_s"]
    mix = ", ".join(f"{n} following {k} run{'s' if k > 1 else ''}" for k, n in sorted(fig["mix"].items()))
    late = fig["writer_late_ms"]
    rows = [
        (f"(soak) {args.runs} runs x {args.rate:g} rows/s for {d / 60:g} min, {fig['clients']} clients, "
         "gunicorn -k gevent (one worker)", None, None),
        ("clients", mix, f"{fig['streams_open']} streams open (/healthz) at the start, "
                         f"{fig['streams_end']} at the end"),
        ("watcher at the start / at the end", fig["watcher"],
         fig["watcher_end"] + "; seen (s since the first write): "
         + ", ".join(f"{t:g}: {m}" for t, m in fig["watcher_modes"][:4])),
        ("rows written / in the files", f"{fig['rows_written']:,} / {fig['rows_in_files']:,}",
         f"expected {fig['rows_expected']:,} with the {args.initial_rows} initial rows a run; "
         f"batch {args.batch}, a train.out line every {args.log_every} rows"),
        ("writer lateness p50 / p99 / max", f"{late['p50']} / {late['p99']} / {late['max']} ms",
         f"{late['over_10ms']} batches 10 ms or more behind the schedule"),
        ("write -> event p50 / p95 / p99", " / ".join(ms(lat[k]) for k in ("p50", "p95", "p99")),
         f"p99.9 {ms(lat['p999'])}, max {ms(lat['max'])}; n={lat['n']:,} (client, row) pairs"),
        ("events received / s (all clients)", f"{st.get('events', 0) / d:,.0f}",
         f"metrics {st.get('metrics_events', 0) / d:,.0f}/s, {st.get('bytes', 0) / d / 1e6:,.2f} MB/s; "
         f"{st.get('points', 0) / max(1, st.get('metrics_events_with_points', 0)):,.1f} new points an event (3 series a row), "
         f"{st.get('bytes', 0) / max(1, st.get('events', 0)) / 1e3:,.1f} kB an event"),
        ("resyncs / resets / gaps / reconnects",
         " / ".join(str(st.get(k, 0)) for k in ("resyncs", "resets", "gaps", "reconnects")),
         f"re-fetches: {st.get('fetch_resync', 0)} resync, {st.get('fetch_reset', 0)} reset, "
         f"{st.get('fetch_gap', 0)} gap; {st.get('points_skipped', 0):,} points skipped as already held; "
         f"{st.get('foreign_events', 0)} foreign events, {st.get('downsampled', 0)} downsampled fetches"),
        ("views equal to the files", f"{fig['clients_equal']} / {fig['clients']} clients",
         f"{fig['series_checked']:,} (client, series) views of {fig['file_points']:,} points in the files; "
         f"{fig['step_jumps']} chunks that did not continue the steps; drained in {fig['drain_s']:.1f} s"),
        ("server CPU: worker / watch process", f"{fig['cpu_pct']['worker']:.0f}% / "
         + ("-" if fig["cpu_pct"]["watch"] is None else f"{fig['cpu_pct']['watch']:.0f}%"),
         f"of one core (the watch process: while it ran, {fig['watch_alive_s']} s); writers {100 * fig['writers_cpu_s'] / d:.0f}%, clients {100 * fig['clients_cpu_s'] / d:.0f}% "
         f"(2 cores in all on the CI machine)"),
    ]
    rows += memory_rows(fig, args)
    for r in fig["differences"]:
        rows.append((f"  client {r['id']} ({r['runs']} runs) DIFFERS", str(r["n_diffs"]),
                     "; ".join(f"{a} {b}: {c}" for a, b, c in r["diffs"])))
    for e in fig["client_start_errors"][:5]:
        rows.append(("  client error", "-", e))
    return render_rows(rows, value_width=30)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="writing time (default 10)")
    ap.add_argument("--runs", type=int, default=50, help="runs written at once (default 50)")
    ap.add_argument("--rate", type=float, default=100.0, help="rows/s per run (default 100)")
    ap.add_argument("--clients", type=int, default=200, help="event streams (default 200)")
    ap.add_argument("--compare-share", type=float, default=0.25,
                    help="share of clients on a compare page (default 0.25; the rest on a run page)")
    ap.add_argument("--compare-size", type=int, default=10, help="runs on each compare page (default 10)")
    ap.add_argument("--batch", type=int, default=1, help="rows per write (default 1: each row flushed alone)")
    ap.add_argument("--log-every", type=int, default=10, help="a train.out line every N rows (0: none)")
    ap.add_argument("--initial-rows", type=int, default=100, help="rows of each run before the server starts")
    ap.add_argument("--client-procs", type=int, default=4, help="processes holding the clients (default 4)")
    ap.add_argument("--writer-procs", type=int, default=1, help="writer processes (default 1)")
    ap.add_argument("--warmup", type=float, default=60.0,
                    help="seconds left out of the memory slope (default 60; at most a third of the run)")
    ap.add_argument("--sample", type=float, default=2.0, help="seconds between RSS samples (default 2)")
    ap.add_argument("--drain", type=float, default=60.0,
                    help="after the last write, seconds a client may take to catch up (default 60)")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="a setting for the server (repeatable), e.g. --env VIEWER_POLL=1")
    ap.add_argument("--seed", type=int, default=0)
    args = parse_args(ap, argv, set_repo)
    fig = run_bench("Tailboard soak", "tailboard-bench-soak-", args,
                    lambda tmp, fig, servers: soak(tmp, args, fig, servers), lambda fig: table(fig, args))
    bad = fig["clients_equal"] != fig["clients"] or fig["client_start_errors"]
    if bad:
        print(f"FAILED: {fig['clients'] - fig['clients_equal']} of {fig['clients']} clients' views differ "
              "from the files", file=sys.stderr)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
