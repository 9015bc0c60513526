/* The runs table's state: the URL, held by #table-form (the filter box, the regex toggle, and
   hidden inputs that #runs carries with form="table-form"). Every control names the parameters
   it changes in `data-tb` (JSON, null drops one); one htmx request, built here from the form,
   fetches the table and pushes the URL. Selection (`sel`) changes in place and replaces it. */
import { $, $$ } from "../util.js";

const KEYS = ["q", "regex", "f", "status", "sort", "order", "group", "cols", "per", "page", "sel", "fold"];
const PER_DEFAULT = "100";
const form = () => document.getElementById("table-form");
const base = () => (form() ? form().dataset.base : location.pathname);

// ---- state <-> URL ------------------------------------------------------------------

export function readState() {            // {key: [values]} from the form and its associated inputs
  const out = {};
  const f = form();
  if (!f) return out;
  for (const [k, v] of new FormData(f)) (out[k] = out[k] || []).push(String(v));
  return out;
}

function apply(state, ops) {
  const s = Object.assign({}, state);
  Object.entries(ops || {}).forEach(([k, v]) => {
    if (v === null || v === undefined) delete s[k];
    else s[k] = Array.isArray(v) ? v.map(String) : [String(v)];
  });
  return s;
}

export function canonical(state) {       // defaults left out, keys in a stable order
  const p = new URLSearchParams();
  const sorted = (state.sort || []).some((v) => v);
  KEYS.concat(Object.keys(state).filter((k) => !KEYS.includes(k))).forEach((k) => {
    (state[k] || []).forEach((v) => {
      if (v === "" || (k === "page" && v === "1") || (k === "per" && v === PER_DEFAULT) || (k === "order" && !sorted)) return;
      p.append(k, v);
    });
  });
  return p;
}

export function urlFor(ops) {
  const qs = canonical(apply(readState(), ops)).toString();
  return base() + (qs ? "?" + qs : "");
}

export function parseOps(el) {
  try { return JSON.parse((el && el.dataset && el.dataset.tb) || "{}"); } catch (_e) { return {}; }
}

// Every request that fills #runs carries the whole state, plus what its control changes.
document.body.addEventListener("htmx:configRequest", (e) => {
  const d = e.detail;
  if (!d.target || d.target.id !== "runs" || d.verb !== "get") return;
  const fd = new FormData();
  canonical(apply(readState(), parseOps(d.elt))).forEach((v, k) => fd.append(k, v));
  d.parameters = fd;
  d.path = d.path.split("?")[0];
});

export function go(ops) {
  const btn = document.getElementById("table-go");
  if (!btn) { location.href = urlFor(ops); return; }
  // the form holds the new state at once: a request that starts later and replaces this one
  // (the filter box's, after its delay) carries it too, so a click is never lost to a keystroke
  Object.entries(ops || {}).forEach(([k, v]) => {
    if (k === "q" || k === "regex") return;   // visible inputs, never set by a control
    setHidden(k, v === null || v === undefined ? [] : (Array.isArray(v) ? v : [v]).map(String));
  });
  btn.dataset.tb = JSON.stringify(ops || {});
  htmx.trigger(btn, "tb:go");
}

export function replaceUrl() { history.replaceState(history.state, "", urlFor({})); }

function stateHolder() { return $("#runs .tb-state"); }

export function setHidden(name, values) { // rewrite the hidden inputs of one parameter
  const holder = stateHolder();
  if (!holder) return;
  $$("input[name='" + name + "']", holder).forEach((i) => i.remove());
  values.forEach((v) => {
    const i = document.createElement("input");
    i.type = "hidden";
    i.name = name;
    i.value = v;
    i.setAttribute("form", "table-form");
    holder.appendChild(i);
  });
}

export function refreshLinks() {         // hrefs follow the state (a middle-click opens the same view)
  $$("a[data-tb]").forEach((a) => { a.href = urlFor(parseOps(a)); });
  const status = (readState().status || [""])[0];
  $$("#counts a.chip").forEach((a) => a.classList.toggle("on", (a.dataset.status || "") === status));
}
// ---- selection ----------------------------------------------------------------------

export function selected() { return readState().sel || []; }

export function syncBoxes() {
  const sel = new Set(selected());
  const boxes = $$("#runs input.run-select");
  boxes.forEach((cb) => { cb.checked = sel.has(cb.value); });
  const all = document.getElementById("select-page");
  if (all) {
    const n = boxes.filter((b) => b.checked).length;
    all.checked = n > 0 && n === boxes.length;
    all.indeterminate = n > 0 && n < boxes.length;
  }
  return sel;
}

export function syncSelection() {
  const sel = syncBoxes();
  const bar = $("#runs .selbar");
  if (bar) bar.hidden = sel.size === 0;
  const count = bar && $(".sel-count", bar);
  if (count) count.textContent = sel.size + " selected";
  const link = document.getElementById("compare-link");
  const runs = document.getElementById("runs");
  if (link && runs) {
    const p = new URLSearchParams();
    sel.forEach((id) => p.append("run", id));
    link.href = runs.dataset.compareBase + "?" + p.toString();
    link.textContent = "Compare " + sel.size + " run" + (sel.size === 1 ? "" : "s");
  }
  refreshLinks();
}

export function setSelected(ids) {
  setHidden("sel", Array.from(new Set(ids)));
  syncSelection();
  replaceUrl();
}
