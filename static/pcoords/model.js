/* Parallel coordinates, the model (no DOM): axes from /api/compare/params, their scales and
   ticks, which runs pass the brushes, the colour scale, and the view's state in the URL.

   URL state (every parameter optional; the defaults give "only what differs", last values,
   run colours, automatic log axes, no brush):
     pca=<key>       repeatable: the axes shown, in order (absent: every axis that differs)
     pcv=best        metrics at their best value (default: last)
     pcc=<key>       colour the lines by that numeric axis (default: each run's own colour)
     pclog=1:<key>   repeatable: log on (1) or off (0) for a numeric axis, overriding the auto
     pcb=<json>      repeatable: a brush, ["<key>", lo, hi] on a numeric axis,
                     ["<key>", ["a", "b"]] on a categorical one (the categories kept) */
import { finite, fmt } from "../util.js";

export const PARAMS = ["pca", "pcv", "pcc", "pclog", "pcb"];
const AUTO_LOG_SPAN = 100;   // a positive axis spanning more than 2 decades is log by default (lr)

// A value as a category label: text as is, anything else as JSON (true, [1, 2], {"a": 1})
export function label(v) { return typeof v === "string" ? v : JSON.stringify(v); }

// ---- state <-> URL ------------------------------------------------------------------

export function readState(params) {
  const log = new Map();
  params.getAll("pclog").forEach((v) => {
    const on = v.slice(0, 2);
    if (on === "1:" || on === "0:") log.set(v.slice(2), on === "1:");
  });
  const brushes = new Map();
  params.getAll("pcb").forEach((raw) => {
    try {
      const b = JSON.parse(raw);
      if (!Array.isArray(b) || typeof b[0] !== "string") return;
      if (Array.isArray(b[1])) brushes.set(b[0], { cats: new Set(b[1].map(String)) });
      else if (typeof b[1] === "number" && typeof b[2] === "number") {
        brushes.set(b[0], { lo: Math.min(b[1], b[2]), hi: Math.max(b[1], b[2]) });
      }
    } catch (_e) { /* a hand-edited brush: ignored */ }
  });
  return {
    axes: params.has("pca") ? params.getAll("pca") : null,
    mode: params.get("pcv") === "best" ? "best" : "last",
    colorBy: params.get("pcc") || "",
    log, brushes,
  };
}

export function writeState(params, st) {
  PARAMS.forEach((k) => params.delete(k));
  if (st.axes) st.axes.forEach((k) => params.append("pca", k));
  if (st.mode === "best") params.set("pcv", "best");
  if (st.colorBy) params.set("pcc", st.colorBy);
  st.log.forEach((on, k) => params.append("pclog", (on ? "1:" : "0:") + k));
  st.brushes.forEach((b, k) => {
    params.append("pcb", JSON.stringify(b.cats ? [k, Array.from(b.cats)] : [k, b.lo, b.hi]));
  });
  return params;
}

// ---- axes ---------------------------------------------------------------------------

// Every axis the data offers, with each run's value in the chosen mode (metrics: last or best)
export function allAxes(data, st) {
  return data.axes.map((a) => {
    const vals = a.values.map((v, i) => {
      if (!a.present[i]) return undefined;
      if (a.section === "metrics" && st.mode === "best") return a.best[i] === null ? undefined : a.best[i];
      return v;
    });
    return makeAxis(a, vals, st);
  });
}

function makeAxis(a, vals, st) {
  const given = vals.filter((v) => v !== undefined);
  const numeric = given.length > 0 && given.every((v) => v === null || typeof v === "number");
  const axis = { key: a.key, name: a.name, section: a.section, differs: a.differs, vals, better: a.better };
  if (numeric) {
    const nums = given.filter(finite);
    const lo = nums.length ? Math.min(...nums) : 0, hi = nums.length ? Math.max(...nums) : 1;
    const canLog = nums.length > 0 && lo > 0;
    const auto = canLog && hi / lo > AUTO_LOG_SPAN;
    const want = st.log.has(a.key) ? st.log.get(a.key) : auto;
    Object.assign(axis, { kind: "num", lo, hi, canLog, log: want && canLog });
  } else {
    const cats = Array.from(new Set(given.map(label))).sort((x, y) => x.localeCompare(y, undefined, { numeric: true }));
    Object.assign(axis, { kind: "cat", cats });
  }
  return axis;
}

// The axes shown: the URL's list (unknown keys dropped), else every one that differs
// (every one when none differs, so a single run still draws)
export function shownAxes(all, st) {
  const byKey = new Map(all.map((a) => [a.key, a]));
  if (st.axes) return st.axes.map((k) => byKey.get(k)).filter(Boolean);
  const differing = all.filter((a) => a.differs);
  return differing.length ? differing : all.slice(0, 8);
}

