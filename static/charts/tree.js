/* The charts of a view: the pinned charts first, then the combined panels, then the metric
   tree (one collapsible section per "/" prefix, a card per metric); the metric filter (pinned
   and combined charts always show); charts are drawn lazily, when their section is open. */
import { note } from "../util.js";
import { COMBO, card, comboKey } from "./card.js";
import { destroyCharts, draw, plotWidth } from "./plot.js";
import { writeUrl } from "./urlstate.js";

const TOP = ".";          // the section of metric names without a "/"

function treeOf(names) {
  const root = { path: TOP, label: "metrics", metrics: [], children: new Map() };
  names.forEach((name) => {
    const parts = name.split("/");
    let node = root;
    if (parts.length > 1) {
      for (let i = 0; i < parts.length - 1; i++) {
        const path = parts.slice(0, i + 1).join("/");
        if (!node.children.has(path)) node.children.set(path, { path, label: parts[i] || "(empty)", metrics: [], children: new Map() });
        node = node.children.get(path);
      }
    }
    node.metrics.push(name);
  });
  return root;
}

function countOf(node) {
  let n = node.metrics.length;
  node.children.forEach((c) => { n += countOf(c); });
  return n;
}

function section(view, node) {
  const det = document.createElement("details");
  det.className = "chart-group";
  det.dataset.path = node.path;
  det.open = !view.state.fold.has(node.path);
  const sum = document.createElement("summary");
  const label = document.createElement("span");
  label.textContent = node.label;
  const count = document.createElement("span");
  count.className = "chart-count";
  count.textContent = String(countOf(node));
  sum.append(label, " ", count);
  det.append(sum);
  if (node.metrics.length) {
    const grid = document.createElement("div");
    grid.className = "chart-grid";
    node.metrics.forEach((name) => grid.append(card(view, name)));
    det.append(grid);
  }
  node.children.forEach((child) => det.append(section(view, child)));
  det.addEventListener("toggle", () => {
    if (det.open !== view.state.fold.has(node.path)) return;   // our own initial state: nothing to write
    if (det.open) view.state.fold.delete(node.path); else view.state.fold.add(node.path);
    writeUrl(view);
    if (det.open) materialize(view);
  });
  return det;
}

export function build(view) {
  const t0 = performance.now();
  view.lastDraw = 0;
  view.theme = null;
  destroyCharts(view);
  view.el.textContent = "";
  const names = new Set();
  view.data.forEach((d) => Object.keys(d.series).forEach((n) => names.add(n)));
  view.errors.forEach((msg) => view.el.append(note("row-error", "Could not load " + msg)));
  if (!names.size) { view.el.append(note("empty", "No metrics yet.")); return; }
  const st = view.state, combos = st.combo.map(comboKey);
  const exists = (key) => (key.startsWith(COMBO) ? combos.includes(key) : names.has(key));
  const pins = st.pin.filter(exists);
  const flat = (path, label, metrics) => ({ path, label, metrics, children: new Map() });
  if (pins.length) view.el.append(section(view, flat("@pinned", "pinned", pins)));
  const unpinned = combos.filter((k) => !pins.includes(k));
  if (unpinned.length) view.el.append(section(view, flat("@combined", "combined", unpinned)));
  const root = treeOf(Array.from(names).filter((n) => !pins.includes(n)).sort());
  if (root.metrics.length) view.el.append(section(view, { ...root, children: new Map() }));
  root.children.forEach((child) => view.el.append(section(view, child)));
  applyFilter(view);
  view.t0 = t0;
  setTimeout(() => {              // uPlot paints in a microtask: this runs after every chart's
    if (view.lastDraw) view.el.dataset.drawMs = (view.lastDraw - t0).toFixed(1);
    view.el.dataset.drawnAt = performance.now().toFixed(1);   // since the page's navigation began
  }, 0);
}

// ---- the metric filter and lazy charts ---------------------------------------------------
function matcher(view) {
  const text = view.state.metric.trim(), err = view.panel.querySelector(".chart-filter-error");
  let test = () => true, problem = "";
  if (text) {
    try {
      const re = new RegExp(text, "i");
      test = (n) => re.test(n);
    } catch (e) {
      const low = text.toLowerCase();
      test = (n) => n.toLowerCase().includes(low);
      problem = "not a valid pattern (" + e.message + "): matching it as plain text";
    }
  }
  if (err) { err.textContent = problem; err.hidden = !problem; }
  return test;
}

export function applyFilter(view) {
  const test = matcher(view);
  view.charts.forEach((c) => { c.card.hidden = !c.keep && !test(c.name); });
  Array.from(view.el.querySelectorAll("details.chart-group")).reverse().forEach((det) => {
    det.hidden = !det.querySelector(".chart-card:not([hidden])");
  });
  materialize(view);
}

function shown(chart) {
  if (chart.card.hidden) return false;
  for (let d = chart.card.closest("details"); d; d = d.parentElement.closest("details")) {
    if (!d.open || d.hidden) return false;
  }
  return true;
}

export function materialize(view) {
  const todo = Array.from(view.charts.values()).filter((c) => !c.plot && !c.empty && shown(c));
  todo.forEach((c) => { c.width = plotWidth(c); });   // every width in one layout, before the plots dirty it
  todo.forEach((c) => draw(c, true));
  syncItems(view);
}

function syncItems(view) {          // what window.tailboard.charts shows: the drawn charts
  view.items.length = 0;
  view.charts.forEach((c) => { if (c.plot) view.items.push(c); });
  view.el.dataset.drawn = String(view.items.length);
}

export function redrawAll(view, resetScales) {
  view.charts.forEach((c) => { if (c.plot || c.empty) { c.empty = false; draw(c, resetScales); } });
  materialize(view);
}
