/* The text around a chart: its notes, its title's "last" value, and the last/best table (from
   the full view's data, whatever the zoom). */
import { fmt } from "../util.js";
import { axisLabel, direction, fmtX, groupsOf } from "./data.js";
import { groupStats } from "./aggregate.js";
import { bestOf, lastFinite, sortedByX } from "./stats.js";

export function renderNotes(chart) {
  const el = chart.card.querySelector(".chart-note");
  const text = (chart.spec.notes || []).concat(chart.clipNote ? [chart.clipNote] : []).join(" · ");
  el.textContent = text;
  el.hidden = !text;
}

export function renderTitle(chart) {
  const view = chart.view, sub = chart.card.querySelector(".chart-title .sub");
  if (chart.combo) {
    const axes = chart.spec.scales || { y2: [] };
    sub.textContent = chart.combo.length + " metrics" + (axes.y2 && axes.y2.length ? " · right axis: " + axes.y2.join(", ") : "");
    return;
  }
  if (view.runs.length > 1) {
    const n = view.runs.filter((r) => view.data.get(r.id) && view.data.get(r.id).series[chart.name]).length;
    sub.textContent = n + " run" + (n === 1 ? "" : "s");
    return;
  }
  const base = view.data.get(view.runs[0].id), s = base && base.series[chart.name];
  if (!s) { sub.textContent = ""; return; }
  sub.textContent = "last " + fmt(lastFinite(s.y)) + " · " + s.count + " points" +
    (s.count > s.x.length ? " (" + s.x.length + " shown, min/max band kept)" : "");
}

function tableRows(view, name) {
  const way = direction(view, name), rows = [], per = [];
  view.runs.forEach((run) => {
    const base = view.data.get(run.id), s = base && base.series[name];
    if (!s || !s.x.length) return;
    const shift = view.state.x === "relative" ? base.t0 : 0;
    if (view.state.x === "relative" && shift === null) return;
    const xs = shift ? s.x.map((v) => v - shift) : s.x;
    per.push({ run, p: sortedByX({ xs, ys: s.y, lo: s.ymin || s.y, hi: s.ymax || s.y, restarts: s.restarts || [] }) });
  });
  if (view.state.agg !== "none" && view.runs.length > 1) {
    groupsOf(view).forEach((g) => {
      const members = per.filter(({ run }) => g.runs.includes(run));
      if (!members.length) return;
      const m = groupStats(members.map(({ p }) => p), view.state.agg);
      rows.push({ label: view.state.agg + " of " + g.label + " (" + members.length + ")", color: g.color, last: lastFinite(m.centre),
                  ...bestOf(m.xs, m.centre, m.centre, m.centre, way), group: true });
    });
  }
  per.forEach(({ run, p }) => {
    rows.push({ label: run.name, color: run.color, last: lastFinite(p.ys), ...bestOf(p.xs, p.ys, p.lo, p.hi, way) });
  });
  return { way, rows };
}

// a combined panel: one row per line drawn, each metric with its own direction
function comboRows(chart) {
  const view = chart.view, rows = [];
  (chart.spec && chart.spec.lines || []).forEach((l) => {
    if (l.kind === "member") return;
    rows.push({ label: l.label, color: l.color, last: lastFinite(l.ys), ...bestOf(l.xs, l.ys, l.ys, l.ys, direction(view, l.metric)),
                group: l.kind === "group" });
  });
  return { way: direction(view, chart.combo[0]), rows };
}

export function renderTable(chart) {
  const view = chart.view, table = chart.card.querySelector(".chart-table");
  const { way, rows } = chart.combo ? comboRows(chart) : tableRows(view, chart.name);
  const btn = table.querySelector(".better");
  btn.textContent = "best " + (way === "min" ? "(lowest)" : "(highest)") + " ⇅";
  btn.dataset.way = way;
  table.querySelector(".best-at").textContent = "at " + axisLabel(view).replace(" (s)", "");
  const body = table.querySelector("tbody");
  body.textContent = "";
  rows.forEach((r) => {
    const tr = document.createElement("tr");
    if (r.group) tr.className = "group-row";
    const name = document.createElement("td"), sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = r.color;
    name.append(sw, document.createTextNode(r.label));
    name.title = r.label;
    tr.append(name);
    [fmt(r.last), fmt(r.best), r.at === null ? "–" : fmtX(view, r.at)].forEach((text) => {
      const td = document.createElement("td");
      td.className = "num";
      td.textContent = text;
      tr.append(td);
    });
    body.append(tr);
  });
  table.hidden = !rows.length;
}
