/* The chart card size, S/M/L: how narrow a card may get before a row holds one card fewer
   (--card-min, static/layout.css) and how tall its plot is. A preference of the screen rather
   than of the view, so it is kept in localStorage (a shared link opens at the reader's size)
   and applied to <html> before any chart is drawn. */
import { onLoad, within } from "../util.js";
import { views } from "./data.js";

const KEY = "tailboard.cardSize";
const HEIGHTS = { S: 170, M: 220, L: 300 };   // px of plot: S fits two rows on a laptop screen

function stored() {
  try {
    const s = localStorage.getItem(KEY);
    return Object.prototype.hasOwnProperty.call(HEIGHTS, s) ? s : "M";
  } catch (_e) { return "M"; }   // storage refused (privacy mode): the default
}

export function cardSize() { return document.documentElement.dataset.cardSize || "M"; }
export function plotHeight() { return HEIGHTS[cardSize()] || HEIGHTS.M; }

function apply(size) {
  document.documentElement.dataset.cardSize = size;
  within(document, "input[name=card-size]").forEach((r) => { r.checked = r.value === size; });
  // a new width reaches each plot through its ResizeObserver (plot.js); a new height alone
  // (one card per row on a phone) does not, so set it here
  views.forEach((view) => view.charts.forEach((c) => {
    if (c.plot && c.plot.height !== plotHeight()) c.plot.setSize({ width: c.plot.width, height: plotHeight() });
  }));
}

apply(stored());
onLoad((root) => {
  within(root, "input[name=card-size]").forEach((r) => { r.checked = r.value === cardSize(); });
});
document.addEventListener("change", (e) => {
  if (e.target.name !== "card-size" || !e.target.checked) return;
  try { localStorage.setItem(KEY, e.target.value); } catch (_e) { /* kept for this page only */ }
  apply(e.target.value);
});
