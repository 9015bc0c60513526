/* The arithmetic of the charts, pure: x alignment for uPlot, last and best values, the nearest
   point to an x. Smoothing is in smooth.js, group aggregates in aggregate.js. */
import { finite } from "../util.js";

export function sortedByX(p) {         // points sorted by x (stable); most series already are
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
export function join(tables) {
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

export function lastFinite(ys) {
  for (let i = ys.length - 1; i >= 0; i--) if (finite(ys[i])) return ys[i];
  return null;
}

export function bestOf(xs, ys, lo, hi, way) {
  let best = null, at = null;
  const vals = way === "min" ? lo : hi;
  for (let i = 0; i < xs.length; i++) {
    const v = finite(vals[i]) ? vals[i] : ys[i];
    if (!finite(v)) continue;
    if (best === null || (way === "min" ? v < best : v > best)) { best = v; at = xs[i]; }
  }
  return { best, at };
}

export function nearest(xs, x) {
  let lo = 0, hi = xs.length - 1;
  if (hi < 0) return -1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < x) lo = mid + 1; else hi = mid;
  }
  return lo > 0 && Math.abs(xs[lo - 1] - x) <= Math.abs(xs[lo] - x) ? lo - 1 : lo;
}
