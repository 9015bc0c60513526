/* The theme: the system's (prefers-color-scheme) unless the user picked light or dark. The
   stored choice is applied before the first paint by theme-boot.js; this module switches it.
   A switch is announced as the document event "tailboard:theme" (charts redraw their axes). */
const KEY = "tailboard.theme";   // theme-boot.js reads the same key
const ORDER = ["system", "light", "dark"];

export function get() {
  try { return localStorage.getItem(KEY) || "system"; } catch (_e) { return "system"; }
}

function apply(choice) {
  if (choice === "light" || choice === "dark") document.documentElement.dataset.theme = choice;
  else delete document.documentElement.dataset.theme;
}

export function effective() {
  const c = get();
  if (c !== "system") return c;
  return window.matchMedia && matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

function announce() {
  document.dispatchEvent(new CustomEvent("tailboard:theme", { detail: { theme: effective() } }));
}

export function set(choice) {
  try { localStorage.setItem(KEY, choice); } catch (_e) { /* private mode: this page only */ }
  apply(choice);
  announce();
}

export function cycle() {
  const next = ORDER[(ORDER.indexOf(get()) + 1) % ORDER.length];
  set(next);
  return next;
}

export function onThemeChange(fn) { document.addEventListener("tailboard:theme", fn); }

function label(btn) {
  const t = get();
  btn.textContent = t === "dark" ? "☾ dark" : t === "light" ? "☀ light" : "◐ system";
  btn.title = "theme: " + t + " (press t to switch)";
}

apply(get());
if (window.matchMedia) {
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => { if (get() === "system") announce(); });
}
document.addEventListener("click", (e) => { if (e.target.closest(".theme-toggle")) cycle(); });
onThemeChange(() => document.querySelectorAll(".theme-toggle").forEach(label));
document.querySelectorAll(".theme-toggle").forEach(label);
