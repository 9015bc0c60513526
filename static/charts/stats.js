/* The arithmetic of the charts, pure: TensorBoard's smoothing, x alignment for uPlot, group
   means, last and best values, the nearest point to an x. */
import { finite } from "../util.js";

// TensorBoard's smoothing: an EMA debiased by 1 - w^n (n = finite points so far); a
// non-finite point is skipped (no value of its own), so it never poisons what follows.
export function ema(ys, w) {
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

// The mean of a group's runs: every run is linearly interpolated at each x of the union of
// their x values, inside its own x range only (no extrapolation). Also min, max and std.
export function groupStats(members) {
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
