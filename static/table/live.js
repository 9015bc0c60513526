/* The runs table, live: a `row` event refreshes a row's cells in place, so its checkbox and the
   table's own columns survive it; the overview strips (#activity) refresh, throttled. */
import { onReopen } from "../events.js";
import { $, $$ } from "../util.js";
import { syncBoxes } from "./state.js";

const ACTIVITY_EVERY = 2000;   // ms between refreshes of the overview strips, at most

// ---- live rows ----------------------------------------------------------------------

// A live row is rendered once for every page, with the default columns: refresh the cells
// this table shows in place, keep the others (and the checkbox), fetch rows it cannot fill.
function mergeRow(old, fresh, fetchMissing) {
  old.className = fresh.className;
  if (fresh.hasAttribute("title")) old.setAttribute("title", fresh.getAttribute("title"));
  else old.removeAttribute("title");
  const cells = new Map(Array.from(fresh.children).map((td) => [td.dataset.col, td]));
  let missing = false;
  Array.from(old.children).forEach((td) => {
    const col = td.dataset.col;
    if (!col || col === "sel") return;
    const next = cells.get(col);
    if (!next) { missing = missing || col.startsWith("m:"); return; }
    if (next.outerHTML === td.outerHTML || $("details[open]", td)) return; // keep an open hparams list open
    const node = document.importNode(next, true);
    td.replaceWith(node);
    htmx.process(node);
  });
  if (missing && fetchMissing) queueRows(old.dataset.run);
}

const pendingRows = new Set();
let rowsTimer = null;
function queueRows(id) {
  pendingRows.add(id);
  if (!rowsTimer) rowsTimer = setTimeout(fetchRows, 300);
}
async function fetchRows() {
  rowsTimer = null;
  const runs = document.getElementById("runs");
  if (!runs || !pendingRows.size) return;
  const p = new URLSearchParams();
  pendingRows.forEach((id) => p.append("run", id));
  pendingRows.clear();
  const cols = $$("#runs thead th[data-col^='m:'], #runs thead th[data-col^='hp:']").map((th) => th.dataset.col);
  p.set("cols", cols.join(",") || "-");
  try {
    const res = await fetch(runs.dataset.rowsUrl + "?" + p.toString(), { credentials: "same-origin" });
    if (!res.ok) return;
    const tpl = document.createElement("template");
    tpl.innerHTML = "<table><tbody>" + (await res.text()) + "</tbody></table>";
    $$("tr.run-row", tpl.content).forEach((tr) => {
      const old = document.getElementById(tr.id);
      if (old) mergeRow(old, tr, false);
    });
  } catch (_e) { /* the next change or a resync brings the row back */ }
}

document.body.addEventListener("htmx:oobBeforeSwap", (e) => {
  const old = e.detail.target;
  if (!old || !old.matches || !old.matches("tr.run-row") || !old.closest("#runs")) return;
  const fresh = e.detail.fragment && e.detail.fragment.querySelector("tr.run-row");
  if (!fresh) return;
  e.detail.shouldSwap = false;
  mergeRow(old, fresh, true);
});
document.body.addEventListener("htmx:oobAfterSwap", (e) => {
  syncBoxes();
  const el = e.detail.target || e.target;   // a refreshed row flashes
  if (el && el.tagName === "TR") { el.classList.remove("flash"); void el.offsetWidth; el.classList.add("flash"); }
});
// a live row that this page does not show (filtered out, another page) is not swapped in
document.body.addEventListener("htmx:sseBeforeMessage", (e) => {
  if (e.detail.type !== "row") return;
  const m = /<tr id="([^"]+)"/.exec(e.detail.data);
  if (!m || !document.getElementById(m[1])) e.preventDefault();
});
// a new stream after a break may have missed row events: re-fetch the table
onReopen(() => { const runs = document.getElementById("runs"); if (runs) htmx.trigger(runs, "sse:resync"); });

// ---- overview strips ----------------------------------------------------------------

let lastActivity = 0;
let activityTimer = null;
function scheduleActivity() {     // throttled, and the last change is never left out
  const el = document.getElementById("activity");
  if (!el || activityTimer) return;
  activityTimer = setTimeout(() => {
    activityTimer = null;
    lastActivity = Date.now();
    htmx.trigger(el, "tb:refresh");
  }, Math.max(0, lastActivity + ACTIVITY_EVERY - Date.now()));
}
const LIVE = new Set(["row", "counts", "runset", "resync", "scan"]);
["htmx:sseBeforeMessage", "htmx:sseMessage"].forEach((name) => {
  document.body.addEventListener(name, (e) => { if (e.detail && LIVE.has(e.detail.type)) scheduleActivity(); });
});
