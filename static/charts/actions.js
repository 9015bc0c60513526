/* The chart cards' buttons and the toolbar's "combine": pin a chart to the top, switch one
   chart's outlier-proof y, pick metrics and combine them into one panel, remove a panel,
   export. Pins and combined panels are kept in the URL (pin=, combo=), so a link shows them. */
import { comboKey } from "./card.js";
import { views } from "./data.js";
import { exportCsv, exportPng } from "./export.js";
import { draw } from "./plot.js";
import { build } from "./tree.js";
import { writeUrl } from "./urlstate.js";

function viewOf(el) {
  const panel = el.closest(".charts-panel"), container = panel && panel.querySelector("[data-charts]");
  return container && views.get(container);
}

export function renderPicked(view) {
  const b = view.panel.querySelector(".chart-controls button[name=combine]");
  if (!b) return;
  b.disabled = view.picked.length < 2;
  b.textContent = "combine " + (view.picked.length ? view.picked.length + " picked" : "(pick with + combine)");
  b.title = view.picked.join(", ");
}

function toggle(list, key) {
  const i = list.indexOf(key);
  if (i >= 0) list.splice(i, 1); else list.push(key);
}

function rebuild(view) {
  writeUrl(view);
  build(view);
}

function onCard(view, chart, act, btn) {
  const st = view.state, key = chart.name;
  switch (act) {
    case "png": exportPng(chart); return;
    case "csv": exportCsv(chart); return;
    case "pin": toggle(st.pin, key); rebuild(view); return;
    case "clip":
      if (st.clipc.has(key)) st.clipc.delete(key); else st.clipc.add(key);
      writeUrl(view);
      btn.setAttribute("aria-pressed", String(st.clip !== st.clipc.has(key)));
      if (chart.plot || chart.empty) draw(chart, !view.zoom);
      return;
    case "pick":
      toggle(view.picked, key);
      btn.setAttribute("aria-pressed", String(view.picked.includes(key)));
      renderPicked(view);
      return;
    case "remove":
      st.combo = st.combo.filter((names) => comboKey(names) !== key);
      st.pin = st.pin.filter((k) => k !== key);
      st.clipc.delete(key);
      rebuild(view);
      return;
    default:
  }
}

document.body.addEventListener("click", (e) => {
  const btn = e.target.closest("button");
  if (!btn) return;
  const view = viewOf(btn);
  if (!view) return;
  if (btn.name === "combine" && btn.closest(".chart-controls")) {
    const names = view.picked.splice(0);
    if (names.length > 1 && !view.state.combo.some((c) => comboKey(c) === comboKey(names))) view.state.combo.push(names);
    renderPicked(view);
    rebuild(view);
    return;
  }
  const cardEl = btn.dataset.act && btn.closest(".chart-card");
  const chart = cardEl && view.charts.get(cardEl.dataset.metric);
  if (chart) onCard(view, chart, btn.dataset.act, btn);
});
