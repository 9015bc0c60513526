/* One chart's uPlot: its options (axes in the theme's colours, a synced cursor, drag to zoom),
   drawn or redrawn (setData when only values changed, a new plot otherwise), and destroyed. */
import { cssVar, fmt, fmtDuration } from "../util.js";
import { compose } from "./compose.js";
import { logX } from "./data.js";
import { renderNotes, renderTable, renderTitle } from "./legend.js";
import { plotHeight } from "./size.js";
import { markClipped, rangeFn } from "./outliers.js";
import { tooltip } from "./tooltip.js";
import { resetZoom, zoomTo } from "./zoom.js";

export function plotWidth(chart) { return Math.max(160, chart.card.clientWidth - 16); }   // S cards are 220 px (layout.css)

function theme(view) {             // read once per build: getComputedStyle forces a style pass
  if (!view.theme) view.theme = { muted: cssVar("--muted", "#666"), grid: cssVar("--grid", "#eee") };
  return view.theme;
}

function yScale(view, chart) {
  const sc = view.state.logy ? { distr: 3, log: 10 } : {};
  if (chart.clip) sc.range = rangeFn(chart);
  return sc;
}

function clipNote(chart, above, below) {
  const q = chart.view.state.clipq, text = "outlier-proof y (" + q + "–" + (100 - q) + "% of the points in view)" +
    (above || below ? ": " + [above ? above + " above ▲" : "", below ? below + " below ▼" : ""].filter(Boolean).join(", ") +
      " marked at the edge" : "");
  if (text === chart.clipNote) return;
  chart.clipNote = text;
  renderNotes(chart);
}

function options(view, chart, spec) {
  const { muted, grid } = theme(view);
  const relative = view.state.x === "relative", two = spec.scales && spec.scales.y2.length > 0;
  const yValues = (u, vals) => vals.map((v) => (v === null ? "" : fmt(v)));
  const yAxis = (scale, side) => ({ scale, side, stroke: muted, grid: { stroke: grid, width: 1, show: side === 3 },
                                    ticks: { stroke: grid, width: 1 }, size: 60, values: yValues,
                                    ...(chart.combo ? { label: spec.scales[scale].join(", "), labelSize: 16 } : {}) });
  const scales = { x: logX(view) ? { distr: 3, log: 10 } : { time: view.state.x === "time" }, y: yScale(view, chart) };
  if (two) scales.y2 = yScale(view, chart);
  return {
    width: chart.width || plotWidth(chart), height: plotHeight(), legend: { show: false },
    scales,
    axes: [
      { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 },
        values: relative ? (u, vals) => vals.map(fmtDuration) : undefined },
      yAxis("y", 3),
      ...(two ? [yAxis("y2", 1)] : []),
    ],
    series: spec.series.map((s) => s || { show: false }),
    bands: spec.bands,
    cursor: {
      sync: { key: view.sync, setSeries: false, filters: { pub: (type) => type !== "mousedown" && type !== "mouseup" } },
      drag: { x: true, y: false, setScale: false },
      bind: { dblclick: () => () => { resetZoom(view); return null; } },
      points: { show: false },
    },
    hooks: {
      setSelect: [(u) => {
        if (view.dragChart === chart && u.select.width > 2) {
          zoomTo(view, u.posToVal(u.select.left, "x"), u.posToVal(u.select.left + u.select.width, "x"));
        }
        u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
      }],
      setCursor: [(u) => tooltip(chart, u)],
      draw: [(u) => {
        if (chart.clip) markClipped(chart, u, (above, below) => clipNote(chart, above, below));
        view.lastDraw = performance.now();
      }],
    },
  };
}

// Draw (or redraw) one chart: setData when only values changed, a new plot otherwise.
export function draw(chart, resetScales) {
  const view = chart.view, st = view.state;
  chart.clip = st.clip !== st.clipc.has(chart.name);   // the page's setting, or this chart's exception
  if (!chart.clip) { chart.clipNote = ""; chart.marks = []; }
  const spec = compose(view, chart);
  chart.spec = spec;
  renderNotes(chart);
  renderTable(chart);
  renderTitle(chart);
  if (spec.empty) {
    dropPlot(chart);
    chart.empty = true;
    chart.plotDiv.textContent = spec.empty;
    return;
  }
  chart.empty = false;
  if (chart.plot && chart.layout === spec.layout) {
    chart.plot.setData(spec.data, resetScales || !view.zoom);
    if (view.zoom && !resetScales) chart.plot.setScale("x", { min: view.zoom.min, max: view.zoom.max });
    return;
  }
  dropPlot(chart);
  chart.plotDiv.textContent = "";
  chart.plot = new uPlot(options(view, chart, spec), spec.data, chart.plotDiv);
  chart.width = 0;   // measured for this plot only: a later one measures again
  chart.layout = spec.layout;
  if (view.zoom) chart.plot.setScale("x", { min: view.zoom.min, max: view.zoom.max });
  chart.plot.over.addEventListener("mouseenter", () => { chart.hover = true; });
  chart.plot.over.addEventListener("mousedown", () => { view.dragChart = chart; });
  chart.plot.over.addEventListener("mouseleave", () => { chart.hover = false; chart.tip.hidden = true; });
  chart.observer = new ResizeObserver(() => {     // the card's width follows the grid (layout.css)
    const w = chart.card.clientWidth && plotWidth(chart), h = plotHeight();
    if (chart.plot && w && (w !== chart.plot.width || h !== chart.plot.height)) chart.plot.setSize({ width: w, height: h });
  });
  chart.observer.observe(chart.card);
}

export function dropPlot(chart) {
  if (chart.observer) chart.observer.disconnect();
  if (chart.plot) chart.plot.destroy();
  chart.plot = null;
  chart.observer = null;
  chart.layout = "";
}

export function destroyCharts(view) {
  view.charts.forEach(dropPlot);
  view.charts.clear();
  view.items.length = 0;
}
