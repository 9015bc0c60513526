/* Runs hidden from view, in this browser only (the server never stores it: nothing is written
   to disk). The set lives in localStorage under a key of this viewer's mount and runs folder,
   and in the URL as `hidden=<id>` (repeatable) so a link carries it: a URL that names it wins
   (and is remembered), else the stored set is used and written into the URL.
   Hidden runs leave the runs table, the overview strips, the compare page's charts, its table's
   columns, its scatter (points and legend) and the parallel coordinates; a "N hidden · show" control ([data-hidden-slot]) brings them back. */
import { $$, onLoad, within } from "./util.js";

const PARAM = "hidden";
const listeners = [];
let writer = null;   // the overview keeps its URL in #table-form: it writes the parameter there

function storeKey() {
  const brand = document.querySelector("a.brand"), root = document.querySelector(".topbar .root");
  return "tailboard.hidden:" + (brand ? brand.getAttribute("href") : "/") + "@" + (root ? root.textContent.trim() : "");
}

function stored() {
  try { const v = JSON.parse(localStorage.getItem(storeKey()) || "[]"); return Array.isArray(v) ? v.map(String) : []; }
  catch (_e) { return []; }
}

function remember(ids) {
  try {
    if (ids.length) localStorage.setItem(storeKey(), JSON.stringify(ids));
    else localStorage.removeItem(storeKey());
  } catch (_e) { /* storage full or refused: the URL still holds it */ }
}

const here = new URLSearchParams(location.search);
let current = here.has(PARAM) ? here.getAll(PARAM).filter(Boolean) : stored();
remember(current);

export function hiddenRuns() { return new Set(current); }
export function onHiddenChange(fn) { listeners.push(fn); }

// How the URL gets the parameter: history.replaceState by default; the overview's table state
// gives its own writer (its form's hidden inputs, then its URL)
export function setUrlWriter(fn) { writer = fn; writeUrl(); }

function writeUrl() {
  if (writer) { writer(PARAM, current); return; }
  const u = new URL(location.href);
  u.searchParams.delete(PARAM);
  current.forEach((id) => u.searchParams.append(PARAM, id));
  if (u.href !== location.href) history.replaceState(history.state, "", u.href);
}

export function setHiddenRuns(ids) {
  current = Array.from(new Set(ids.map(String)));
  remember(current);
  writeUrl();
  apply(document);
  listeners.forEach((fn) => fn(hiddenRuns()));
}

export function hide(ids) { setHiddenRuns(current.concat(ids)); }

// Rows, strip cards, compare chips get the hidden attribute (a live row merges its classes
// in place, keeping attributes; a row swapped in whole gets it again after the swap)
const HIDEABLE = "tr.run-row[data-run], #activity li[data-run], .compare-chip[data-run], .compare-table [data-run], " +
                 ".compare-legend li[data-run], .compare-skipped li[data-run]";
function apply(root) {
  const set = hiddenRuns();
  within(root, HIDEABLE).forEach((e) => { e.hidden = set.has(e.dataset.run); });
  $$("[data-hidden-slot]").forEach(renderSlot);
}

function renderSlot(slot) {
  const n = current.length;
  slot.hidden = n === 0;
  if (!n) { slot.replaceChildren(); return; }
  const text = document.createElement("span");
  text.className = "hidden-count";
  text.textContent = n + " hidden";
  text.title = "hidden in this browser: " + current.join(", ");
  const show = document.createElement("button");
  show.type = "button";
  show.className = "hidden-show";
  show.textContent = "show";
  show.title = "show the hidden runs again";
  slot.replaceChildren(text, document.createTextNode(" · "), show);
}

document.addEventListener("click", (e) => {
  if (!e.target.closest || !e.target.closest("[data-hidden-slot] .hidden-show")) return;
  const reload = !!document.querySelector("[data-charts]");   // charts are built once: draw them again
  setHiddenRuns([]);
  if (reload) location.reload();
});

// Before the charts read their runs (this module's hook is registered first): leave hidden runs out
onLoad((root) => {
  const set = hiddenRuns();
  within(root, ".chart-runs").forEach((list) => {
    const gone = $$("li[data-run]", list).filter((li) => set.has(li.dataset.run));
    if (gone.length < $$("li[data-run]", list).length) gone.forEach((li) => li.remove());   // never every run
  });
  apply(root);
});
// live rows and refreshed strips arrive as swaps that are not always loads of their own
document.body.addEventListener("htmx:afterSettle", () => apply(document));
document.body.addEventListener("htmx:oobAfterSwap", (e) => apply(e.detail.target || document));
