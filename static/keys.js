/* Keyboard shortcuts for the common moves (GitHub/Gmail style) and their help dialog ("?").
   Keys are ignored while typing in a field or with Ctrl/Alt/Meta held. */
import { cycle as cycleTheme } from "./theme.js";

const HELP = [
  ["Everywhere", [["?", "show this help"], ["/", "focus the filter (runs) or the metric filter (charts)"],
                  ["g then h", "go to the runs overview"], ["t", "switch theme: system, light, dark"],
                  ["Esc", "leave a field, close this help"]]],
  ["Runs table", [["j / k", "next / previous run"], ["x", "select the run for comparison"],
                  ["o or Enter", "open the run"], ["c", "compare the selected runs"],
                  ["n / p", "next / previous page"]]],
  ["Run and compare pages", [["1 – 4", "switch tab (charts, logs, media, config / table, scatter)"],
                             ["[ / ]", "less / more smoothing"]]],
];
let pendingG = 0;

function typing(el) {
  return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
}

function rows() { return Array.from(document.querySelectorAll("tr.run-row[data-run]")).filter((r) => r.offsetParent !== null); }

// the focused run is remembered by id: a live re-fetch of the table swaps its rows
let focusedId = null;
function focused() {
  if (focusedId === null) return null;
  const row = rows().find((r) => r.dataset.run === focusedId) || null;
  if (row && !row.classList.contains("kbd-focus")) row.classList.add("kbd-focus");
  return row;
}

function moveRow(delta) {
  const all = rows();
  if (!all.length) return;
  const cur = focused();
  let i = cur ? all.indexOf(cur) + delta : (delta > 0 ? 0 : all.length - 1);
  i = Math.max(0, Math.min(all.length - 1, i));
  document.querySelectorAll("tr.run-row.kbd-focus").forEach((r) => r.classList.remove("kbd-focus"));
  all[i].classList.add("kbd-focus");
  focusedId = all[i].dataset.run;
  all[i].scrollIntoView({ block: "nearest" });
}

function clickFirst(selector) {
  const el = document.querySelector(selector);
  if (el) { el.click(); return true; }
  return false;
}

function tab(n) {
  const links = document.querySelectorAll("nav.tabs a");
  if (links[n - 1]) links[n - 1].click();
}

function nudgeSmoothing(delta) {
  const slider = document.querySelector("input[type=range][name=smooth]");
  if (!slider) return;
  const step = parseFloat(slider.step) || 0.01;
  const v = Math.max(parseFloat(slider.min) || 0, Math.min(parseFloat(slider.max) || 0.99,
    (parseFloat(slider.value) || 0) + delta * Math.max(step, 0.05)));
  slider.value = String(+v.toFixed(2));
  slider.dispatchEvent(new Event("input", { bubbles: true }));
  slider.dispatchEvent(new Event("change", { bubbles: true }));
}

function help() {
  let dlg = document.getElementById("keys-help");
  if (!dlg) {
    dlg = document.createElement("dialog");
    dlg.id = "keys-help";
    dlg.className = "keys-help";
    const h = document.createElement("h2");
    h.textContent = "Keyboard shortcuts";
    dlg.append(h);
    HELP.forEach(([title, keys]) => {
      const h3 = document.createElement("h3");
      h3.textContent = title;
      const table = document.createElement("table");
      keys.forEach(([k, what]) => {
        const tr = table.insertRow();
        const kc = tr.insertCell();
        k.split(" ").forEach((part) => {
          if (["then", "or", "/", "–"].includes(part)) kc.append(" " + part + " ");
          else { const kb = document.createElement("kbd"); kb.textContent = part; kc.append(kb); }
        });
        tr.insertCell().textContent = what;
      });
      dlg.append(h3, table);
    });
    const close = document.createElement("button");
    close.type = "button";
    close.textContent = "Close";
    close.addEventListener("click", () => dlg.close());
    const p = document.createElement("p");
    p.append(close);
    dlg.append(p);
    document.body.append(dlg);
  }
  if (dlg.open) dlg.close(); else dlg.showModal();
}

function focusFilter() {
  const el = document.querySelector("#filter-q, input[name=metric], .filter input[type=search]");
  if (!el) return false;
  el.focus();
  if (el.select) el.select();
  return true;
}

const ACTIONS = {
  "?": help,
  "/": focusFilter,
  "t": cycleTheme,
  "j": () => moveRow(1),
  "k": () => moveRow(-1),
  "x": () => { const r = focused(); const box = r && r.querySelector("input.run-select"); if (box) box.click(); },
  "o": () => { const r = focused(); const a = r && r.querySelector("td.name a, a"); if (a) a.click(); },
  "Enter": () => { const r = focused(); const a = r && r.querySelector("td.name a, a"); if (a) a.click(); },
  "c": () => clickFirst("#compare-link:not([aria-disabled=true])"),
  "n": () => clickFirst("a[rel=next]"),
  "p": () => clickFirst("a[rel=prev]"),
  "1": () => tab(1), "2": () => tab(2), "3": () => tab(3), "4": () => tab(4),
  "[": () => nudgeSmoothing(-1),
  "]": () => nudgeSmoothing(1),
};

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
  if (e.key === "Escape" && typing(document.activeElement)) { document.activeElement.blur(); return; }
  if (typing(e.target)) return;
  if (pendingG && e.key === "h") {
    pendingG = 0;
    const home = document.querySelector("a.brand");
    if (home) { e.preventDefault(); home.click(); }
    return;
  }
  if (e.key === "g") { pendingG = 1; setTimeout(() => { pendingG = 0; }, 1200); return; }
  pendingG = 0;
  if (e.key === "Enter" && !focused()) return;  // Enter keeps its own meaning elsewhere
  const act = ACTIONS[e.key];
  if (!act) return;
  e.preventDefault();
  act();
});

document.addEventListener("click", (e) => { if (e.target.closest(".keys-toggle")) help(); });
document.addEventListener("htmx:afterSettle", () => { if (focusedId !== null) focused(); });