// Position of the i-th category: evenly spread, a lone one in the middle
const catPos = (axis, i) => (axis.cats.length === 1 ? 0.5 : i / (axis.cats.length - 1));

// Position of a value on an axis, 0 (bottom) to 1 (top); null when the run has no usable value
export function position(axis, v) {
  if (v === undefined || v === null) return null;
  if (axis.kind === "cat") {
    const i = axis.cats.indexOf(label(v));
    return i < 0 ? null : catPos(axis, i);
  }
  if (!finite(v)) return null;
  if (axis.log) {
    if (v <= 0) return null;
    const a = Math.log10(axis.lo), b = Math.log10(axis.hi);
    return b === a ? 0.5 : (Math.log10(v) - a) / (b - a);
  }
  return axis.hi === axis.lo ? 0.5 : (v - axis.lo) / (axis.hi - axis.lo);
}

// The value at a position (a numeric axis): the brush's ends in data units
export function valueAt(axis, t) {
  if (axis.log) {
    const a = Math.log10(axis.lo), b = Math.log10(axis.hi);
    return Math.pow(10, a + t * (b - a));
  }
  return axis.lo + t * (axis.hi - axis.lo);
}

// Ticks as [position, text]: categories; decades on a log axis; about 5 round values otherwise
export function ticks(axis) {
  if (axis.kind === "cat") return axis.cats.map((c, i) => [catPos(axis, i), c.length > 18 ? c.slice(0, 17) + "…" : c]);
  if (axis.lo === axis.hi) return [[0.5, fmt(axis.lo)]];
  if (axis.log) {
    const out = [];
    for (let e = Math.floor(Math.log10(axis.lo)); e <= Math.ceil(Math.log10(axis.hi)); e++) {
      const v = Math.pow(10, e), p = position(axis, v);
      if (p !== null && p >= -1e-9 && p <= 1 + 1e-9) out.push([p, fmt(v)]);
    }
    return out.length >= 2 ? out : [[0, fmt(axis.lo)], [1, fmt(axis.hi)]];
  }
  const span = axis.hi - axis.lo, raw = span / 4, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => span / s <= 5) || 10 * mag;
  const out = [];
  for (let v = Math.ceil(axis.lo / step) * step; v <= axis.hi + step * 1e-9; v += step) {
    out.push([position(axis, v), fmt(+v.toPrecision(12))]);
  }
  return out;
}

// ---- brushing -----------------------------------------------------------------------

// Does run i pass every brush of the shown axes? (a run without the value fails a brushed axis)
export function passes(axes, brushes, i) {
  for (const axis of axes) {
    const b = brushes.get(axis.key);
    if (!b) continue;
    const v = axis.vals[i];
    if (v === undefined || v === null) return false;
    if (b.cats) { if (!b.cats.has(label(v))) return false; }
    else if (!(finite(v) && v >= b.lo && v <= b.hi)) return false;
  }
  return true;
}

// A brush from a dragged span of positions [t0, t1] (0..1) on an axis
export function brushFrom(axis, t0, t1) {
  const lo = Math.min(t0, t1), hi = Math.max(t0, t1);
  if (axis.kind === "cat") {
    return { cats: new Set(axis.cats.filter((_c, i) => catPos(axis, i) >= lo && catPos(axis, i) <= hi)) };
  }
  return { lo: valueAt(axis, lo), hi: valueAt(axis, hi) };
}

// The positions a brush covers (to draw it)
export function brushSpan(axis, b) {
  if (!b.cats) {
    const a = position(axis, Math.max(b.lo, axis.log ? axis.lo : -Infinity)), z = position(axis, b.hi);
    return [Math.max(0, Math.min(1, a === null ? 0 : a)), Math.max(0, Math.min(1, z === null ? 1 : z))];
  }
  const ps = axis.cats.map((c, i) => (b.cats.has(c) ? catPos(axis, i) : null)).filter((p) => p !== null);
  if (!ps.length) return null;
  const pad = axis.cats.length > 1 ? 0.25 / (axis.cats.length - 1) : 0.1;
  return [Math.max(0, Math.min(...ps) - pad), Math.min(1, Math.max(...ps) + pad)];
}

// ---- colour scale -------------------------------------------------------------------

const RAMP = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];  // viridis

export function ramp(t) {
  const x = Math.max(0, Math.min(1, t)) * (RAMP.length - 1), i = Math.min(RAMP.length - 2, Math.floor(x)), f = x - i;
  const c = RAMP[i].map((v, k) => Math.round(v + (RAMP[i + 1][k] - v) * f));
  return "#" + c.map((v) => v.toString(16).padStart(2, "0")).join("");
}
