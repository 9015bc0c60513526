/* What one chart draws: uPlot data (x, then columns), its series and bands, the lines (for the
   tooltip, the table, the exports) and notes, from the view's data and state. */
import { finite } from "../util.js";
import { AXIS_LABELS, groupsOf } from "./data.js";
import { ema, groupStats, join, sortedByX } from "./stats.js";

export function sourceOf(view, run, name) {
  const z = view.zoom && view.zoom.data && view.zoom.data.get(run.id);
  const base = view.data.get(run.id);
  return z ? z.series[name] : base && base.series[name];
}

export function pointsOf(view, run, s, notes) {
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
export function compose(view, name) {
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
