/* What the selection bar does besides comparing: hide the selected runs (in this browser:
   hidden.js), copy their folders' absolute paths to the clipboard (/api/paths), export every
   point of them as one CSV (/api/export.csv). And `setParam`: a parameter the table's server
   does not know (hidden=, the parallel coordinates' pc*) kept in #table-form, so every table
   request and the URL carry it. */
import { $, $$ } from "../util.js";
import { hide, setUrlWriter } from "../hidden.js";
import { readState, replaceUrl, selected, setSelected } from "./state.js";

function addInputs(form, name, values) {
  values.forEach((v) => {
    const i = document.createElement("input");
    i.type = "hidden";
    i.name = name;
    i.value = v;
    i.dataset.param = "1";
    form.appendChild(i);
  });
}

// Rewrite the inputs of one parameter in #table-form (not swapped: they outlive the table)
export function setParam(name, values) {
  const form = document.getElementById("table-form");
  if (!form) return;
  $$("input[type=hidden][data-param]", form).filter((i) => i.name === name).forEach((i) => i.remove());
  addInputs(form, name, values);
  replaceUrl();
}

// The page's URL may carry such parameters: into the form before anything rewrites the URL
(function adopt() {
  const form = document.getElementById("table-form"), known = readState(), here = new URLSearchParams(location.search);
  if (form) new Set(here.keys()).forEach((k) => { if (!(k in known)) addInputs(form, k, here.getAll(k)); });
})();
setUrlWriter(setParam);

function runsQuery(ids) {
  const p = new URLSearchParams();
  ids.forEach((id) => p.append("run", id));
  return p.toString();
}

function status(text) {
  const el = $("#runs .sel-status");
  if (el) el.textContent = text;
}

async function copyPaths() {
  const runs = document.getElementById("runs"), ids = selected();
  try {
    const res = await fetch(runs.dataset.pathsUrl + "?" + runsQuery(ids), { credentials: "same-origin" });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body.error || res.status + " " + res.statusText);
    await navigator.clipboard.writeText(body.paths.map((p) => p.path).join("\n") + "\n");
    status("copied " + body.paths.length + " path" + (body.paths.length === 1 ? "" : "s"));
  } catch (err) {
    status("could not copy: " + err.message);
  }
}

document.addEventListener("click", (e) => {
  const t = e.target;
  if (!t.closest) return;
  if (t.closest("#runs .sel-hide")) {
    const ids = selected();
    hide(ids);
    setSelected([]);
    status("");
  } else if (t.closest("#runs .sel-copy")) {
    copyPaths();
  } else if (t.closest("#runs .sel-export")) {
    // the href follows the selection at the moment of the click (the download starts after)
    const a = t.closest("#runs .sel-export"), runs = document.getElementById("runs");
    a.href = runs.dataset.exportUrl + "?" + runsQuery(selected());
  }
});
