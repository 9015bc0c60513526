/* What one chart draws: uPlot data (x, then columns), its series and bands, the lines (for the
   tooltip, the table, the exports) and notes, from the view's data and state. A chart shows one
   metric, or several (a combined panel: chart.combo, split over two y axes when their sizes
   differ by orders of magnitude). */
import { finite } from "../util.js";
import { axisLabel, groupsOf } from "./data.js";
import { groupStats } from "./aggregate.js";
import { smooth } from "./smooth.js";
import { join, sortedByX } from "./stats.js";

const DASHES = [null, [6, 3], [2, 3], [10, 3, 2, 3], [1, 5]];   // a combined panel's metrics, run by run
const METRIC_COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"];
export const SPLIT_ORDERS = 2;   // metrics 100x apart or more get a y axis of their own

export function sourceOf(view, run, name) {
  const z = view.zoom && view.zoom.data && view.zoom.data.get(run.id);
  const base = view.data.get(run.id);
  return z ? z.series[name] : base && base.series[name];
}

export function pointsOf(view, run, s, notes) {
  const base = view.data.get(run.id);
  const shift = view.state.x === "relative" ? base.t0 : 0;
  if (view.state.x === "relative" && shift === null) return null;
  let p = { xs: shift ? s.x.map((v) => v - shift) : s.x, ys: s.y, lo: s.ymin || s.y, hi: s.ymax || s.y,
            restarts: s.restarts || [] };
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

function magnitude(per) {              // log10 of the median |y| of a metric's points
  const v = [];
  per.forEach(({ p }) => p.ys.forEach((y) => { if (finite(y) && y !== 0) v.push(Math.abs(y)); }));
  if (!v.length) return null;
  v.sort((a, b) => a - b);
  return Math.log10(v[v.length >> 1]);
}

// {metric: "y" | "y2"}: the metrics above the widest gap between their magnitudes go right when
// that gap is SPLIT_ORDERS or more.
export function splitAxes(mags) {
  const known = Object.entries(mags).filter(([, m]) => m !== null).sort((a, b) => a[1] - b[1]);
  const out = {};
  Object.keys(mags).forEach((k) => { out[k] = "y"; });
  let gap = 0, at = -1;
  for (let i = 1; i < known.length; i++) if (known[i][1] - known[i - 1][1] > gap) { gap = known[i][1] - known[i - 1][1]; at = i; }
  if (gap >= SPLIT_ORDERS) known.slice(at).forEach(([k]) => { out[k] = "y2"; });
  return out;
}

const SPREAD_LABELS = { minmax: "min–max", std: "± std", sem: "± sem", ci: "95% CI" };

// Everything one chart draws: uPlot data (x, then columns), its series and bands, the lines
// (for the tooltip, the table, the exports) and notes. ``layout`` names what needs a new plot.
export function compose(view, chart) {
  const st = view.state, notes = [], tables = [], lines = [], bands = [];
  const names = chart.combo || [chart.name], combo = !!chart.combo;
  let col = 1;
  const addTable = (xs, cols) => { tables.push({ xs, cols }); const first = col; col += cols.length; return first; };
  const byMetric = names.map((name) => {
    const per = [];
    view.runs.forEach((run) => {
      const s = sourceOf(view, run, name);
      if (!s || !s.x.length) return;
      const p = pointsOf(view, run, s, notes);
      if (p) per.push({ run, p });
      const base = view.data.get(run.id).series[name];
      if (base && base.purged) notes.push((view.runs.length > 1 ? run.name + " " : "") + (combo ? name + " " : "") + "restarted: " +
        base.purged + " point" + (base.purged > 1 ? "s" : "") + " logged before the restart at steps it logged again are hidden");
    });
    return { name, per };
  });
  if (!byMetric.some((m) => m.per.length)) return { empty: "no points on the " + axisLabel(view) + " axis", notes, lines };
  if (st.logy && !byMetric.some((m) => m.per.some(({ p }) => p.ys.some(finite)))) {
    return { empty: "no positive values: nothing to draw on a log axis", notes, lines };
  }
  const axes = combo ? splitAxes(Object.fromEntries(byMetric.map((m) => [m.name, magnitude(m.per)]))) : { [chart.name]: "y" };
  const smoothing = st.smooth > 0, agg = st.agg !== "none" && view.runs.length > 1;
  const sm = (p) => smooth(st.smoother, p.xs, p.ys, st.smooth, p.restarts);
  byMetric.forEach(({ name, per }, mi) => {
    const scale = axes[name], dash = combo && view.runs.length > 1 ? DASHES[mi % DASHES.length] : null;   // one run: a colour per metric
    const suffix = combo ? (view.runs.length > 1 ? " · " + name : "") : "";
    const colorOf = (c) => (combo && view.runs.length === 1 ? METRIC_COLORS[mi % METRIC_COLORS.length] : c);
    const labelOf = (run) => (combo && view.runs.length === 1 ? name : run.name + suffix);
    if (agg) {
      groupsOf(view).forEach((g) => {
        const members = per.filter(({ run }) => g.runs.includes(run));
        if (!members.length) return;
        const m = groupStats(members.map(({ p }) => p), st.agg, st.spread);
        const label = st.agg + " of " + g.label + " (" + members.length + ")" + (combo ? " · " + name : "");
        const band = [m.hi, m.lo];
        if (st.logy) band[1] = band[1].map((v) => (finite(v) && v <= 0 ? null : v));
        const cols = [m.centre];
        if (smoothing) cols.push(smooth(st.smoother, m.xs, m.centre, st.smooth, []));
        const banded = st.band && members.length > 1;
        if (banded) cols.push(band[0], band[1]);
        const first = addTable(m.xs, cols), color = colorOf(g.color);
        lines.push({ kind: "group", label, color, xs: m.xs, ys: m.centre, sm: smoothing ? cols[1] : null, metric: name,
                     col: first, smCol: smoothing ? first + 1 : null, width: 2, faint: smoothing, scale, dash,
                     spread: banded ? SPREAD_LABELS[st.spread] : null });
        if (banded) bands.push({ hi: first + cols.length - 2, lo: first + cols.length - 1, color, scale });
        members.forEach(({ run, p }) => {
          const c = addTable(p.xs, [p.ys]);
          lines.push({ kind: "member", label: run.name + suffix, color, xs: p.xs, ys: p.ys, sm: null, col: c, width: 1,
                       faint: true, scale, dash, metric: name, restarts: p.restarts });
        });
      });
    } else {
      per.forEach(({ run, p }) => {
        const cols = [p.ys];
        if (smoothing) cols.push(sm(p));
        const banded = st.band && p.banded;
        if (banded) cols.push(p.hi, p.lo);
        const first = addTable(p.xs, cols), color = colorOf(run.color);
        lines.push({ kind: "run", run, label: labelOf(run), color, xs: p.xs, ys: p.ys, sm: smoothing ? cols[1] : null,
                     col: first, smCol: smoothing ? first + 1 : null, width: smoothing ? 1 : 1.5, faint: smoothing,
                     few: p.xs.length < 60, scale, dash, metric: name, restarts: p.restarts });
        if (banded) bands.push({ hi: first + cols.length - 2, lo: first + cols.length - 1, color, scale });
      });
    }
  });
  const data = join(tables);
  const series = [{ label: axisLabel(view) }];
  lines.forEach((l) => {
    while (series.length < l.col) series.push(null);
    const faint = l.kind === "member" ? 0.3 : l.faint ? 0.35 : 1;
    series[l.col] = { label: l.label, stroke: faint < 1 ? alpha(l.color, faint === 0.3 ? "4d" : "59") : l.color, scale: l.scale,
                      width: l.width, points: { show: !!l.few && !l.faint, size: 4 }, ...(l.dash ? { dash: l.dash } : {}) };
    if (l.smCol) series[l.smCol] = { label: l.label + " (smoothed)", stroke: l.color, width: 2, scale: l.scale,
                                     points: { show: false }, ...(l.dash ? { dash: l.dash } : {}) };
  });
  const uBands = bands.map((b) => {
    series[b.hi] = { label: "max", stroke: "transparent", width: 0, points: { show: false }, scale: b.scale };
    series[b.lo] = { label: "min", stroke: "transparent", width: 0, points: { show: false }, scale: b.scale };
    return { series: [b.hi, b.lo], fill: alpha(b.color, "26") };
  });
  const scales = { y: names.filter((n) => axes[n] === "y"), y2: names.filter((n) => axes[n] === "y2") };
  const layout = [st.x, st.xmetric, st.logy, st.logx, chart.clip, series.slice(1).map((s) => (s ? s.stroke + s.width + s.points.show + s.scale : "-")).join(),
                  uBands.map((b) => b.series.join(":")).join()].join("|");
  return { data, series, bands: uBands, lines, notes, layout, scales };
}
