/* Tailboard charts (uPlot): one chart per metric with every run of the view overlaid in its
   colour, grouped by "/" into collapsible sections; a synced cursor with a tooltip, drag to zoom
   (re-fetching full resolution for the range), TensorBoard's smoothing, log y, min/max bands,
   group means, PNG/CSV export, a last/best table and live appends. Every control is kept in the
   URL. Charts are created in htmx's load hook and destroyed in its cleanup hook. */
(function () {
  "use strict";
  const live = new Map();   // container -> its chart objects ({name, plot, ...}): window.tailboard.charts
  const views = new Map();  // container -> its view (runs, state, data, zoom)
  const HEIGHT = 220;
  const URL_KEYS = ["x", "smooth", "logy", "band", "agg", "spread", "group", "metric", "better", "fold"];
  const TOP = ".";          // the section of metric names without a "/"
  let seq = 0;

  // ---- numbers -----------------------------------------------------------------------------
  function fmt(v) {
    if (v === null || v === undefined || Number.isNaN(v)) return "–";
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
    return Number.isInteger(v) ? String(v) : String(+v.toPrecision(4));
  }

  function fmtDuration(s) {
    if (s === null || s === undefined) return "";
    const sign = s < 0 ? "-" : "", a = Math.abs(s);
    if (a < 60) return sign + String(+a.toFixed(a < 10 ? 2 : 1)) + "s";
    const d = Math.floor(a / 86400), h = Math.floor(a % 86400 / 3600), m = Math.floor(a % 3600 / 60), sec = Math.floor(a % 60);
    if (d) return sign + d + "d " + h + "h";
    if (h) return sign + h + "h " + String(m).padStart(2, "0") + "m";
    return sign + m + "m " + String(sec).padStart(2, "0") + "s";
  }

  function fmtX(view, v) {
    if (view.state.x === "relative") return fmtDuration(v);
    if (view.state.x === "time") return new Date(v * 1000).toLocaleString();
    return fmt(v);
  }

  const AXIS_LABELS = { step: "step", epoch: "epoch", time: "time", relative: "time since start (s)" };
  const finite = (v) => v !== null && v !== undefined && Number.isFinite(v);
  const cssVar = (name, fallback) =>
    getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;

  // TensorBoard's smoothing: an EMA debiased by 1 - w^n (n = finite points so far); a
  // non-finite point is skipped (no value of its own), so it never poisons what follows.
  function ema(ys, w) {
    const out = new Array(ys.length);
    let last = 0, n = 0;
    for (let i = 0; i < ys.length; i++) {
      const y = ys[i];
      if (!finite(y)) { out[i] = y === undefined ? undefined : null; continue; }
      last = last * w + (1 - w) * y;
      n++;
      out[i] = last / (1 - Math.pow(w, n));
    }
    return out;
  }

  function sortedByX(p) {         // points sorted by x (stable); most series already are
    let ok = true;
    for (let i = 1; i < p.xs.length && ok; i++) ok = p.xs[i] >= p.xs[i - 1];
    if (ok) return p;
    const order = p.xs.map((_x, i) => i).sort((a, b) => p.xs[a] - p.xs[b] || a - b);
    const pick = (arr) => order.map((i) => arr[i]);
    return { ...p, xs: pick(p.xs), ys: pick(p.ys), lo: pick(p.lo), hi: pick(p.hi) };
  }

  // Align tables ({xs, cols}) on one x column, for uPlot: the k-th occurrence of an x in one
  // table meets the k-th in the others (epochs repeat); absent cells are undefined, which
  // uPlot spans over (null, a non-finite value, stays a gap).
  function join(tables) {
    if (tables.length === 1) return [tables[0].xs, ...tables[0].cols];
    const X = [], out = tables.map((t) => t.cols.map(() => []));
    const ptr = tables.map(() => 0);
    for (;;) {
      let min = Infinity, any = false;
      tables.forEach((t, i) => { if (ptr[i] < t.xs.length) { any = true; if (t.xs[ptr[i]] < min) min = t.xs[ptr[i]]; } });
      if (!any) break;
      X.push(min);
      tables.forEach((t, i) => {
        const hit = ptr[i] < t.xs.length && t.xs[ptr[i]] === min;
        t.cols.forEach((c, j) => out[i][j].push(hit ? c[ptr[i]] : undefined));
        if (hit) ptr[i]++;
      });
    }
    return [X, ...out.flat()];
  }

  // The mean of a group's runs: every run is linearly interpolated at each x of the union of
  // their x values, inside its own x range only (no extrapolation). Also min, max and std.
  function groupStats(members) {
    const all = [];
    members.forEach((m) => m.xs.forEach((x, i) => { if (finite(m.ys[i])) all.push(x); }));
    all.sort((a, b) => a - b);
    const X = all.filter((x, i) => i === 0 || x !== all[i - 1]);
    const n = X.length, sum = new Float64Array(n), sq = new Float64Array(n), cnt = new Uint16Array(n);
    const mn = new Array(n).fill(Infinity), mx = new Array(n).fill(-Infinity);
    members.forEach((m) => {
      const px = [], py = [];
      m.xs.forEach((x, i) => { if (finite(m.ys[i])) { px.push(x); py.push(m.ys[i]); } });
      if (!px.length) return;
      let j = 0;
      for (let k = 0; k < n; k++) {
        const x = X[k];
        if (x < px[0] || x > px[px.length - 1]) continue;
        while (j + 1 < px.length && px[j + 1] <= x) j++;
        const v = px[j] === x || j + 1 >= px.length ? py[j]
          : py[j] + (py[j + 1] - py[j]) * (x - px[j]) / (px[j + 1] - px[j]);
        sum[k] += v; sq[k] += v * v; cnt[k]++;
        if (v < mn[k]) mn[k] = v;
        if (v > mx[k]) mx[k] = v;
      }
    });
    const mean = [], std = [], lo = [], hi = [];
    for (let k = 0; k < n; k++) {
      if (!cnt[k]) { mean.push(null); std.push(null); lo.push(null); hi.push(null); continue; }
      const m = sum[k] / cnt[k];
      mean.push(m);
      std.push(Math.sqrt(Math.max(0, sq[k] / cnt[k] - m * m)));
      lo.push(mn[k]);
      hi.push(mx[k]);
    }
    return { xs: X, mean, std, lo, hi };
  }

  // ---- the view: runs, state (from the server-validated data attributes), data -----------
  function readView(container) {
    const panel = container.closest(".charts-panel") || container.parentElement;
    const d = container.dataset;
    const json = (s, dflt) => { try { return JSON.parse(s); } catch (e) { return dflt; } };
    const runs = Array.from(panel.querySelectorAll(".chart-runs li[data-run]")).map((li) => ({
      id: li.dataset.run, name: li.dataset.name || li.dataset.run, color: li.dataset.color || "#2563eb",
      url: li.dataset.metricsUrl, auto: li.dataset.auto || "", autoLabel: li.dataset.autoLabel || "",
      hparams: json(li.dataset.hparams, {}),
    }));
    let lower;
    try { lower = new RegExp(d.lower || "loss"); } catch (e) { lower = /loss/; }
    return {
      el: container, panel, runs, lower, points: Number(d.points) || 2000,
      state: {
        x: d.x || "step", smooth: Number(d.smooth) || 0, logy: d.logy === "1", band: d.band !== "0",
        agg: d.agg || "none", spread: d.spread || "minmax", group: d.group || "auto", metric: d.metric || "",
        better: json(d.better, {}), fold: new Set(json(d.fold, [])),
      },
      data: null, zoom: null, gen: 0, zoomGen: 0, loading: false, queue: [],
      charts: new Map(), items: [], sync: "tb-charts-" + (++seq), errors: [],
    };
  }

  const apiAxis = (view) => (view.state.x === "relative" ? "time" : view.state.x);
  const direction = (view, name) => view.state.better[name] || (view.lower.test(name.toLowerCase()) ? "min" : "max");

  function groupsOf(view) {
    const g = view.state.group, out = new Map();
    view.runs.forEach((r) => {
      let key, label;
      if (g === "all") { key = "all"; label = "all runs"; }
      else if (g.startsWith("hp:")) {
        const k = g.slice(3), has = Object.prototype.hasOwnProperty.call(r.hparams, k);
        const v = has ? (typeof r.hparams[k] === "string" ? r.hparams[k] : JSON.stringify(r.hparams[k])) : "(none)";
        key = has ? JSON.stringify(r.hparams[k]) : "\u0000none";
        label = k + "=" + (v.length > 40 ? v.slice(0, 39) + "…" : v);
      } else { key = r.auto; label = r.autoLabel || "group"; }
      if (!out.has(key)) out.set(key, { key, label, color: r.color, runs: [] });
      out.get(key).runs.push(r);
    });
    return Array.from(out.values());
  }

  async function fetchRun(view, run, range) {
    const u = new URL(run.url, location.href);
    u.searchParams.set("x", apiAxis(view));
    u.searchParams.set("points", String(view.points));
    if (range) {
      u.searchParams.set("start", String(range[0]));
      u.searchParams.set("end", String(range[1]));
    }
    const res = await fetch(u, { credentials: "same-origin" });
    let body = {};
    try { body = await res.json(); } catch (e) { /* an error page: use the status */ }
    if (!res.ok) throw new Error(run.name + ": " + (body.error || res.status + " " + res.statusText));
    return body;
  }

  function firstTime(series) {      // the run's first wall time: relative time counts from it
    let t0 = null;
    Object.values(series).forEach((s) => {
      for (const x of s.x) if (finite(x)) { if (t0 === null || x < t0) t0 = x; break; }
    });
    return t0;
  }

  async function load(view) {
    const gen = ++view.gen;
    const zoom = view.zoom;
    view.zoomGen++;      // a zoom fetch still out was asked of the old data
    view.loading = true;
    const results = await Promise.allSettled(view.runs.map((r) => fetchRun(view, r)));
    if (gen !== view.gen || views.get(view.el) !== view) return;
    view.loading = false;
    view.errors = [];
    const data = new Map();
    results.forEach((res, i) => {
      if (res.status === "fulfilled") {
        data.set(view.runs[i].id, { series: res.value.series, t0: firstTime(res.value.series) });
      } else view.errors.push(res.reason.message);
    });
    if (!data.size) {
      destroyCharts(view);
      view.el.textContent = "";
      view.el.append(note("row-error", "Could not load metrics: " + view.errors.join("; ")));
      return;
    }
    view.data = data;
    view.zoom = null;
    build(view);
    const queued = view.queue.splice(0);
    if (queued.some((msg) => !appendDelta(view, msg))) { load(view); return; }
    if (zoom) zoomTo(view, zoom.min, zoom.max);   // a reload keeps the user's zoom
  }

  function note(cls, text) {
    const p = document.createElement("p");
    p.className = cls;
    p.textContent = text;
    return p;
  }

  // ---- the metric tree ---------------------------------------------------------------------
  function treeOf(names) {
    const root = { path: TOP, label: "metrics", metrics: [], children: new Map() };
    names.forEach((name) => {
      const parts = name.split("/");
      let node = root;
      if (parts.length > 1) {
        for (let i = 0; i < parts.length - 1; i++) {
          const path = parts.slice(0, i + 1).join("/");
          if (!node.children.has(path)) node.children.set(path, { path, label: parts[i] || "(empty)", metrics: [], children: new Map() });
          node = node.children.get(path);
        }
      }
      node.metrics.push(name);
    });
    return root;
  }

  function countOf(node) {
    let n = node.metrics.length;
    node.children.forEach((c) => { n += countOf(c); });
    return n;
  }

  function section(view, node) {
    const det = document.createElement("details");
    det.className = "chart-group";
    det.dataset.path = node.path;
    det.open = !view.state.fold.has(node.path);
    const sum = document.createElement("summary");
    const label = document.createElement("span");
    label.textContent = node.label;
    const count = document.createElement("span");
    count.className = "chart-count";
    count.textContent = String(countOf(node));
    sum.append(label, " ", count);
    det.append(sum);
    if (node.metrics.length) {
      const grid = document.createElement("div");
      grid.className = "chart-grid";
      node.metrics.forEach((name) => grid.append(card(view, name)));
      det.append(grid);
    }
    node.children.forEach((child) => det.append(section(view, child)));
    det.addEventListener("toggle", () => {
      if (det.open !== view.state.fold.has(node.path)) return;   // our own initial state: nothing to write
      if (det.open) view.state.fold.delete(node.path); else view.state.fold.add(node.path);
      writeUrl(view);
      if (det.open) materialize(view);
    });
    return det;
  }

  function card(view, name) {
    const el = document.createElement("div");
    el.className = "chart-card";
    el.dataset.metric = name;
    el.innerHTML = "<div class='chart-title'><b></b><span class='sub'></span>" +
      "<span class='chart-actions'><button type='button' data-export='png' title='download this chart as PNG'>PNG</button>" +
      "<button type='button' data-export='csv' title='download what this chart shows as CSV'>CSV</button></span></div>" +
      "<div class='plot'></div><div class='chart-tip' hidden></div><p class='chart-note' hidden></p>" +
      "<table class='chart-table'><thead><tr><th>run</th><th>last</th>" +
      "<th><button type='button' class='better' title='switch: is lower or higher better?'></button></th>" +
      "<th class='best-at'></th></tr></thead><tbody></tbody></table>";
    el.querySelector(".chart-title b").textContent = name;
    const chart = { name, view, card: el, plot: null, observer: null, layout: "", hover: false, spec: null,
                    tip: el.querySelector(".chart-tip"), plotDiv: el.querySelector(".plot") };
    view.charts.set(name, chart);
    el.querySelector(".chart-actions").addEventListener("click", (e) => {
      const b = e.target.closest("[data-export]");
      if (b) (b.dataset.export === "png" ? exportPng : exportCsv)(chart);
    });
    el.querySelector(".better").addEventListener("click", () => {
      const guess = view.lower.test(name.toLowerCase()) ? "min" : "max";
      const next = direction(view, name) === "min" ? "max" : "min";
      if (next === guess) delete view.state.better[name]; else view.state.better[name] = next;
      writeUrl(view);
      renderTable(chart);
    });
    return el;
  }

  function build(view) {
    const t0 = performance.now();
    view.lastDraw = 0;
    view.theme = null;
    destroyCharts(view);
    view.el.textContent = "";
    const names = new Set();
    view.data.forEach((d) => Object.keys(d.series).forEach((n) => names.add(n)));
    view.errors.forEach((msg) => view.el.append(note("row-error", "Could not load " + msg)));
    if (!names.size) { view.el.append(note("empty", "No metrics yet.")); return; }
    const root = treeOf(Array.from(names).sort());
    if (root.metrics.length) view.el.append(section(view, { ...root, children: new Map() }));
    root.children.forEach((child) => view.el.append(section(view, child)));
    applyFilter(view);
    view.t0 = t0;
    setTimeout(() => {              // uPlot paints in a microtask: this runs after every chart's
      if (view.lastDraw) view.el.dataset.drawMs = (view.lastDraw - t0).toFixed(1);
      view.el.dataset.drawnAt = performance.now().toFixed(1);   // since the page's navigation began
    }, 0);
  }

  // ---- the metric filter and lazy charts ---------------------------------------------------
  function matcher(view) {
    const text = view.state.metric.trim(), err = view.panel.querySelector(".chart-filter-error");
    let test = () => true, problem = "";
    if (text) {
      try {
        const re = new RegExp(text, "i");
        test = (n) => re.test(n);
      } catch (e) {
        const low = text.toLowerCase();
        test = (n) => n.toLowerCase().includes(low);
        problem = "not a valid pattern (" + e.message + "): matching it as plain text";
      }
    }
    if (err) { err.textContent = problem; err.hidden = !problem; }
    return test;
  }

  function applyFilter(view) {
    const test = matcher(view);
    view.charts.forEach((c) => { c.card.hidden = !test(c.name); });
    Array.from(view.el.querySelectorAll("details.chart-group")).reverse().forEach((det) => {
      det.hidden = !det.querySelector(".chart-card:not([hidden])");
    });
    materialize(view);
  }

  function shown(chart) {
    if (chart.card.hidden) return false;
    for (let d = chart.card.closest("details"); d; d = d.parentElement.closest("details")) {
      if (!d.open || d.hidden) return false;
    }
    return true;
  }

  function materialize(view) {
    const todo = Array.from(view.charts.values()).filter((c) => !c.plot && !c.empty && shown(c));
    todo.forEach((c) => { c.width = plotWidth(c); });   // every width in one layout, before the plots dirty it
    todo.forEach((c) => draw(c, true));
    syncItems(view);
  }

  function syncItems(view) {          // what window.tailboard.charts shows: the drawn charts
    view.items.length = 0;
    view.charts.forEach((c) => { if (c.plot) view.items.push(c); });
    view.el.dataset.drawn = String(view.items.length);
  }

  // ---- what one chart shows ----------------------------------------------------------------
  function sourceOf(view, run, name) {
    const z = view.zoom && view.zoom.data && view.zoom.data.get(run.id);
    const base = view.data.get(run.id);
    return z ? z.series[name] : base && base.series[name];
  }

  function pointsOf(view, run, s, notes) {
    const base = view.data.get(run.id);
    const shift = view.state.x === "relative" ? base.t0 : 0;
    if (view.state.x === "relative" && shift === null) return null;
    let p = { xs: shift ? s.x.map((v) => v - shift) : s.x, ys: s.y, lo: s.ymin || s.y, hi: s.ymax || s.y };
    p = sortedByX(p);
    p.banded = p.lo.some((v, i) => v !== p.hi[i]);
    if (view.state.logy) {
      let bad = 0;
      const pos = (v) => (finite(v) && v <= 0 ? null : v);
      p.ys = p.ys.map((v) => { if (finite(v) && v <= 0) { bad++; return null; } return v; });
      p.lo = p.lo.map(pos);
      p.hi = p.hi.map(pos);
      if (bad) notes.push(bad + " non-positive value" + (bad > 1 ? "s" : "") + (view.runs.length > 1 ? " of " + run.name : "") +
        " not drawn: a log axis has no place for them");
    }
    return p;
  }

  function alpha(color, a) { return color + a; }

  // Everything one chart draws: uPlot data (x, then columns), its series and bands, the lines
  // (for the tooltip, the table, the exports) and notes. ``layout`` names what needs a new plot.
  function compose(view, name) {
    const st = view.state, notes = [], tables = [], lines = [], bands = [];
    let col = 1;
    const addTable = (xs, cols) => { tables.push({ xs, cols }); const first = col; col += cols.length; return first; };
    const per = [];
    view.runs.forEach((run) => {
      const s = sourceOf(view, run, name);
      if (!s || !s.x.length) return;
      const p = pointsOf(view, run, s, notes);
      if (p) per.push({ run, p });
      const base = view.data.get(run.id).series[name];
      if (base && base.purged) notes.push((view.runs.length > 1 ? run.name + " " : "") + "restarted: " + base.purged +
        " point" + (base.purged > 1 ? "s" : "") + " logged before the restart at steps it logged again are hidden");
    });
    if (!per.length) return { empty: "no points on the " + AXIS_LABELS[st.x] + " axis", notes, lines };
    if (st.logy && !per.some(({ p }) => p.ys.some(finite))) {
      return { empty: "no positive values: nothing to draw on a log axis", notes, lines };
    }
    const smooth = st.smooth > 0, agg = st.agg === "mean" && view.runs.length > 1;
    if (agg) {
      groupsOf(view).forEach((g) => {
        const members = per.filter(({ run }) => g.runs.includes(run));
        if (!members.length) return;
        const m = groupStats(members.map(({ p }) => p));
        const label = "mean of " + g.label + " (" + members.length + ")";
        const band = st.spread === "std"
          ? [m.mean.map((v, i) => (v === null ? null : v + m.std[i])), m.mean.map((v, i) => (v === null ? null : v - m.std[i]))]
          : [m.hi, m.lo];
        if (st.logy) band[1] = band[1].map((v) => (finite(v) && v <= 0 ? null : v));
        const cols = [m.mean];
        if (smooth) cols.push(ema(m.mean, st.smooth));
        if (st.band && members.length > 1) cols.push(band[0], band[1]);
        const first = addTable(m.xs, cols);
        lines.push({ kind: "group", label, color: g.color, xs: m.xs, ys: m.mean, sm: smooth ? cols[1] : null,
                     col: first, smCol: smooth ? first + 1 : null, width: 2, faint: smooth });
        if (st.band && members.length > 1) bands.push({ hi: first + cols.length - 2, lo: first + cols.length - 1, color: g.color });
        members.forEach(({ run, p }) => {
          const c = addTable(p.xs, [p.ys]);
          lines.push({ kind: "member", label: run.name, color: g.color, xs: p.xs, ys: p.ys, sm: null, col: c, width: 1, faint: true });
        });
      });
    } else {
      per.forEach(({ run, p }) => {
        const cols = [p.ys];
        if (smooth) cols.push(ema(p.ys, st.smooth));
        const banded = st.band && p.banded;
        if (banded) cols.push(p.hi, p.lo);
        const first = addTable(p.xs, cols);
        lines.push({ kind: "run", run, label: run.name, color: run.color, xs: p.xs, ys: p.ys, sm: smooth ? cols[1] : null,
                     col: first, smCol: smooth ? first + 1 : null, width: smooth ? 1 : 1.5, faint: smooth, few: p.xs.length < 60 });
        if (banded) bands.push({ hi: first + cols.length - 2, lo: first + cols.length - 1, color: run.color });
      });
    }
    const data = join(tables);
    const series = [{ label: AXIS_LABELS[st.x] }];
    lines.forEach((l) => {
      while (series.length < l.col) series.push(null);
      const faint = l.kind === "member" ? 0.3 : l.faint ? 0.35 : 1;
      series[l.col] = { label: l.label, stroke: faint < 1 ? alpha(l.color, faint === 0.3 ? "4d" : "59") : l.color,
                        width: l.width, points: { show: !!l.few && !l.faint, size: 4 } };
      if (l.smCol) series[l.smCol] = { label: l.label + " (smoothed)", stroke: l.color, width: 2, points: { show: false } };
    });
    const uBands = bands.map((b) => {
      series[b.hi] = { label: "max", stroke: "transparent", width: 0, points: { show: false } };
      series[b.lo] = { label: "min", stroke: "transparent", width: 0, points: { show: false } };
      return { series: [b.hi, b.lo], fill: alpha(b.color, "26") };
    });
    const layout = [st.x, st.logy, series.slice(1).map((s) => (s ? s.stroke + s.width + s.points.show : "-")).join(),
                    uBands.map((b) => b.series.join(":")).join()].join("|");
    return { data, series, bands: uBands, lines, notes, layout };
  }

  function plotWidth(chart) { return Math.max(240, chart.card.clientWidth - 16); }

  function theme(view) {             // read once per build: getComputedStyle forces a style pass
    if (!view.theme) view.theme = { muted: cssVar("--muted", "#666"), grid: cssVar("--grid", "#eee") };
    return view.theme;
  }

  function options(view, chart, spec) {
    const { muted, grid } = theme(view);
    const relative = view.state.x === "relative";
    return {
      width: chart.width || plotWidth(chart), height: HEIGHT, legend: { show: false },
      scales: { x: { time: view.state.x === "time" }, y: view.state.logy ? { distr: 3, log: 10 } : {} },
      axes: [
        { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 },
          values: relative ? (u, vals) => vals.map(fmtDuration) : undefined },
        { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, size: 60,
          values: (u, vals) => vals.map((v) => (v === null ? "" : fmt(v))) },
      ],
      series: spec.series.map((s) => s || { show: false }),
      bands: spec.bands,
      cursor: {
        sync: { key: view.sync, setSeries: false, filters: { pub: (type) => type !== "mousedown" && type !== "mouseup" } },
        drag: { x: true, y: false, setScale: false },
        bind: { dblclick: () => () => { resetZoom(view); return null; } },
        points: { show: false },
      },
      hooks: {
        setSelect: [(u) => {
          if (view.dragChart === chart && u.select.width > 2) {
            zoomTo(view, u.posToVal(u.select.left, "x"), u.posToVal(u.select.left + u.select.width, "x"));
          }
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
        }],
        setCursor: [(u) => tooltip(chart, u)],
        draw: [() => { view.lastDraw = performance.now(); }],
      },
    };
  }

  // Draw (or redraw) one chart: setData when only values changed, a new plot otherwise.
  function draw(chart, resetScales) {
    const view = chart.view, spec = compose(view, chart.name);
    chart.spec = spec;
    renderNotes(chart);
    renderTable(chart);
    renderTitle(chart);
    if (spec.empty) {
      dropPlot(chart);
      chart.empty = true;
      chart.plotDiv.textContent = spec.empty;
      return;
    }
    chart.empty = false;
    if (chart.plot && chart.layout === spec.layout) {
      chart.plot.setData(spec.data, resetScales || !view.zoom);
      if (view.zoom && !resetScales) chart.plot.setScale("x", { min: view.zoom.min, max: view.zoom.max });
      return;
    }
    dropPlot(chart);
    chart.plotDiv.textContent = "";
    chart.plot = new uPlot(options(view, chart, spec), spec.data, chart.plotDiv);
    chart.width = 0;   // measured for this plot only: a later one measures again
    chart.layout = spec.layout;
    if (view.zoom) chart.plot.setScale("x", { min: view.zoom.min, max: view.zoom.max });
    chart.plot.over.addEventListener("mouseenter", () => { chart.hover = true; });
    chart.plot.over.addEventListener("mousedown", () => { view.dragChart = chart; });
    chart.plot.over.addEventListener("mouseleave", () => { chart.hover = false; chart.tip.hidden = true; });
    chart.observer = new ResizeObserver(() => {
      const w = chart.card.clientWidth && plotWidth(chart);
      if (chart.plot && w && w !== chart.plot.width) chart.plot.setSize({ width: w, height: HEIGHT });
    });
    chart.observer.observe(chart.card);
  }

  function dropPlot(chart) {
    if (chart.observer) chart.observer.disconnect();
    if (chart.plot) chart.plot.destroy();
    chart.plot = null;
    chart.observer = null;
    chart.layout = "";
  }

  function redrawAll(view, resetScales) {
    view.charts.forEach((c) => { if (c.plot || c.empty) { c.empty = false; draw(c, resetScales); } });
    materialize(view);
  }

  function renderNotes(chart) {
    const el = chart.card.querySelector(".chart-note");
    const text = (chart.spec.notes || []).join(" · ");
    el.textContent = text;
    el.hidden = !text;
  }

  function lastFinite(ys) {
    for (let i = ys.length - 1; i >= 0; i--) if (finite(ys[i])) return ys[i];
    return null;
  }

  function renderTitle(chart) {
    const view = chart.view, sub = chart.card.querySelector(".chart-title .sub");
    if (view.runs.length > 1) {
      const n = view.runs.filter((r) => view.data.get(r.id) && view.data.get(r.id).series[chart.name]).length;
      sub.textContent = n + " run" + (n === 1 ? "" : "s");
      return;
    }
    const base = view.data.get(view.runs[0].id), s = base && base.series[chart.name];
    if (!s) { sub.textContent = ""; return; }
    sub.textContent = "last " + fmt(lastFinite(s.y)) + " · " + s.count + " points" +
      (s.count > s.x.length ? " (" + s.x.length + " shown, min/max band kept)" : "");
  }

  // ---- the last/best table (from the full view's data, whatever the zoom) -----------------
  function bestOf(xs, ys, lo, hi, way) {
    let best = null, at = null;
    const vals = way === "min" ? lo : hi;
    for (let i = 0; i < xs.length; i++) {
      const v = finite(vals[i]) ? vals[i] : ys[i];
      if (!finite(v)) continue;
      if (best === null || (way === "min" ? v < best : v > best)) { best = v; at = xs[i]; }
    }
    return { best, at };
  }

  function tableRows(view, name) {
    const way = direction(view, name), rows = [], per = [];
    view.runs.forEach((run) => {
      const base = view.data.get(run.id), s = base && base.series[name];
      if (!s || !s.x.length) return;
      const shift = view.state.x === "relative" ? base.t0 : 0;
      if (view.state.x === "relative" && shift === null) return;
      const xs = shift ? s.x.map((v) => v - shift) : s.x;
      per.push({ run, p: sortedByX({ xs, ys: s.y, lo: s.ymin || s.y, hi: s.ymax || s.y }) });
    });
    if (view.state.agg === "mean" && view.runs.length > 1) {
      groupsOf(view).forEach((g) => {
        const members = per.filter(({ run }) => g.runs.includes(run));
        if (!members.length) return;
        const m = groupStats(members.map(({ p }) => p));
        rows.push({ label: "mean of " + g.label + " (" + members.length + ")", color: g.color, last: lastFinite(m.mean),
                    ...bestOf(m.xs, m.mean, m.mean, m.mean, way), group: true });
      });
    }
    per.forEach(({ run, p }) => {
      rows.push({ label: run.name, color: run.color, last: lastFinite(p.ys), ...bestOf(p.xs, p.ys, p.lo, p.hi, way) });
    });
    return { way, rows };
  }

  function renderTable(chart) {
    const view = chart.view, table = chart.card.querySelector(".chart-table");
    const { way, rows } = tableRows(view, chart.name);
    const btn = table.querySelector(".better");
    btn.textContent = "best " + (way === "min" ? "(lowest)" : "(highest)") + " ⇅";
    btn.dataset.way = way;
    table.querySelector(".best-at").textContent = "at " + AXIS_LABELS[view.state.x].replace(" (s)", "");
    const body = table.querySelector("tbody");
    body.textContent = "";
    rows.forEach((r) => {
      const tr = document.createElement("tr");
      if (r.group) tr.className = "group-row";
      const name = document.createElement("td"), sw = document.createElement("span");
      sw.className = "swatch";
      sw.style.background = r.color;
      name.append(sw, document.createTextNode(r.label));
      name.title = r.label;
      tr.append(name);
      [fmt(r.last), fmt(r.best), r.at === null ? "–" : fmtX(view, r.at)].forEach((text) => {
        const td = document.createElement("td");
        td.className = "num";
        td.textContent = text;
        tr.append(td);
      });
      body.append(tr);
    });
    table.hidden = !rows.length;
  }

  // ---- tooltip: the runs at the cursor's x, best first --------------------------------------
  function nearest(xs, x) {
    let lo = 0, hi = xs.length - 1;
    if (hi < 0) return -1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (xs[mid] < x) lo = mid + 1; else hi = mid;
    }
    return lo > 0 && Math.abs(xs[lo - 1] - x) <= Math.abs(xs[lo] - x) ? lo - 1 : lo;
  }

  function tooltip(chart, u) {
    const tip = chart.tip, idx = u.cursor.idx;
    if (!chart.hover || idx === null || idx === undefined || u.cursor.left < 0 || !chart.spec || !chart.spec.lines) {
      tip.hidden = true;
      return;
    }
    const view = chart.view, x = u.data[0][idx], way = direction(view, chart.name);
    const rows = [];
    chart.spec.lines.forEach((l) => {
      if (!l.xs.length || x < l.xs[0] || x > l.xs[l.xs.length - 1]) return;   // outside this run
      const k = nearest(l.xs, x);
      rows.push({ l, y: l.ys[k], s: l.sm ? l.sm[k] : null });
    });
    const key = (r) => (finite(r.s) ? r.s : finite(r.y) ? r.y : null);
    rows.sort((a, b) => {
      const ka = key(a), kb = key(b);
      if (ka === null || kb === null) return (ka === null) - (kb === null);
      return way === "min" ? ka - kb : kb - ka;
    });
    tip.textContent = "";
    const head = document.createElement("div");
    head.className = "tip-x";
    head.textContent = AXIS_LABELS[view.state.x].replace(" (s)", "") + " " + fmtX(view, x);
    tip.append(head);
    rows.forEach(({ l, y, s }) => {
      const row = document.createElement("div");
      row.className = "tip-row" + (l.kind === "member" ? " faint" : "");
      const sw = document.createElement("span");
      sw.className = "swatch";
      sw.style.background = l.color;
      const name = document.createElement("span");
      name.className = "tip-name";
      name.textContent = l.label;
      const val = document.createElement("span");
      val.className = "tip-val";
      val.textContent = l.sm ? fmt(s) + " (raw " + fmt(y) + ")" : fmt(y);
      row.append(sw, name, val);
      tip.append(row);
    });
    tip.hidden = false;
    const ob = u.over.getBoundingClientRect(), cb = chart.card.getBoundingClientRect();
    const left = ob.left - cb.left + u.cursor.left, top = ob.top - cb.top + u.cursor.top;
    const room = chart.card.clientWidth - tip.offsetWidth - 8;
    tip.style.left = Math.max(4, left + 14 > room ? left - tip.offsetWidth - 14 : left + 14) + "px";
    tip.style.top = Math.max(4, top - tip.offsetHeight / 2) + "px";
  }

  // ---- zoom: drag to zoom every chart, then fetch full resolution for the range -----------
  async function zoomTo(view, min, max) {
    if (!(max > min)) return;
    const gen = ++view.zoomGen, t0 = performance.now();
    view.zoom = { min, max, data: null };
    view.charts.forEach((c) => { if (c.plot) c.plot.setScale("x", { min, max }); });
    const relative = view.state.x === "relative";
    const results = await Promise.allSettled(view.runs.map((r) => {
      const base = view.data.get(r.id);
      if (!base) return Promise.resolve(null);
      const shift = relative ? base.t0 : 0;
      if (relative && shift === null) return Promise.resolve(null);
      return fetchRun(view, r, [min + shift, max + shift]);
    }));
    if (gen !== view.zoomGen || views.get(view.el) !== view) return;
    const data = new Map();
    results.forEach((res, i) => {
      if (res.status === "fulfilled" && res.value) data.set(view.runs[i].id, { series: res.value.series });
    });
    view.zoom = { min, max, data };
    view.el.dataset.zoomed = "1";
    view.charts.forEach((c) => { if (c.plot) draw(c, false); });
    setTimeout(() => {              // drag released to the refetched points painted
      view.el.dataset.zoomMs = (Math.max(view.lastDraw, t0) - t0).toFixed(1);
      view.el.dataset.zooms = String(Number(view.el.dataset.zooms || 0) + 1);
    }, 0);
  }

  function resetZoom(view) {
    view.zoomGen++;
    view.zoom = null;
    delete view.el.dataset.zoomed;
    view.charts.forEach((c) => { if (c.plot) draw(c, true); });
  }

  // ---- live: `metrics` deltas append in place; what cannot be appended re-fetches -----------
  // Returns false when the view must re-fetch: a reset, a new metric, a gap (missed points), or
  // a step going back (a restarted run: the server hides what the restart replaced).
  function appendDelta(view, msg) {
    if (msg.reset) return false;
    const base = view.data.get(msg.run);
    if (!base) return true;
    const axis = apiAxis(view), relative = view.state.x === "relative", dirty = [];
    for (const [name, d] of Object.entries(msg.series || {})) {
      const s = base.series[name];
      if (!s) return false;
      const skip = s.count - d.from;
      if (skip < 0) return false;
      const xs = d[axis] || [];
      for (let i = Math.max(skip, 0); i < d.y.length; i++) {
        const x = xs[i];
        if (x === null || x === undefined) continue;   // no value on this axis (e.g. no time column)
        if (axis !== "time" && s.x.length && x < s.x[s.x.length - 1]) return false;
        if (relative && base.t0 === null) return false;
        s.x.push(x); s.y.push(d.y[i]);
        if (s.ymin) s.ymin.push(d.y[i]);
        if (s.ymax) s.ymax.push(d.y[i]);
        const z = view.zoom && view.zoom.data && view.zoom.data.get(msg.run), zs = z && z.series[name];
        const rx = relative ? x - base.t0 : x;
        if (zs && rx >= view.zoom.min && rx <= view.zoom.max) {
          zs.x.push(x); zs.y.push(d.y[i]);
          if (zs.ymin) zs.ymin.push(d.y[i]);
          if (zs.ymax) zs.ymax.push(d.y[i]);
        }
      }
      s.count = Math.max(s.count, d.from + d.y.length);
      dirty.push(name);
    }
    dirty.forEach((name) => {
      const c = view.charts.get(name);
      if (!c) return;
      if (c.plot || c.empty) draw(c, !view.zoom); else renderTable(c);
    });
    materialize(view);
    return true;
  }

  function applyMetrics(msg) {
    views.forEach((view) => {
      if (!view.runs.some((r) => r.id === msg.run)) return;
      if (view.loading) { view.queue.push(msg); return; }   // applied once loaded
      if (!view.data) { load(view); return; }
      if (!appendDelta(view, msg)) load(view);
    });
  }

  function reloadAll() { views.forEach((view) => load(view)); }

  // ---- URL state ---------------------------------------------------------------------------
  function writeUrl(view) {
    const u = new URL(location.href), st = view.state, p = u.searchParams;
    URL_KEYS.forEach((k) => p.delete(k));
    if (st.x !== "step") p.set("x", st.x);
    if (st.smooth > 0) p.set("smooth", String(st.smooth));
    if (st.logy) p.set("logy", "1");
    if (!st.band) p.set("band", "0");
    if (st.agg !== "none") p.set("agg", st.agg);
    if (st.spread !== "minmax") p.set("spread", st.spread);
    if (st.group !== "auto") p.set("group", st.group);
    if (st.metric) p.set("metric", st.metric);
    Object.entries(st.better).forEach(([name, way]) => p.append("better", name + ":" + way));
    st.fold.forEach((path) => p.append("fold", path));
    history.replaceState(history.state, "", u);
  }

  function onControl(e) {
    const form = e.target.closest(".chart-controls");
    const panel = form && form.closest(".charts-panel");
    const container = panel && panel.querySelector("[data-charts]");
    const view = container && views.get(container);
    if (!view) return;
    const t = e.target, st = view.state;
    switch (t.name) {
      case "x":
        if (e.type !== "change") return;
        st.x = t.value;
        view.zoom = null;
        writeUrl(view);
        load(view);
        return;
      case "smooth": {
        st.smooth = Math.min(0.99, Math.max(0, Number(t.value) || 0));
        const out = form.querySelector("output[name=smooth-value]");
        if (out) out.textContent = st.smooth.toFixed(2);
        break;
      }
      case "logy": st.logy = t.checked; break;
      case "band": st.band = t.checked; break;
      case "agg": case "spread": case "group": st[t.name] = t.value; break;
      case "metric":
        st.metric = t.value;
        writeUrl(view);
        applyFilter(view);
        return;
      default: return;
    }
    if ((e.type === "input") !== (t.type === "range")) return;   // a slider on input, the others on change
    writeUrl(view);
    redrawAll(view, !view.zoom);
  }

  // ---- export ------------------------------------------------------------------------------
  function fileName(name, ext) { return (name.replace(/[^A-Za-z0-9._-]+/g, "_") || "chart") + "." + ext; }

  function download(blob, name) {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  }

  function exportPng(chart) {
    const u = chart.plot;
    if (!u) return;
    const src = u.ctx.canvas, r = src.width / u.width, pad = 10 * r, titleH = 26 * r, rowH = 18 * r;
    const lines = chart.spec.lines.filter((l) => l.kind !== "member");
    const out = document.createElement("canvas");
    out.width = src.width + 2 * pad;
    out.height = titleH + src.height + pad + lines.length * rowH + pad;
    const ctx = out.getContext("2d");
    ctx.fillStyle = cssVar("--bg", "#fff");
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.fillStyle = cssVar("--fg", "#000");
    ctx.font = "600 " + 14 * r + "px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    ctx.fillText(chart.name + (chart.view.state.smooth > 0 ? "  (smoothing " + chart.view.state.smooth.toFixed(2) + ")" : ""), pad, titleH / 2);
    ctx.drawImage(src, pad, titleH);
    ctx.font = 12 * r + "px system-ui, sans-serif";
    lines.forEach((l, i) => {
      const y = titleH + src.height + pad + i * rowH + rowH / 2;
      ctx.fillStyle = l.color;
      ctx.fillRect(pad, y - 5 * r, 10 * r, 10 * r);
      ctx.fillStyle = cssVar("--fg", "#000");
      ctx.fillText(l.label + "   last " + fmt(lastFinite(l.ys)), pad + 16 * r, y);
    });
    out.toBlob((blob) => download(blob, fileName(chart.name, "png")), "image/png");
  }

  function csvCell(v) {
    const s = v === null || v === undefined ? "" : String(v);
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }

  // Exactly what is shown: x, then each line's raw and (when smoothing) smoothed values, for
  // the rows inside the current zoom.
  function exportCsv(chart) {
    const spec = chart.spec, u = chart.plot;
    if (!u || !spec || !spec.data) return;
    const cols = [], head = [AXIS_LABELS[chart.view.state.x].replace(" (s)", "_s").replace(/ /g, "_")];
    spec.lines.forEach((l) => {
      cols.push(l.col);
      head.push(l.label);
      if (l.smCol) { cols.push(l.smCol); head.push(l.label + " (smoothed)"); }
    });
    const xs = spec.data[0], min = u.scales.x.min, max = u.scales.x.max;
    const out = [head.map(csvCell).join(",")];
    for (let i = 0; i < xs.length; i++) {
      if (xs[i] < min || xs[i] > max) continue;
      out.push([xs[i], ...cols.map((c) => spec.data[c][i])].map(csvCell).join(","));
    }
    download(new Blob([out.join("\n") + "\n"], { type: "text/csv" }), fileName(chart.name, "csv"));
  }

  // ---- lifecycle ---------------------------------------------------------------------------
  function destroyCharts(view) {
    view.charts.forEach(dropPlot);
    view.charts.clear();
    view.items.length = 0;
  }

  function destroy(container) {
    const view = views.get(container);
    if (!view) return;
    view.gen++;
    view.zoomGen++;
    destroyCharts(view);
    views.delete(container);
    live.delete(container);
  }

  function init(root) {
    const scope = root.querySelectorAll ? root : document;
    const found = Array.from(scope.querySelectorAll("[data-charts]"));
    if (scope.matches && scope.matches("[data-charts]")) found.push(scope);
    found.forEach((container) => {
      if (views.has(container)) return;
      const view = readView(container);
      views.set(container, view);
      live.set(container, view.items);
      load(view);
    });
  }

  htmx.onLoad(init);
  document.body.addEventListener("htmx:beforeCleanupElement", (e) => {
    views.forEach((_v, container) => { if (e.target.contains(container)) destroy(container); });
  });
  // every control applies as it changes: Enter in the metric filter must not load the page
  document.body.addEventListener("submit", (e) => { if (e.target.closest(".chart-controls")) e.preventDefault(); });
  document.body.addEventListener("input", (e) => { if (e.target.closest(".chart-controls")) onControl(e); });
  document.body.addEventListener("change", (e) => { if (e.target.closest(".chart-controls")) onControl(e); });
  // the axes' colours come from the theme: a theme switch redraws
  document.addEventListener("tailboard:theme", () => {
    views.forEach((view) => {
      view.theme = null;
      view.charts.forEach((c) => { if (c.plot) { dropPlot(c); draw(c, !view.zoom); } });
    });
  });

  window.tailboard = window.tailboard || {};
  Object.assign(window.tailboard, {
    charts: live, chartViews: views, applyMetrics, reloadCharts: reloadAll,
    reload: (container) => { const v = views.get(container); if (v) load(v); },
  });
})();
