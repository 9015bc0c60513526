/* The runs table on the overview. The URL is the table's state: #table-form holds it (the
   filter box, the regex toggle, and hidden inputs that #runs carries with form="table-form").
   Every control names the parameters it changes in `data-tb` (JSON, null drops one); one htmx
   request, built here from the form, fetches the table and pushes the URL. Selection (`sel`)
   and folded groups (`fold`) change in place and replace the URL. A live `row` event refreshes
   a row's cells in place, so its checkbox and the table's own columns survive it.
   Hooks for keys.js: #filter-q, tr.run-row[data-run], input.run-select, #compare-link,
   a[rel=next], a[rel=prev]. */
(function () {
  "use strict";
  const KEYS = ["q", "regex", "f", "status", "sort", "order", "group", "cols", "per", "page", "sel", "fold"];
  const PER_DEFAULT = "100";
  const ACTIVITY_EVERY = 2000;   // ms between refreshes of the overview strips, at most

  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const form = () => document.getElementById("table-form");
  const base = () => (form() ? form().dataset.base : location.pathname);

  // ---- state <-> URL ------------------------------------------------------------------

  function readState() {            // {key: [values]} from the form and its associated inputs
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

  function canonical(state) {       // defaults left out, keys in a stable order
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

  function urlFor(ops) {
    const qs = canonical(apply(readState(), ops)).toString();
    return base() + (qs ? "?" + qs : "");
  }

  function parseOps(el) {
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

  function go(ops) {
    const btn = document.getElementById("table-go");
    if (!btn) { location.href = urlFor(ops); return; }
    btn.dataset.tb = JSON.stringify(ops || {});
    htmx.trigger(btn, "tb:go");
  }

  function replaceUrl() { history.replaceState(history.state, "", urlFor({})); }

  function stateHolder() { return $("#runs .tb-state"); }

  function setHidden(name, values) { // rewrite the hidden inputs of one parameter
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

  function refreshLinks() {         // hrefs follow the state (a middle-click opens the same view)
    $$("a[data-tb]").forEach((a) => { a.href = urlFor(parseOps(a)); });
    const status = (readState().status || [""])[0];
    $$("#counts a.chip").forEach((a) => a.classList.toggle("on", (a.dataset.status || "") === status));
  }

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

  // ---- selection ----------------------------------------------------------------------

  function selected() { return readState().sel || []; }

  function syncBoxes() {
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

  function syncSelection() {
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

  function setSelected(ids) {
    setHidden("sel", Array.from(new Set(ids)));
    syncSelection();
    replaceUrl();
  }

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
  document.body.addEventListener("htmx:oobAfterSwap", syncBoxes);

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

  window.tailboardTable = { state: readState, urlFor, go, addChip, select: setSelected };
})();
