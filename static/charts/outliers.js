/* The outlier-proof y scale: y spans the clipq..(100 - clipq) percentiles of the points in view
   (inside the x range shown, past each line's first `skip` x units), not their min and max, so
   one spike no longer flattens the curve. A point beyond the range is never dropped: uPlot
   clips its line at the plot's edge and a triangle in the line's colour marks it there (▲ above,
   ▼ below), and the chart's note counts them. */

// The q-th percentile (0..100) of sorted values, linearly interpolated.
export function percentile(sorted, q) {
  if (!sorted.length) return null;
  const at = (q / 100) * (sorted.length - 1), i = Math.floor(at), f = at - i;
  return i + 1 < sorted.length ? sorted[i] + f * (sorted[i + 1] - sorted[i]) : sorted[i];
}

// [lo, hi] of the clipq..(100 - clipq) percentiles of `values`, padded by 5% (in log10 on a log
// axis); null when there is nothing to scale by.
export function clippedRange(values, clipq, log) {
  const v = Float64Array.from(log ? values.filter((y) => y > 0).map(Math.log10) : values).sort();
  if (!v.length) return null;
  let lo = percentile(v, clipq), hi = percentile(v, 100 - clipq);
  const pad = hi > lo ? (hi - lo) * 0.05 : Math.abs(hi) * 0.1 || 1;
  lo -= pad;
  hi += pad;
  return log ? [10 ** lo, 10 ** hi] : [lo, hi];
}

// The plotted columns of a chart (raw and smoothed lines) on one y scale, with where each
// line's scaling starts (its first x + skip).
function columns(chart, key) {
  const out = [];
  chart.spec.lines.forEach((l) => {
    if ((l.scale || "y") !== key || !l.xs.length) return;
    const from = l.xs[0] + (chart.view.state.skip || 0);
    out.push({ col: l.col, from, color: l.color });
    if (l.smCol) out.push({ col: l.smCol, from, color: l.color });
  });
  return out;
}

// uPlot's `range` for a clipped y scale: called with the x window already chosen (series[0].idxs).
export function rangeFn(chart) {
  return (u, dmin, dmax, key) => {
    const log = chart.view.state.logy, [i0, i1] = u.series[0].idxs || [0, u.data[0].length - 1];
    const vals = [], xs = u.data[0];
    columns(chart, key).forEach(({ col, from }) => {
      const ys = u.data[col];
      for (let i = i0; i <= i1; i++) if (xs[i] >= from && Number.isFinite(ys[i])) vals.push(ys[i]);
    });
    const r = clippedRange(vals, chart.view.state.clipq, log);
    if (r) return r;
    if (dmin === null || dmax === null) return [0, 1];
    return log ? uPlot.rangeLog(dmin, dmax, 10, true) : uPlot.rangeNum(dmin, dmax, 0.1, true);
  };
}

// uPlot's draw hook: a triangle at the edge for each point beyond the y range (one per pixel
// column and line), counted in chart.clipped and the chart's note.
export function markClipped(chart, u, onCount) {
  const ctx = u.ctx, xs = u.data[0], [i0, i1] = u.series[0].idxs || [0, xs.length - 1];
  const { left, top, width, height } = u.bbox, s = 4 * devicePixelRatio;
  let above = 0, below = 0;
  const marks = [];
  ["y", "y2"].forEach((key) => {
    const sc = u.scales[key];
    if (!sc || sc.min === null || sc.min === undefined) return;
    columns(chart, key).forEach(({ col, color }) => {
      const ys = u.data[col], seen = new Set();
      for (let i = i0; i <= i1; i++) {
        const y = ys[i];
        if (!Number.isFinite(y) || (y >= sc.min && y <= sc.max)) continue;
        const up = y > sc.max;
        if (up) above++; else below++;
        const px = Math.round(u.valToPos(xs[i], "x", true));
        if (px < left || px > left + width || seen.has(px * 2 + up)) continue;
        seen.add(px * 2 + up);
        marks.push({ x: xs[i], y, up, px, color });
      }
    });
  });
  ctx.save();
  marks.forEach(({ up, px, color }) => {
    const edge = up ? top : top + height;
    ctx.fillStyle = color;
    ctx.beginPath();
    ctx.moveTo(px, up ? edge : edge - 0);
    ctx.lineTo(px - s, up ? edge + 1.6 * s : edge - 1.6 * s);
    ctx.lineTo(px + s, up ? edge + 1.6 * s : edge - 1.6 * s);
    ctx.closePath();
    ctx.fill();
  });
  ctx.restore();
  chart.marks = marks;
  onCount(above, below);
}
