/* Compare view (/compare): the scatter plot (uPlot, one points-only series per run, created in
   htmx's load hook and destroyed on cleanup) and the live refresh of the table or scatter when a
   compared run changes. */
import { onReopen } from "./events.js";
import { hiddenRuns, onHiddenChange } from "./hidden.js";
import { onThemeChange } from "./theme.js";
import { cssVar, fmt, onCleanup, onLoad, within } from "./util.js";

const REFRESH_EVERY = 2000;   // ms: at most one re-fetch per window while runs train
const HIT = 12;               // px: how near the pointer must be to a point to pick it
export const plots = new Map();      // .compare-scatter element -> {plot, points, observer}

// Aligned data for uPlot: the sorted distinct x values, then one column per run that holds
// its y at its own x and null elsewhere (a points-only series draws just that point).
function columns(points) {
  const xs = Array.from(new Set(points.map((p) => p.x))).sort((a, b) => a - b);
  const at = new Map(xs.map((x, i) => [x, i]));
  return [xs].concat(points.map((p) => {
    const ys = new Array(xs.length).fill(null);
    ys[at.get(p.x)] = p.y;
    return ys;
  }));
}

// Tick labels: short numbers; on a log axis only the decades are labelled
function tick(v, log) {
  if (v == null) return "";
  if (log && Math.abs(Math.log10(v) - Math.round(Math.log10(v))) > 1e-6) return "";
  return fmt(v);
}

// Padded ranges, so points at the extremes are drawn whole (log: a fraction of the span in
// log space; a single value gets a decade each side)
function padded(log) {
  return (u, min, max) => {
    if (min == null || max == null) return [0, 1];
    if (log) {
      const f = min === max ? 10 : Math.pow(max / min, 0.08);
      return [min / f, max * f];
    }
    const pad = ((max - min) || Math.abs(min) || 1) * 0.08;
    return [min - pad, max + pad];
  };
}

function nearest(u, points) {
  const cx = u.cursor.left, cy = u.cursor.top;
  if (cx == null || cx < 0) return null;
  let best = null, bestD = HIT * HIT;
  points.forEach((p) => {
    const dx = u.valToPos(p.x, "x") - cx, dy = u.valToPos(p.y, "y") - cy;
    const d = dx * dx + dy * dy;
    if (d <= bestD) { best = p; bestD = d; }
  });
  return best;
}

function showTip(item, u, data) {
  const p = nearest(u, item.points);
  item.hover = p;
  u.over.classList.toggle("on-point", !!p);
  if (!p) { item.tip.hidden = true; return; }
  item.tip.textContent = p.name + "\n" + data.x + " = " + fmt(p.x) + "\n" + data.y + " = " + fmt(p.y);
  item.tip.hidden = false;
  const left = u.valToPos(p.x, "x") + u.over.offsetLeft + 14;
  const top = u.valToPos(p.y, "y") + u.over.offsetTop + 10;
  item.tip.style.left = Math.min(left, u.over.offsetLeft + u.over.clientWidth - item.tip.offsetWidth) + "px";
  item.tip.style.top = top + "px";
}

function drawScatter(el) {
  const holder = el.querySelector(".compare-plot");
  const script = el.querySelector("[data-scatter-data]");
  if (!holder || !script || plots.has(el)) return;
  const data = JSON.parse(script.textContent);
  const hidden = hiddenRuns();
  const shown = data.points.filter((p) => !hidden.has(p.id));
  data.points = shown.length ? shown : data.points;   // never every run: an empty plot tells nothing
  const muted = cssVar("--muted", "#666"), grid = cssVar("--grid", "#ddd");
  const item = { points: data.points, hover: null, tip: document.createElement("div") };
  const series = [{ label: data.x }].concat(data.points.map((p) => ({
    label: p.name, stroke: p.color, paths: () => null,
    points: { show: true, space: 0, size: 11, width: 1.5, stroke: p.color, fill: p.color + "cc" },
  })));
  const width = () => Math.max(300, holder.clientWidth);
  const axis = (label, log) => ({ label, stroke: muted, grid: { stroke: grid }, ticks: { stroke: grid }, size: 64,
                                   values: (u, splits) => splits.map((v) => tick(v, log)) });
  const opts = {
    width: width(), height: 380, legend: { show: false },
    scales: { x: { time: false, distr: data.log_x ? 3 : 1, log: 10, range: padded(data.log_x) },
              y: { distr: data.log_y ? 3 : 1, log: 10, range: padded(data.log_y) } },
    cursor: { x: false, y: false, points: { show: false }, drag: { x: false, y: false, setScale: false } },
    axes: [axis(data.x, data.log_x), axis(data.y, data.log_y)],
    series,
    hooks: { setCursor: [(u) => showTip(item, u, data)] },
  };
  item.plot = new uPlot(opts, columns(data.points), holder);
  item.tip.className = "compare-tip";
  item.tip.hidden = true;
  item.tip.setAttribute("role", "tooltip");
  item.plot.root.style.position = "relative";
  item.plot.root.appendChild(item.tip);
  item.plot.over.addEventListener("click", () => { if (item.hover) location.href = item.hover.url; });
  item.plot.over.addEventListener("mouseleave", () => { item.tip.hidden = true; item.hover = null; });
  item.observer = new ResizeObserver(() => {
    if (item.plot.width !== width()) item.plot.setSize({ width: width(), height: 380 });
  });
  item.observer.observe(holder);
  plots.set(el, item);
  el.dataset.drawn = String(data.points.length);
}

function destroy(el) {
  const item = plots.get(el);
  if (!item) return;
  item.observer.disconnect();
  item.plot.destroy();
  plots.delete(el);
}

// -- live: a compared run changed; re-fetch the table or scatter, leading and trailing edge
// (htmx's own `throttle:` drops the trailing event, so the last change could be missed)
let last = 0, timer = null;

function refresh() {
  timer = null;
  const live = document.getElementById("compare-live");
  if (!live || !live.dataset.refreshUrl) return;
  last = Date.now();
  htmx.ajax("GET", live.dataset.refreshUrl, { target: "#compare-live", select: "#compare-live", swap: "outerHTML" });
}

function schedule() {
  if (timer) return;
  timer = setTimeout(refresh, Math.max(0, last + REFRESH_EVERY - Date.now()));
}

document.body.addEventListener("sse:run", schedule);
document.body.addEventListener("sse:resync", schedule);
onReopen(schedule);   // a new stream after a break may have missed run events

onLoad((root) => within(root, "[data-compare-scatter]").forEach(drawScatter));
onHiddenChange(() => Array.from(plots.keys()).forEach((el) => { destroy(el); drawScatter(el); }));
onCleanup((gone) => {
  plots.forEach((_item, el) => { if (gone.contains(el)) destroy(el); });
});
// the axes' colours come from the theme: a theme switch redraws
onThemeChange(() => {
  Array.from(plots.keys()).forEach((el) => { destroy(el); drawScatter(el); });
});
