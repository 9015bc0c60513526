/* Smoothing, pure: TensorBoard's debiased EMA, a trailing running average and a Gaussian, each
   over the segments of a line only. A segment ends at a gap or a restart, so no smoothing (and
   no aggregate, aggregate.js) ever joins the two sides of one:
   - a gap: a non-finite point (null/NaN), or a jump in x over GAP times the line's median spacing;
   - a restart: an x the server names in `restarts` (where a purged run resumed, api.md). */
import { finite } from "../util.js";

export const GAP = 10;   // x jumps above 10x the usual spacing (an eval-only stretch, a missing chunk)

// starts[i] = 1 when point i begins a segment (the first point, after a gap or at a restart);
// a non-finite point belongs to no segment.
export function segmentStarts(xs, ys, restarts) {
  const n = xs.length, starts = new Uint8Array(n), dx = [];
  for (let i = 1; i < n; i++) if (finite(ys[i]) && finite(ys[i - 1]) && xs[i] > xs[i - 1]) dx.push(xs[i] - xs[i - 1]);
  dx.sort((a, b) => a - b);
  const limit = dx.length >= 3 ? GAP * dx[dx.length >> 1] : Infinity;
  const rs = (restarts || []).slice().sort((a, b) => a - b);
  let r = 0;
  for (let i = 0; i < n; i++) {
    if (!finite(ys[i])) continue;
    let start = i === 0 || !finite(ys[i - 1]) || xs[i] - xs[i - 1] > limit;
    while (r < rs.length && rs[r] <= xs[i]) { if (i > 0 && rs[r] > xs[i - 1]) start = true; r++; }
    if (start) starts[i] = 1;
  }
  return starts;
}

// The [first, last] index pairs of the segments (finite points only).
export function segments(xs, ys, restarts) {
  const starts = segmentStarts(xs, ys, restarts), out = [];
  let cur = null;
  for (let i = 0; i < xs.length; i++) {
    if (!finite(ys[i])) { cur = null; continue; }
    if (starts[i] || !cur) { cur = [i, i]; out.push(cur); } else cur[1] = i;
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
