/* The runs table on the overview. The URL is the table's state: #table-form holds it (the
   filter box, the regex toggle, and hidden inputs that #runs carries with form="table-form").
   Every control names the parameters it changes in `data-tb` (JSON, null drops one); one htmx
   request, built here from the form, fetches the table and pushes the URL. Selection (`sel`)
   and folded groups (`fold`) change in place and replace the URL. A live `row` event refreshes
   a row's cells in place, so its checkbox and the table's own columns survive it.
   The state and the URL are state.js; live rows live.js. keys.js finds its way through the markup: #filter-q, tr.run-row[data-run], input.run-select,
   #compare-link, a[rel=next], a[rel=prev]. */
import { $, $$ } from "../util.js";
import { canonical, go, parseOps, readState, refreshLinks, replaceUrl, selected, setHidden, setSelected,
         syncSelection } from "./state.js";
import "./live.js";

// ---- filter chips -------------------------------------------------------------------

function addChip(text) {
  text = (text || "").trim();
  if (!text) return;
  const f = (readState().f || []).slice();
  if (!f.includes(text)) f.push(text);
  go({ f, page: null });
}

let plus = null;                  // one floating "+" for the hovered cell
let plusCell = null;
function showPlus(cell) {
  if (!plus) {
    plus = document.createElement("button");
    plus.type = "button";
    plus.className = "add-f";
    plus.textContent = "+";
    plus.hidden = true;
    plus.addEventListener("click", (ev) => { ev.preventDefault(); if (plusCell) addChip(plusCell.dataset.f); });
    document.body.appendChild(plus);
  }
  plusCell = cell;
  plus.title = "filter: " + cell.dataset.f;
  plus.setAttribute("aria-label", plus.title);
  const r = cell.getBoundingClientRect();
  const left = cell.classList.contains("num") ? r.left + 2 : r.right - 20;
  plus.style.top = (window.scrollY + r.top + 3) + "px";
  plus.style.left = (window.scrollX + left) + "px";
  plus.hidden = false;
}
document.addEventListener("mouseover", (e) => {
  if (e.target === plus) return;
  const cell = e.target.closest ? e.target.closest("#runs td[data-f]") : null;
  if (cell) showPlus(cell);
  else if (plus && !plus.hidden) { plus.hidden = true; plusCell = null; }
});

// ---- groups -------------------------------------------------------------------------

function toggleFold(btn) {
  const body = btn.closest("tbody.group");
  const folded = body.classList.toggle("folded");
  btn.setAttribute("aria-expanded", String(!folded));
  const here = new Set($$("#runs tbody.group").map((b) => b.dataset.group));
  const keep = (readState().fold || []).filter((g) => !here.has(g)); // folds of groups on other pages
  setHidden("fold", keep.concat($$("#runs tbody.group.folded").map((b) => b.dataset.group)));
  refreshLinks();
  replaceUrl();
}

// ---- columns ------------------------------------------------------------------------

function applyColumns(box) {
  const picked = $$("input[name=pick]:checked", box).map((i) => i.value);
  const lists = $(".col-lists", box);
  const shown = ((lists && lists.dataset.shown) || "").split(",").filter(Boolean);
  const order = shown.filter((k) => picked.includes(k)).concat(picked.filter((k) => !shown.includes(k)));
  go({ cols: order.length ? order.join(",") : "-" });
}

// ---- on-demand panels: a row's hparams, the column picker ---------------------------------
// One delegated listener instead of an htmx element per row: #runs then holds no htmx
// element, and a swap of 100 rows skips htmx's per-element cleanup (see htmx:beforeSwap).

async function loadInto(details, url, body) {
  details.dataset.loaded = "1";
  try {
    const res = await fetch(url, { credentials: "same-origin", headers: { "HX-Request": "true" } });
    if (!res.ok) throw new Error(res.statusText);
    body.innerHTML = await res.text();   // our own server-rendered, escaped fragment
  } catch (err) {
    body.textContent = "could not load: " + err.message;
    delete details.dataset.loaded;
  }
}
document.addEventListener("toggle", (e) => {
  const d = e.target;
  if (!d.matches || !d.open || d.dataset.loaded) return;
  if (d.matches("details.hp[data-hp-url]")) loadInto(d, d.dataset.hpUrl, $(".hp-body", d));
  else if (d.matches("details.col-picker[data-cols-url]")) {
    const qs = canonical(readState()).toString();
    loadInto(d, d.dataset.colsUrl + (qs ? "?" + qs : ""), $(".col-body", d));
  }
}, true);  // toggle does not bubble

document.body.addEventListener("htmx:beforeSwap", (e) => {
  const t = e.detail.target;
  // nothing in #runs is an htmx element: drop the old table in one step rather than let
  // htmx walk its 2,000 elements one event each
  if (t && t.id === "runs" && e.detail.shouldSwap && !t.querySelector("[hx-get], [data-hx-get]")) t.replaceChildren();
});

// ---- events -------------------------------------------------------------------------

document.addEventListener("click", (e) => {
  const t = e.target;
  if (!t.closest) return;
  const link = t.closest("a[data-tb]");
  if (link) {
    if (e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return; // a new tab: the href
    e.preventDefault();
    go(parseOps(link));
    return;
  }
  const chip = t.closest("#runs button[data-f]");
  if (chip) { e.preventDefault(); addChip(chip.dataset.f); return; }
  const cell = t.closest("#runs td[data-f]");
  if (cell && e.altKey) { e.preventDefault(); addChip(cell.dataset.f); return; }
  const fold = t.closest("#runs button.fold");
  if (fold) { toggleFold(fold); return; }
  if (t.closest("#runs .sel-clear")) { setSelected([]); return; }
  const apply = t.closest("#runs .cols-apply");
  if (apply) { applyColumns(apply.closest(".col-picker")); return; }
  if (t.closest("#runs .cols-default")) go({ cols: null });
});

document.addEventListener("change", (e) => {
  const t = e.target;
  if (t.matches("input.run-select")) {
    const ids = selected().filter((id) => id !== t.value);
    if (t.checked) ids.push(t.value);
    setSelected(ids);
  } else if (t.id === "select-page") {
    const page = $$("#runs input.run-select").map((b) => b.value);
    const rest = selected().filter((id) => !page.includes(id));
    setSelected(t.checked ? rest.concat(page) : rest);
  } else if (t.matches("#runs select.group-by")) {
    go({ group: t.value || null, page: null, fold: null });
  } else if (t.matches("#runs select.per-page")) {
    go({ per: t.value, page: null });
  }
});

// Enter in a field of the filter form must not load the page: htmx fetches the table instead
document.body.addEventListener("submit", (e) => { if (e.target.id === "table-form") e.preventDefault(); });

document.addEventListener("keydown", (e) => {
  if (e.key !== "Enter" || e.target.id !== "filter-add") return;
  e.preventDefault();
  addChip(e.target.value);
  e.target.value = "";
});

document.body.addEventListener("htmx:afterSwap", (e) => {
  if (e.detail.target && e.detail.target.id === "runs") syncSelection();
});
// a history snapshot is the DOM's HTML: write typed values and ticks into it
document.body.addEventListener("htmx:beforeHistorySave", () => {
  const q = document.getElementById("filter-q");
  if (q) q.setAttribute("value", q.value);
  $$("#table-form input[type=checkbox], input.run-select").forEach((cb) => cb.toggleAttribute("checked", cb.checked));
});
document.body.addEventListener("htmx:historyRestore", syncSelection);
htmx.onLoad((el) => { if (el === document.body || (el.id === "runs")) syncSelection(); });
