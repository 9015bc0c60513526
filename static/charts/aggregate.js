/* Group aggregates, pure: at each x of the union of the runs' x values, every run is linearly
   interpolated inside its own segments only (smooth.js: never across a gap or a restart, never
   beyond its ends), then the centre (mean or median) and a band (min-max, ± std, ± sem, or a
   95% confidence interval of the mean, Student's t) over the runs that have a value there. */
import { finite } from "../util.js";
import { segments } from "./smooth.js";

// Student's t at 97.5% for 1..30 degrees of freedom; beyond, the normal 1.96
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145,
              2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];
export const tQuantile = (df) => (df >= 1 && df <= 30 ? T975[df - 1] : 1.96);

function median(vals) {            // of a Float64Array (its sort is numeric)
  const v = vals.slice().sort(), h = v.length >> 1;
  return v.length % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
}

// Each member's value at every x of X (NaN where it has none), from its segments.
function valuesAt(m, X) {
  const out = new Float64Array(X.length).fill(NaN);
  segments(m.xs, m.ys, m.restarts).forEach(([a, b]) => {
    let k = 0;
    while (k < X.length && X[k] < m.xs[a]) k++;
    let j = a;
    for (; k < X.length && X[k] <= m.xs[b]; k++) {
      const x = X[k];
      while (j < b && m.xs[j + 1] <= x) j++;
      out[k] = m.xs[j] === x || j >= b ? m.ys[j] : m.ys[j] + (m.ys[j + 1] - m.ys[j]) * (x - m.xs[j]) / (m.xs[j + 1] - m.xs[j]);
    }
  });
  return out;
}

// {xs, centre, lo, hi, mean, std, n}: lo/hi is the band of `spread` (minmax | std | sem | ci)
// around the centre of `agg` (mean | median); null where no run has a value.
export function groupStats(members, agg = "mean", spread = "minmax") {
  const all = [];
  members.forEach((m) => m.xs.forEach((x, i) => { if (finite(m.ys[i])) all.push(x); }));
  all.sort((a, b) => a - b);
  const X = all.filter((x, i) => i === 0 || x !== all[i - 1]);
  const cols = members.map((m) => valuesAt(m, X)), M = cols.length, buf = new Float64Array(M);
  const out = { xs: X, centre: [], lo: [], hi: [], mean: [], std: [], n: [] };
  for (let k = 0; k < X.length; k++) {
    let n = 0;
    for (let j = 0; j < M; j++) { const v = cols[j][k]; if (v === v) buf[n++] = v; }   // NaN: no value there
    out.n.push(n);
    if (!n) { out.centre.push(null); out.lo.push(null); out.hi.push(null); out.mean.push(null); out.std.push(null); continue; }
    let sum = 0, mn = Infinity, mx = -Infinity;
    for (let j = 0; j < n; j++) { const v = buf[j]; sum += v; if (v < mn) mn = v; if (v > mx) mx = v; }
    const mean = sum / n;
    let ss = 0;
    for (let j = 0; j < n; j++) ss += (buf[j] - mean) ** 2;
    const std = n > 1 ? Math.sqrt(ss / (n - 1)) : 0;      // the sample standard deviation
    const centre = agg === "median" ? median(buf.subarray(0, n)) : mean;
    const half = spread === "std" ? std : spread === "sem" ? std / Math.sqrt(n)
      : spread === "ci" ? tQuantile(n - 1) * std / Math.sqrt(n) : null;
    out.centre.push(centre);
    out.mean.push(mean);
    out.std.push(std);
    out.lo.push(half === null ? mn : centre - half);
    out.hi.push(half === null ? mx : centre + half);
  }
  return out;
}
