/* Parallel coordinates of a set of runs: fetches /api/compare/params, draws the plot
   (draw.js) under its controls (values last/best, colour, the axes with move, log and remove
   buttons, "add an axis", "only what differs"), and keeps every choice in the URL (model.js).
   Mounted on the compare page's "Parallel" tab ([data-pcoords]) and on the overview's panel
   (overview.js), each with a `host` saying how to read and write the URL state. */
import { note, onCleanup, onLoad, within } from "../util.js";
import { hiddenRuns, onHiddenChange } from "../hidden.js";
import { PcPlot } from "./draw.js";
import { allAxes, readState, shownAxes, writeState } from "./model.js";

export const mounted = new Map();   // container -> its view {plot, data, state, host}

// The default host: the page's own URL, written with history.replaceState
export const urlHost = {
  params: () => new URLSearchParams(location.search),
  write(state) {
    const u = new URL(location.href);
    u.search = writeState(new URLSearchParams(location.search), state).toString();
    if (u.href !== location.href) history.replaceState(history.state, "", u.href);
  },
};

function button(text, title, fn, cls) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.title = title;
  b.setAttribute("aria-label", title);
  if (cls) b.className = cls;
  b.addEventListener("click", fn);
  return b;
}

function select(label, cls, options, value, fn) {
  const wrap = document.createElement("label");
  const s = document.createElement("select");
  s.className = cls;
  s.setAttribute("aria-label", label);
  options.forEach(([v, text]) => {
    const o = document.createElement("option");
    o.value = v;
    o.textContent = text;
    o.selected = v === value;
    s.appendChild(o);
  });
  s.addEventListener("change", () => fn(s.value));
  wrap.append(label + " ", s);
  return wrap;
}

// The controls above the plot, rebuilt with it
function controls(view) {
  const st = view.state, bar = document.createElement("div");
  bar.className = "pc-controls toolbar";
  const numeric = view.all.filter((a) => a.kind === "num");
  bar.append(
    select("values", "pc-mode", [["last", "last"], ["best", "best"]], st.mode, (v) => change(view, () => { st.mode = v; })),
    select("colour", "pc-color", [["", "run colours"]].concat(numeric.map((a) => [a.key, a.name])), st.colorBy,
           (v) => change(view, () => { st.colorBy = v; })));
  const rest = view.all.filter((a) => !view.axes.includes(a));
  if (rest.length) {
    bar.append(select("add axis", "pc-add", [["", "—"]].concat(rest.map((a) => [a.key, a.name + (a.differs ? "" : " (same)")])), "",
                      (v) => change(view, () => { st.axes = view.axes.map((a) => a.key).concat([v]); })));
  }
  bar.append(button("only what differs", "show the axes whose values differ (the default)",
                    () => change(view, () => { st.axes = null; }), "pc-reset"));
  if (st.brushes.size) bar.append(button("clear brushes", "clear every brush", () => change(view, () => st.brushes.clear()), "pc-clear"));
  const chips = document.createElement("ol");
  chips.className = "pc-axes";
  chips.setAttribute("aria-label", "axes");
  view.axes.forEach((a, i) => {
    const li = document.createElement("li");
    li.dataset.key = a.key;
    const name = document.createElement("span");
    name.textContent = a.name;
    li.append(name);
    const move = (d) => change(view, () => {
      const keys = view.axes.map((x) => x.key);
      keys.splice(i + d, 0, keys.splice(i, 1)[0]);
      st.axes = keys;
    });
    if (i > 0) li.append(button("◀", "move " + a.name + " left", () => move(-1), "pc-left"));
    if (i < view.axes.length - 1) li.append(button("▶", "move " + a.name + " right", () => move(1), "pc-right"));
    if (a.kind === "num" && a.canLog) {
      li.append(button(a.log ? "log ✓" : "log", (a.log ? "linear" : "log") + " axis for " + a.name,
                       () => change(view, () => { st.log.set(a.key, !a.log); }), "pc-log" + (a.log ? " on" : "")));
    }
    li.append(button("×", "remove the axis " + a.name, () => change(view, () => {
      st.axes = view.axes.map((x) => x.key).filter((k) => k !== a.key);
      st.brushes.delete(a.key);
    }), "pc-remove"));
    chips.append(li);
  });
  return [bar, chips];
}

function change(view, fn) {
  fn();
  view.host.write(view.state);
  build(view);
}

// Runs and axes for the current state (hidden runs left out), then the plot
function build(view) {
  const hide = hiddenRuns(), keep = [];
  view.data.runs.forEach((r, i) => { if (!hide.has(r.id)) keep.push(i); });
  const data = { axes: view.data.axes.map((a) => ({ ...a, values: keep.map((i) => a.values[i]), present: keep.map((i) => a.present[i]),
                                                      best: a.best && keep.map((i) => a.best[i]) })) };
  view.runs = keep.map((i) => view.data.runs[i]);
  view.all = allAxes(data, view.state);
  view.axes = shownAxes(view.all, view.state);
  if (view.plot) view.plot.destroy();
  const [bar, chips] = controls(view);
  const holder = document.createElement("div");
  holder.className = "pc-plot";
  view.el.replaceChildren(bar, chips, holder);
  view.plot = new PcPlot(holder, {
    runs: view.runs, axes: view.axes, all: view.all, state: view.state,
    onBrush: () => { view.host.write(view.state); if (view.onBrush) view.onBrush(); },
    onReorder: (keys) => change(view, () => { view.state.axes = keys; }),
    onOpen: (run) => { location.href = run.url; },
    onHighlight: view.onHighlight,
  });
}

// Draw the parallel coordinates of `src` (a /api/compare/params URL) into `el`
export async function mount(el, src, host, hooks) {
  const view = Object.assign({ el, host: host || urlHost, plot: null }, hooks || {});
  view.state = readState(view.host.params());
  mounted.set(el, view);
  el.replaceChildren(note("pc-loading", "loading…"));
  try {
    const res = await fetch(src, { credentials: "same-origin" });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body.error || res.status + " " + res.statusText);
    if (mounted.get(el) !== view) return view;   // gone (or mounted again) meanwhile
    view.data = body;
  } catch (err) {
    el.replaceChildren(note("pc-error", "Could not load the values: " + err.message));
    return view;
  }
  build(view);
  return view;
}

export function unmount(el) {
  const view = mounted.get(el);
  if (view && view.plot) view.plot.destroy();
  mounted.delete(el);
}

onHiddenChange(() => mounted.forEach((view) => { if (view.data) build(view); }));
onLoad((root) => within(root, "[data-pcoords]").forEach((el) => { if (!mounted.has(el)) mount(el, el.dataset.src); }));
onCleanup((gone) => mounted.forEach((_v, el) => { if (gone.contains(el)) unmount(el); }));
