/* A charts panel's view: its runs and state (read from the server-validated data attributes),
   their series (fetched from the metrics API), and the helpers every part of the charts shares. */
import { finite, fmt, fmtDuration, json } from "../util.js";
import { zoomFromUrl } from "./urlstate.js";

export const views = new Map();  // [data-charts] container -> its view (runs, state, data, zoom)
export const XMETRIC = "metric:";   // an x option naming a logged series: "metric:<name>"
export const AXIS_LABELS = { step: "step", epoch: "epoch", time: "time", relative: "time since start (s)" };
let seq = 0;

// the x axis' name: the chosen series (xmetric), else the axis
export const axisLabel = (view) => view.state.xmetric || AXIS_LABELS[view.state.x];

export function fmtX(view, v) {
  if (view.state.xmetric) return fmt(v);
  if (view.state.x === "relative") return fmtDuration(v);
  if (view.state.x === "time") return new Date(v * 1000).toLocaleString();
  return fmt(v);
}

export function readView(container) {
  const panel = container.closest(".charts-panel") || container.parentElement;
  const d = container.dataset;
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
      x: d.x || "step", smooth: Number(d.smooth) || 0, logy: d.logy === "1", logx: d.logx === "1", band: d.band !== "0",
      agg: d.agg || "none", spread: d.spread || "minmax", group: d.group || "auto", metric: d.metric || "",
      better: json(d.better, {}), fold: new Set(json(d.fold, [])),
      smoother: d.smoother || "ema", xmetric: d.xmetric || "", clip: d.clip === "1", clipq: Number(d.clipq) || 0,
      skip: Number(d.skip) || 0, clipc: new Set(json(d.clipc, [])), combo: json(d.combo, []), pin: json(d.pin, []),
    },
    picked: [],        // metrics picked for a new combined panel
    data: null, zoom: zoomFromUrl(), gen: 0, zoomGen: 0, loading: false, queue: [],
    charts: new Map(), items: [], sync: "tb-charts-" + (++seq), errors: [],
  };
}

export const apiAxis = (view) => (view.state.x === "relative" ? "time" : view.state.x);
export const direction = (view, name) => view.state.better[name] || (view.lower.test(name.toLowerCase()) ? "min" : "max");

export function groupsOf(view) {
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

// range: [start, end] of a zoom (always full resolution); coarse: a big run not parsed yet may
// answer at once with a sample ({coarse: true}), the full answer is then asked for again
// A log x axis: asked for, and the axis counts (step, epoch, a logged series; never wall time)
export function logX(view) {
  return view.state.logx && (view.state.xmetric || view.state.x === "step" || view.state.x === "epoch");
}

export async function fetchRun(view, run, range, coarse) {
  const u = new URL(run.url, location.href);
  u.searchParams.set("x", apiAxis(view));
  if (view.state.xmetric) u.searchParams.set("xmetric", view.state.xmetric);
  u.searchParams.set("points", String(view.points));
  if (logX(view)) u.searchParams.set("xscale", "log");   // buckets even in log x
  if (coarse) u.searchParams.set("coarse", "1");
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

// The series a view may use as x: in every run that logs it, its values never go down and it
// grows (tokens, samples seen). Judged on the step axis' points; the server checks every point.
export function monotoneSeries(view) {
  const verdict = new Map();
  view.data.forEach((d) => Object.entries(d.series).forEach(([name, s]) => {
    if (verdict.get(name) === false) return;
    let prev = null, first = null, ok = true;
    for (let i = 0; i < s.y.length && ok; i++) {
      const y = s.y[i];
      if (!finite(y)) continue;
      if (prev !== null && y < prev) ok = false;
      if (first === null) first = y;
      prev = y;
    }
    verdict.set(name, ok && prev !== null && prev > first);
  }));
  return Array.from(verdict.entries()).filter(([, ok]) => ok).map(([n]) => n).sort();
}

export function firstTime(series) {      // the run's first wall time: relative time counts from it
  let t0 = null;
  Object.values(series).forEach((s) => {
    for (const x of s.x) if (finite(x)) { if (t0 === null || x < t0) t0 = x; break; }
  });
  return t0;
}
