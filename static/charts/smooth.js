/* Smoothing, pure: TensorBoard's debiased EMA, a trailing running average and a Gaussian, each
   over the segments of a line only. A segment ends at a gap or a restart, so no smoothing (and
   no aggregate, aggregate.js) ever joins the two sides of one:
   - a gap: a non-finite point (null/NaN), or a jump in x over GAP times the line's median spacing;
   - a restart: an x the server names in `restarts` (where a purged run resumed, api.md). */
export const GAP = 10;   // x jumps above 10x the usual spacing (an eval-only stretch, a missing chunk)

// The [first, last] index pairs of a line's segments; a non-finite point is in none. Plain
// loops (no per-point calls): a page load runs this cold, for every line and group member.
export function segments(xs, ys, restarts) {
  const n = xs.length, steps = new Float64Array(n), ok = Number.isFinite;
  let m = 0;
  for (let i = 1; i < n; i++) {
    const d = xs[i] - xs[i - 1];
    if (d > 0 && ok(ys[i]) && ok(ys[i - 1])) steps[m++] = d;
  }
  const limit = m >= 3 ? GAP * steps.subarray(0, m).sort()[m >> 1] : Infinity;   // typed: a numeric sort
  const rs = restarts && restarts.length ? Float64Array.from(restarts).sort() : null;
  const out = [];
  let cur = null, r = 0;
  for (let i = 0; i < n; i++) {
    if (!ok(ys[i])) { cur = null; continue; }
    let start = cur === null || xs[i] - xs[i - 1] > limit;
    if (rs) while (r < rs.length && rs[r] <= xs[i]) { if (i > 0 && rs[r] > xs[i - 1]) start = true; r++; }
    if (start) { cur = [i, i]; out.push(cur); } else cur[1] = i;
  }
  return out;
}

// TensorBoard's smoothing: last = last*w + (1-w)*y, shown as last / (1 - w^n), n counted from
// the segment's start.
function ema(ys, a, b, w, out) {
  let last = 0, n = 0;
  for (let i = a; i <= b; i++) {
    last = last * w + (1 - w) * ys[i];
    n++;
    out[i] = last / (1 - Math.pow(w, n));
  }
}

function runningAverage(ys, a, b, width, out) {     // the mean of the last `width` points
  let sum = 0;
  for (let i = a; i <= b; i++) {
    sum += ys[i];
    if (i - width >= a) sum -= ys[i - width];
    out[i] = sum / Math.min(width, i - a + 1);
  }
}

function gaussian(ys, a, b, width, out) {          // sigma = width / 2 points, cut at 3 sigma
  const sigma = Math.max(0.5, width / 2), reach = Math.ceil(3 * sigma);
  const k = Array.from({ length: reach + 1 }, (_v, d) => Math.exp(-0.5 * (d / sigma) ** 2));
  for (let i = a; i <= b; i++) {
    let sum = 0, wsum = 0;
    for (let j = Math.max(a, i - reach); j <= Math.min(b, i + reach); j++) {
      const wt = k[Math.abs(i - j)];
      sum += wt * ys[j];
      wsum += wt;
    }
    out[i] = sum / wsum;
  }
}

// The window of the running average and the Gaussian from the slider's 0..0.99: 1 / (1 - w)
// points (0.9 -> 10, 0.99 -> 100), the EMA's own memory.
export const windowOf = (w) => Math.max(1, Math.round(1 / (1 - w)));

// A line smoothed by `kind` (ema | avg | gauss) at strength w, segment by segment; a point in no
// segment (non-finite) stays null.
export function smooth(kind, xs, ys, w, restarts) {
  const out = new Array(ys.length).fill(null);
  segments(xs, ys, restarts).forEach(([a, b]) => {
    if (kind === "avg") runningAverage(ys, a, b, windowOf(w), out);
    else if (kind === "gauss") gaussian(ys, a, b, windowOf(w), out);
    else ema(ys, a, b, w, out);
  });
  return out;
}
