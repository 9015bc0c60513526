/* Shared helpers for every module: the one number formatter (the server's tb_num filter follows
   the same rules, so a value reads the same in a chart and in a server-drawn table), notes, and
   small DOM helpers. */

// A number, short: "NaN", "∞", "−∞" for non-finite values; whole numbers below 1e9 as they are;
// scientific with 4 significant digits when tiny or huge; else at most 4 significant digits.
// null/undefined (a missing point: the API sends non-finite values as null) is "–".
export function fmt(v) {
  if (v === null || v === undefined) return "–";
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "∞";
  if (v === -Infinity) return "−∞";
  const a = Math.abs(v);
  if (Number.isInteger(v) && a < 1e9) return String(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
  return String(+v.toPrecision(4));
}

// A step (media, filmstrip): whole steps as they are, fractional ones to 6 significant digits
export function fmtStep(s) { return Number.isInteger(s) ? String(s) : String(+s.toPrecision(6)); }

// Seconds as "1.5s", "3m 05s", "2h 07m", "1d 4h"
export function fmtDuration(s) {
  if (s === null || s === undefined) return "";
  const sign = s < 0 ? "-" : "", a = Math.abs(s);
  if (a < 60) return sign + String(+a.toFixed(a < 10 ? 2 : 1)) + "s";
  const d = Math.floor(a / 86400), h = Math.floor(a % 86400 / 3600), m = Math.floor(a % 3600 / 60), sec = Math.floor(a % 60);
  if (d) return sign + d + "d " + h + "h";
  if (h) return sign + h + "h " + String(m).padStart(2, "0") + "m";
  return sign + m + "m " + String(sec).padStart(2, "0") + "s";
}

export const finite = (v) => v !== null && v !== undefined && Number.isFinite(v);

// A one-line message in a panel ("No metrics yet.", "Could not load …")
export function note(cls, text) {
  const p = document.createElement("p");
  p.className = cls;
  p.textContent = text;
  return p;
}

export const $ = (sel, root) => (root || document).querySelector(sel);
export const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

// Elements matching sel in an htmx-loaded subtree, the subtree's root included
export function within(root, sel) {
  const scope = root && root.querySelectorAll ? root : document;
  const found = Array.from(scope.querySelectorAll(sel));
  if (scope.matches && scope.matches(sel)) found.push(scope);
  return found;
}

// A theme colour (CSS custom property) as drawn now
export function cssVar(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

export function json(text, dflt) {
  try { return JSON.parse(text); } catch (_e) { return dflt; }
}

// htmx's load hook (every swapped-in subtree, and the body once) and cleanup hook
export function onLoad(fn) { htmx.onLoad(fn); }
export function onCleanup(fn) { document.body.addEventListener("htmx:beforeCleanupElement", (e) => fn(e.target)); }
