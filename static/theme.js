/* The theme: the system's (prefers-color-scheme) unless the user picked light or dark.
   Loaded synchronously in <head> so the first paint already has the right colours. */
(function () {
  "use strict";
  const KEY = "tailboard.theme";
  const ORDER = ["system", "light", "dark"];
  function stored() {
    try { return localStorage.getItem(KEY) || "system"; } catch (e) { return "system"; }
  }
  function apply(choice) {
    if (choice === "light" || choice === "dark") document.documentElement.dataset.theme = choice;
    else delete document.documentElement.dataset.theme;
  }
  function effective() {
    const c = stored();
    if (c !== "system") return c;
    return window.matchMedia && matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  function set(choice) {
    try { localStorage.setItem(KEY, choice); } catch (e) { /* private mode: this page only */ }
    apply(choice);
    // charts read their colours when drawn: tell them to redraw
    document.dispatchEvent(new CustomEvent("tailboard:theme", { detail: { theme: effective() } }));
  }
  function cycle() {
    const next = ORDER[(ORDER.indexOf(stored()) + 1) % ORDER.length];
    set(next);
    return next;
  }
  apply(stored());
  if (window.matchMedia) {
    matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
      if (stored() === "system") document.dispatchEvent(new CustomEvent("tailboard:theme", { detail: { theme: effective() } }));
    });
  }
  window.tailboardTheme = { get: stored, set, cycle, effective };
})();
