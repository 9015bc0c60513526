/* Loading a view's series, and live `metrics` deltas appended in place; what cannot be appended
   re-fetches. The page's event stream hands them over (events.js). */
import { onEvent, onReopen } from "../events.js";
import { note } from "../util.js";
import { XMETRIC, apiAxis, fetchRun, firstTime, monotoneSeries, views } from "./data.js";
import { renderTable } from "./legend.js";
import { destroyCharts, draw } from "./plot.js";
import { build, materialize } from "./tree.js";
import { zoomTo } from "./zoom.js";

export async function load(view) {
  const gen = ++view.gen;
  const zoom = view.zoom;
  view.zoomGen++;      // a zoom fetch still out was asked of the old data
  view.loading = true;
  const results = await Promise.allSettled(view.runs.map((r) => fetchRun(view, r, null, true)));
  if (gen !== view.gen || views.get(view.el) !== view) return;
  view.loading = false;
  view.errors = [];
  delete view.el.dataset.coarse;
  const data = new Map(), coarse = [];
  results.forEach((res, i) => {
    if (res.status === "fulfilled") {
      data.set(view.runs[i].id, { series: res.value.series, t0: firstTime(res.value.series) });
      if (res.value.coarse) coarse.push(view.runs[i]);
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
  offerXSeries(view);
  if (coarse.length) { refine(view, coarse, gen); return; }   // live deltas wait for full resolution
  const queued = view.queue.splice(0);
  if (queued.some((msg) => !appendDelta(view, msg))) { load(view); return; }
  if (zoom) zoomTo(view, zoom.min, zoom.max);   // a reload keeps the user's zoom
}

// The x axis menu offers the series that grow with the step (tokens, samples seen).
function offerXSeries(view) {
  const sel = view.panel.querySelector("select.x-axis");
  if (!sel) return;
  let group = sel.querySelector("optgroup.x-series");
  if (!group) {
    group = document.createElement("optgroup");
    group.className = "x-series";
    group.label = "a logged series (joined by step)";
    sel.append(group);
  }
  const names = new Set(monotoneSeries(view));
  if (view.state.xmetric) names.add(view.state.xmetric);
  Array.from(group.querySelectorAll("option")).forEach((o) => { if (o.value.startsWith(XMETRIC)) names.add(o.value.slice(XMETRIC.length)); });
  group.textContent = "";
  Array.from(names).sort().forEach((name) => {
    const o = document.createElement("option");
    o.value = XMETRIC + name;
    o.textContent = name;
    o.selected = name === view.state.xmetric;
    group.append(o);
  });
  group.hidden = !names.size;
}

// A coarse answer (a sample of a big run the server is still parsing) is drawn at once; the
// full one is asked for now (the server answers it when parsed) and swapped in place: same
// charts, setData, the user's zoom kept. A metric the sample missed rebuilds the tree.
async function refine(view, runs, gen) {
  view.loading = true;
  view.el.dataset.coarse = "1";
  const results = await Promise.allSettled(runs.map((r) => fetchRun(view, r)));
  if (gen !== view.gen || views.get(view.el) !== view) return;
  view.loading = false;
  delete view.el.dataset.coarse;
  const names = new Set(view.charts.keys());
  let grew = false;
  results.forEach((res, i) => {
    if (res.status !== "fulfilled") { view.errors.push(res.reason.message); return; }
    const series = res.value.series;
    view.data.set(runs[i].id, { series, t0: firstTime(series) });
    if (Object.keys(series).some((n) => !names.has(n))) grew = true;
  });
  const zoom = view.zoom;
  if (grew) { build(view); if (zoom) zoomTo(view, zoom.min, zoom.max); }
  else view.charts.forEach((c) => { if (c.plot || c.empty) draw(c, !view.zoom); });
  materialize(view);
  offerXSeries(view);
  view.el.dataset.refined = String(Number(view.el.dataset.refined || 0) + 1);
  const queued = view.queue.splice(0);
  if (queued.some((msg) => !appendDelta(view, msg))) load(view);
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
    if (view.state.xmetric && skip < d.y.length) return false;   // new points: the server joins them to the x series by step
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
  view.charts.forEach((c) => {     // a metric's chart, and each combined panel that holds it
    if (!(c.combo || [c.name]).some((n) => dirty.includes(n))) return;
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

export function reloadAll() { views.forEach((view) => load(view)); }

onEvent("metrics", applyMetrics);
onEvent("resync", reloadAll);
onReopen(reloadAll);   // a new stream after a break: points may have been missed
