/* The tooltip: the runs at the cursor's x, best first. */
import { finite, fmt } from "../util.js";
import { axisLabel, direction, fmtX } from "./data.js";
import { nearest } from "./stats.js";

export function tooltip(chart, u) {
  const tip = chart.tip, idx = u.cursor.idx;
  if (!chart.hover || idx === null || idx === undefined || u.cursor.left < 0 || !chart.spec || !chart.spec.lines) {
    tip.hidden = true;
    return;
  }
  const view = chart.view, x = u.data[0][idx], way = direction(view, chart.combo ? chart.combo[0] : chart.name);
  const rows = [];
  chart.spec.lines.forEach((l) => {
    if (!l.xs.length || x < l.xs[0] || x > l.xs[l.xs.length - 1]) return;   // outside this run
    const k = nearest(l.xs, x);
    rows.push({ l, y: l.ys[k], s: l.sm ? l.sm[k] : null });
  });
  const key = (r) => (finite(r.s) ? r.s : finite(r.y) ? r.y : null);
  if (!chart.combo) rows.sort((a, b) => {   // a combined panel keeps its lines' order: metrics differ
    const ka = key(a), kb = key(b);
    if (ka === null || kb === null) return (ka === null) - (kb === null);
    return way === "min" ? ka - kb : kb - ka;
  });
  tip.textContent = "";
  const head = document.createElement("div");
  head.className = "tip-x";
  head.textContent = axisLabel(view).replace(" (s)", "") + " " + fmtX(view, x);
  tip.append(head);
  rows.forEach(({ l, y, s }) => {
    const row = document.createElement("div");
    row.className = "tip-row" + (l.kind === "member" ? " faint" : "");
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = l.color;
    const name = document.createElement("span");
    name.className = "tip-name";
    name.textContent = l.label;
    const val = document.createElement("span");
    val.className = "tip-val";
    val.textContent = l.sm ? fmt(s) + " (raw " + fmt(y) + ")" : fmt(y);
    row.append(sw, name, val);
    tip.append(row);
  });
  tip.hidden = false;
  const ob = u.over.getBoundingClientRect(), cb = chart.card.getBoundingClientRect();
  const left = ob.left - cb.left + u.cursor.left, top = ob.top - cb.top + u.cursor.top;
  const room = chart.card.clientWidth - tip.offsetWidth - 8;
  tip.style.left = Math.max(4, left + 14 > room ? left - tip.offsetWidth - 14 : left + 14) + "px";
  tip.style.top = Math.max(4, top - tip.offsetHeight / 2) + "px";
}
