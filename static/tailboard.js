/* What every page runs (the entry module of the pages without one of their own, and imported by
   every page's entry in pages/): the event stream, the theme switch, keyboard shortcuts, run
   colours, and tab links that keep the view's state. */
import "./events.js";
import "./theme.js";
import "./keys.js";
import { alertsState } from "./alerts.js";
import { onLoad, within } from "./util.js";

// a run's colour arrives as data-run-color, set through the CSSOM: the page CSP forbids
// style="" attributes in markup, not style changes made by our own script
onLoad((root) => {
  within(root, "[data-run-color]").forEach((el) => el.style.setProperty("--run-color", el.dataset.runColor));
});

// A run tab link carries the view's other parameters: the charts write their state into the URL
// with replaceState after the links were drawn, so take them from the address bar.
document.body.addEventListener("htmx:configRequest", (e) => {
  const elt = e.detail.elt;
  if (!elt || !elt.closest || !elt.closest("nav.tabs")) return;
  const target = new URL(e.detail.path, location.href);
  const tab = target.searchParams.get("tab");
  if (tab === null || target.pathname !== location.pathname) return;
  const merged = new URLSearchParams(location.search);
  merged.set("tab", tab);
  e.detail.path = target.pathname + "?" + merged.toString();
});

// The browser tests' and devtools' window onto live state (charts, log followers): written
// here only, read by no module (they share state through imports).
export function expose(parts) {
  window.tailboard = Object.assign(window.tailboard || {}, parts);
}

expose({ alerts: alertsState });
