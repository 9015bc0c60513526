/* Parallel coordinates on the overview, of the selected runs: a panel above the table opened by
   the selection bar's button (pc=1 in the URL). Its state lives in #table-form like the table's
   own (setParam), so a table request keeps it; "filter the table" (pcf=1) hides the rows of
   runs outside the brushes. */
import { $$ } from "../util.js";
import { hiddenRuns, onHiddenChange } from "../hidden.js";
import { readState as tableState, selected } from "../table/state.js";
import { setParam } from "../table/actions.js";
import { mount, unmount } from "./index.js";
import { PARAMS, writeState } from "./model.js";

const panel = () => document.getElementById("pc-panel");
const host = {
  params() {
    const p = new URLSearchParams();
    Object.entries(tableState()).forEach(([k, vs]) => vs.forEach((v) => p.append(k, v)));
    return p;
  },
  write(state) {
    const p = writeState(new URLSearchParams(), state);
    PARAMS.forEach((k) => setParam(k, p.getAll(k)));
  },
};
let shownFor = null, body = null, passing = null, brushed = false;
const flag = (k) => host.params().get(k) === "1";

function filterRows() {
  const on = flag("pcf") && flag("pc") && brushed && passing;
  $$("#runs tr.run-row[data-run]").forEach((tr) => tr.classList.toggle("pc-out", !!on && !passing.has(tr.dataset.run)));
}

function head(n) {
  const h = document.createElement("div");
  h.className = "pc-panel-head";
  const title = document.createElement("h2");
  title.textContent = "Parallel coordinates of " + n + " selected run" + (n === 1 ? "" : "s");
  const label = document.createElement("label"), box = document.createElement("input");
  box.type = "checkbox";
  box.className = "pc-filter";
  box.checked = flag("pcf");
  box.addEventListener("change", () => { setParam("pcf", box.checked ? ["1"] : []); filterRows(); });
  label.append(box, " filter the table by the brushes");
  const close = document.createElement("button");
  close.type = "button";
  close.className = "pc-close";
  close.textContent = "close";
  close.addEventListener("click", () => { setParam("pc", []); sync(); });
  h.append(title, label, close);
  return h;
}

// Open or close the panel and draw the selected (not hidden) runs when they changed
function sync() {
  const el = panel();
  if (!el) return;
  const hide = hiddenRuns(), ids = selected().filter((id) => !hide.has(id));
  const open = flag("pc"), key = open ? JSON.stringify(ids) : null;
  if (key === shownFor) { filterRows(); return; }
  shownFor = key;
  if (body) { unmount(body); body = null; }
  passing = null;
  brushed = false;
  el.hidden = !open;
  if (!open) { el.replaceChildren(); filterRows(); return; }
  body = document.createElement("div");
  el.replaceChildren(head(ids.length), body);
  if (!ids.length) { body.textContent = "Select runs in the table (their boxes) to draw them here."; filterRows(); return; }
  const p = new URLSearchParams();
  ids.forEach((id) => p.append("run", id));
  mount(body, el.dataset.paramsUrl + "?" + p.toString(), host, {
    onHighlight: (set, any) => { passing = set; brushed = any; filterRows(); },
  });
}

const later = () => setTimeout(sync, 0);
document.addEventListener("click", (e) => {
  if (e.target.closest && e.target.closest("#runs .sel-pcoords")) {
    setParam("pc", flag("pc") ? [] : ["1"]);
    later();
  } else if (e.target.closest && e.target.closest("#runs .sel-clear, #runs .sel-hide")) later();
});
document.addEventListener("change", (e) => { if (e.target.matches("input.run-select, #select-page")) later(); });
document.body.addEventListener("htmx:afterSwap", (e) => { if (e.detail.target && e.detail.target.id === "runs") later(); });
onHiddenChange(later);
later();
