/* Charts by touch (uPlot 1.6 binds mouse events only): a tap shows the tooltip at that point (a
   tap elsewhere hides it), a horizontal swipe selects a range and zooms to it, two fingers pinch
   the x range, a double tap resets the zoom. A vertical swipe still scrolls the page
   (touch-action: pan-y in layout.css). One set of listeners on the document serves every chart. */
import { views } from "./data.js";
import { resetZoom, zoomTo } from "./zoom.js";

const MOVE = 10;         // px a finger may wander and still tap
const TAP_MS = 500;      // a longer press is not a tap
const DOUBLE_MS = 350;   // two taps this close reset the zoom

let gesture = null;      // the touch under way: { chart, x0, y0, t0, kind: "tap"|"drag"|"pinch", ... }
let shown = null;        // the chart whose tooltip a tap opened
let lastTap = null;      // { chart, t, x } of the previous tap, for the double tap

function chartAt(target) {
  const over = target.closest && target.closest(".chart-card .u-over");
  const card = over && over.closest(".chart-card");
  const view = card && views.get(card.closest("[data-charts]"));
  const chart = view && view.charts.get(card.dataset.metric);
  return chart && chart.plot && chart.plot.over === over ? chart : null;
}

const local = (u, t) => {
  const r = u.over.getBoundingClientRect();
  return { x: t.clientX - r.left, y: t.clientY - r.top };
};

function hideTip() {
  if (!shown) return;
  shown.hover = false;
  shown.tip.hidden = true;
  if (shown.plot) shown.plot.setCursor({ left: -10, top: -10 });
  shown = null;
}

function pinchRange(g, e) {       // keep the x values first under the two fingers under them
  const u = g.chart.plot, a = local(u, e.touches[0]).x, b = local(u, e.touches[1]).x;
  if (Math.abs(b - a) < 20) return null;
  const per = (g.v1 - g.v0) / (b - a), min = g.v0 - a * per;
  return { min, max: min + u.over.clientWidth * per };
}

document.addEventListener("touchstart", (e) => {
  const chart = chartAt(e.target);
  if (shown && shown !== chart) hideTip();
  if (!chart) { gesture = null; return; }
  const u = chart.plot;
  if (e.touches.length === 2) {
    const a = local(u, e.touches[0]).x, b = local(u, e.touches[1]).x;
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    gesture = { chart, kind: "pinch", v0: u.posToVal(a, "x"), v1: u.posToVal(b, "x"), range: null };
    return;
  }
  if (e.touches.length !== 1) { gesture = null; return; }
  const p = local(u, e.touches[0]);
  gesture = { chart, kind: "tap", x0: p.x, y0: p.y, x: p.x, t0: performance.now() };
}, { passive: true });

document.addEventListener("touchmove", (e) => {
  const g = gesture;
  if (!g || !g.chart.plot) return;
  const u = g.chart.plot;
  if (g.kind === "pinch") {
    if (e.touches.length < 2) return;
    const range = pinchRange(g, e);
    if (!range) return;
    g.range = range;
    g.chart.view.charts.forEach((c) => { if (c.plot) c.plot.setScale("x", range); });
    return;
  }
  const p = local(u, e.touches[0]);
  g.x = Math.min(Math.max(p.x, 0), u.over.clientWidth);
  if (g.kind === "tap" && Math.abs(p.x - g.x0) > MOVE && Math.abs(p.x - g.x0) > Math.abs(p.y - g.y0)) g.kind = "drag";
  else if (g.kind === "tap" && Math.abs(p.y - g.y0) > MOVE) { gesture = null; return; }   // the page scrolls
  if (g.kind === "drag") {
    const left = Math.min(g.x0, g.x);
    u.setSelect({ left, top: 0, width: Math.abs(g.x - g.x0), height: u.over.clientHeight }, false);
  }
}, { passive: true });

document.addEventListener("touchend", (e) => {
  const g = gesture;
  if (!g || !g.chart.plot || e.touches.length) return;
  gesture = null;
  const chart = g.chart, u = chart.plot, view = chart.view;
  e.preventDefault();             // no emulated mouse events after it: they would start uPlot's drag
  if (g.kind === "pinch") {
    if (g.range) zoomTo(view, g.range.min, g.range.max);
    return;
  }
  if (g.kind === "drag") {
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    const a = u.posToVal(Math.min(g.x0, g.x), "x"), b = u.posToVal(Math.max(g.x0, g.x), "x");
    if (Math.abs(g.x - g.x0) > MOVE) zoomTo(view, a, b);
    return;
  }
  const now = performance.now();
  if (now - g.t0 > TAP_MS) return;
  if (lastTap && lastTap.chart === chart && now - lastTap.t < DOUBLE_MS && Math.abs(lastTap.x - g.x0) < 3 * MOVE) {
    lastTap = null;
    hideTip();
    if (view.zoom) resetZoom(view);
    return;
  }
  lastTap = { chart, t: now, x: g.x0 };
  chart.hover = true;
  shown = chart;
  u.setCursor({ left: g.x0, top: g.y0 });   // its setCursor hook draws the tooltip (tooltip.js)
}, { passive: false });

document.addEventListener("touchcancel", () => {
  if (gesture && gesture.chart.plot) gesture.chart.plot.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
  gesture = null;
}, { passive: true });
