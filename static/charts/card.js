/* One chart's card: title, action buttons (pin, outlier-proof y, pick for a combined panel,
   PNG, CSV; remove on a combined panel), the plot, tooltip, note and last/best table. The
   buttons' clicks are handled in actions.js. A chart's key is its metric's name, or
   "combo:a,b" for a combined panel of metrics a and b (a name's own commas escaped: "a\\,b"). */
import { direction } from "./data.js";
import { renderTable } from "./legend.js";
import { writeUrl } from "./urlstate.js";

export const COMBO = "combo:";
// names joined by commas; a comma or backslash inside a name is escaped with a backslash
export const joinNames = (names) => names.map((n) => n.replace(/[\\,]/g, (c) => "\\" + c)).join(",");
export function splitNames(s) {
  const out = [];
  let cur = "";
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "\\" && i + 1 < s.length) cur += s[++i];
    else if (s[i] === ",") { out.push(cur); cur = ""; }
    else cur += s[i];
  }
  out.push(cur);
  return out;
}
export const comboKey = (names) => COMBO + joinNames(names);

function button(act, text, title, pressed) {
  const b = document.createElement("button");
  b.type = "button";
  b.dataset.act = act;
  if (act === "png" || act === "csv") b.dataset.export = act;
  b.textContent = text;
  b.title = title;
  if (pressed !== undefined) b.setAttribute("aria-pressed", String(pressed));
  return b;
}

export function card(view, key) {
  const combo = key.startsWith(COMBO) ? splitNames(key.slice(COMBO.length)) : null;
  const title = combo ? combo.join(" + ") : key;
  const el = document.createElement("div");
  el.className = "chart-card" + (combo ? " chart-combo" : "");
  el.dataset.metric = key;
  el.innerHTML = "<div class='chart-title'><b></b><span class='sub'></span><span class='chart-actions'></span></div>" +
    "<div class='plot'></div><div class='chart-tip' hidden></div><p class='chart-note' hidden></p>" +
    "<table class='chart-table'><thead><tr><th>run</th><th>last</th>" +
    "<th><button type='button' class='better' title='switch: is lower or higher better?'></button></th>" +
    "<th class='best-at'></th></tr></thead><tbody></tbody></table>";
  el.querySelector(".chart-title b").textContent = title;
  const st = view.state, pinned = st.pin.includes(key);
  el.querySelector(".chart-actions").append(
    button("pin", pinned ? "unpin" : "pin", pinned ? "put this chart back in its place" : "keep this chart at the top of the page", pinned),
    button("clip", "clip y", "outlier-proof y scale for this chart (a percentile range; points beyond are marked at the edge)",
           st.clip !== st.clipc.has(key)),
    ...(combo ? [button("remove", "×", "remove this combined panel")]
      : [button("pick", "+ combine", "pick this metric for a combined panel", view.picked.includes(key))]),
    button("png", "PNG", "download this chart as PNG"),
    button("csv", "CSV", "download what this chart shows as CSV"));
  const chart = { name: key, title, combo, view, card: el, plot: null, observer: null, layout: "", hover: false, spec: null,
                  keep: !!combo || pinned, tip: el.querySelector(".chart-tip"), plotDiv: el.querySelector(".plot") };
  view.charts.set(key, chart);
  if (combo) el.querySelector(".better").disabled = true;   // each metric keeps its own direction
  else {
    el.querySelector(".better").addEventListener("click", () => {
      const guess = view.lower.test(key.toLowerCase()) ? "min" : "max";
      const next = direction(view, key) === "min" ? "max" : "min";
      if (next === guess) delete view.state.better[key]; else view.state.better[key] = next;
      writeUrl(view);
      renderTable(chart);
    });
  }
  return el;
}
