/* Parallel coordinates, the SVG: one vertical axis per column, one line per run (its own colour
   or a colour scale), brushes dragged along an axis (the runs outside are dimmed), a tooltip
   naming the hovered run (a click opens it), axes dragged sideways by their title to reorder.
   render() rebuilds the SVG (a few dozen elements); a brush move only calls highlight(). */
import { fmt } from "../util.js";
import { brushFrom, brushSpan, label, passes, position, ramp, ticks } from "./model.js";

const NS = "http://www.w3.org/2000/svg";
const M = { top: 40, right: 60, bottom: 34, left: 60 };   // px around the axes
const HEIGHT = 360;       // px of the whole plot
const MISSING_GAP = 18;   // px below an axis: where a run without the value goes
const BRUSH_WIDTH = 26;   // px: the grab area of an axis
const CLICK = 3;          // px: a drag shorter than this is a click (clears the brush)

function el(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  Object.entries(attrs || {}).forEach(([k, v]) => e.setAttribute(k, String(v)));
  if (parent) parent.appendChild(e);
  return e;
}

export class PcPlot {
  // holder: an element of the page; opts: {runs, axes, all, state, onBrush(), onReorder(keys), onOpen(run)}
  constructor(holder, opts) {
    Object.assign(this, opts);
    this.holder = holder;
    this.tip = document.createElement("div");
    this.tip.className = "pc-tip";
    this.tip.setAttribute("role", "tooltip");
    this.tip.hidden = true;
    this.count = document.createElement("p");
    this.count.className = "pc-count";
    this.count.setAttribute("role", "status");
    this.svg = el("svg", { class: "pc-svg", height: HEIGHT, role: "img", "aria-label": "parallel coordinates" });
    holder.replaceChildren(this.count, this.svg, this.tip);
    this.lastBrushMs = null;   // the brush handler's last duration (the benchmark reads it)
    this.observer = new ResizeObserver(() => { if (this.width() !== this.drawnWidth) this.render(); });
    this.observer.observe(holder);
    this.render();
  }

  destroy() { this.observer.disconnect(); this.holder.replaceChildren(); }

  width() { return Math.max(320, this.holder.clientWidth); }

  x(i) {
    const n = this.axes.length, w = this.drawnWidth - M.left - M.right;
    return n === 1 ? M.left + w / 2 : M.left + (i * w) / (n - 1);
  }

  y(t) { return M.top + (1 - t) * (HEIGHT - M.top - M.bottom - MISSING_GAP); }

  colorOf(i) {
    const by = this.colorAxis;
    if (!by) return this.runs[i].color || "#888888";
    const p = position(by, by.vals[i]);
    return p === null ? "#9aa0a6" : ramp(p);
  }

  render() {
    this.drawnWidth = this.width();
    const svg = this.svg;
    svg.setAttribute("width", this.drawnWidth);
    svg.replaceChildren();
    this.colorAxis = this.all.find((a) => a.key === this.state.colorBy && a.kind === "num") || null;
    if (!this.axes.length) {
      el("text", { x: M.left, y: M.top, class: "pc-empty" }, svg).textContent = "No axis chosen: add one above.";
      this.lines = [];
      this.highlight();
      return;
    }
    const linesG = el("g", { class: "pc-lines" }, svg);
    const bottom = this.y(0) + MISSING_GAP;
    this.lines = this.runs.map((run, i) => {
      const pts = this.axes.map((a, k) => {
        const p = position(a, a.vals[i]);
        return [this.x(k), p === null ? bottom : this.y(p)];
      });
      const d = "M" + pts.map(([px, py]) => px.toFixed(1) + " " + py.toFixed(1)).join(" L");
      const g = el("g", { class: "pc-run", "data-run": run.id }, linesG);
      el("path", { d, class: "pc-line", stroke: this.colorOf(i) }, g);
      const hit = el("path", { d, class: "pc-hit" }, g);
      hit.addEventListener("pointerenter", (e) => this.hover(i, e));
      hit.addEventListener("pointermove", (e) => this.place(e));
      hit.addEventListener("pointerleave", () => this.unhover(i));
      hit.addEventListener("click", () => this.onOpen(run));
      return g;
    });
    this.axes.forEach((a, k) => this.drawAxis(a, k, bottom));
    this.highlight();
  }

  drawAxis(axis, k, bottom) {
    const x = this.x(k);
    const g = el("g", { class: "pc-axis pc-" + axis.kind, "data-key": axis.key, transform: `translate(${x},0)` }, this.svg);
    el("line", { x1: 0, x2: 0, y1: this.y(0), y2: this.y(1), class: "pc-axis-line" }, g);
    ticks(axis).forEach(([p, text]) => {
      const ty = this.y(p);
      el("line", { x1: -4, x2: 0, y1: ty, y2: ty, class: "pc-tick" }, g);
      el("text", { x: -7, y: ty + 4, class: "pc-tick-label" }, g).textContent = text;
    });
    if (axis.vals.some((v) => position(axis, v) === null)) {
      el("text", { x: -7, y: bottom + 4, class: "pc-tick-label pc-missing" }, g).textContent = "–";
    }
    const head = el("g", {}, g);   // its <title> is the tooltip, beside the text (not in it)
    el("title", {}, head).textContent = axis.name + (axis.better ? " (" + this.state.mode + ", best = " + axis.better + ")" : "") +
      ": drag sideways to move, drag along the axis to brush";
    const title = el("text", { x: 0, y: M.top - 22, class: "pc-title" }, head);
    title.textContent = (axis.name.length > 22 ? "…" + axis.name.slice(-21) : axis.name) + (axis.log ? " (log)" : "");
    this.dragTitle(title, k);
    const band = el("rect", { class: "pc-brush", x: -5, width: 10, y: 0, height: 0 }, g);
    band.setAttribute("visibility", "hidden");
    const grab = el("rect", { class: "pc-grab", x: -BRUSH_WIDTH / 2, width: BRUSH_WIDTH, y: this.y(1) - 10,
                              height: this.y(0) - this.y(1) + 20 }, g);
    this.brushDrag(grab, axis, band);
    axis.band = band;
  }

  // Brushing: drag along an axis; a click clears that axis's brush
  brushDrag(grab, axis, band) {
    const tAt = (e) => {
      const r = this.svg.getBoundingClientRect(), py = e.clientY - r.top;
      return Math.max(0, Math.min(1, 1 - (py - M.top) / (this.y(0) - M.top)));
    };
    grab.addEventListener("pointerdown", (e) => {
      e.preventDefault();
      grab.setPointerCapture(e.pointerId);
      const y0 = e.clientY, t0 = tAt(e);
      const move = (ev) => {
        if (Math.abs(ev.clientY - y0) < CLICK) return;
        this.brushMove(axis, brushFrom(axis, t0, tAt(ev)));
      };
      const up = (ev) => {
        grab.removeEventListener("pointermove", move);
        grab.removeEventListener("pointerup", up);
        if (Math.abs(ev.clientY - y0) < CLICK) this.brushMove(axis, null);
        this.onBrush();
      };
      grab.addEventListener("pointermove", move);
      grab.addEventListener("pointerup", up);
    });
  }

  // The brush handler: set (or clear) one axis's brush and re-highlight
  brushMove(axis, brush) {
    const t0 = performance.now();
    if (brush) this.state.brushes.set(axis.key, brush);
    else this.state.brushes.delete(axis.key);
    this.highlight();
    this.lastBrushMs = performance.now() - t0;
  }

  highlight() {
    const brushes = this.state.brushes;
    let n = 0;
    this.passing = new Set();
    this.lines.forEach((g, i) => {
      const ok = passes(this.axes, brushes, i);
      g.classList.toggle("pc-dim", !ok);
      if (ok) { n++; this.passing.add(this.runs[i].id); }
    });
    this.axes.forEach((a) => {
      const b = brushes.get(a.key), span = b && brushSpan(a, b);
      if (!a.band) return;
      if (!span) { a.band.setAttribute("visibility", "hidden"); return; }
      a.band.setAttribute("visibility", "visible");
      a.band.setAttribute("y", this.y(span[1]).toFixed(1));
      a.band.setAttribute("height", Math.max(2, this.y(span[0]) - this.y(span[1])).toFixed(1));
    });
    const brushed = this.axes.some((a) => brushes.has(a.key));
    this.count.textContent = brushed ? n + " of " + this.runs.length + " runs in the brushes" :
      this.runs.length + " run" + (this.runs.length === 1 ? "" : "s") + " · drag along an axis to brush";
    this.holder.dataset.highlighted = String(n);
    if (this.onHighlight) this.onHighlight(this.passing, brushed);
  }

  // Reordering: drag an axis title sideways, dropped at the nearest slot
  dragTitle(title, k) {
    title.addEventListener("pointerdown", (e) => {
      e.preventDefault();
      title.setPointerCapture(e.pointerId);
      const x0 = e.clientX, g = title.closest(".pc-axis"), base = this.x(k);
      const move = (ev) => g.setAttribute("transform", `translate(${base + ev.clientX - x0},0)`);
      const up = (ev) => {
        title.removeEventListener("pointermove", move);
        title.removeEventListener("pointerup", up);
        const at = base + ev.clientX - x0;
        let best = k;
        this.axes.forEach((_a, j) => { if (Math.abs(this.x(j) - at) < Math.abs(this.x(best) - at)) best = j; });
        if (best === k) { g.setAttribute("transform", `translate(${base},0)`); return; }
        const keys = this.axes.map((a) => a.key);
        keys.splice(best, 0, keys.splice(k, 1)[0]);
        this.onReorder(keys);
      };
      title.addEventListener("pointermove", move);
      title.addEventListener("pointerup", up);
    });
  }

  hover(i, e) {
    this.lines[i].classList.add("pc-hover");
    const run = this.runs[i];
    this.tip.textContent = run.name + "\n" + this.axes.map((a) => {
      const v = a.vals[i];
      return a.name + " = " + (v === undefined ? "–" : typeof v === "number" || v === null ? fmt(v) : label(v));
    }).join("\n");
    this.tip.hidden = false;
    this.place(e);
  }

  place(e) {
    const r = this.holder.getBoundingClientRect();
    const left = Math.min(e.clientX - r.left + 14, this.holder.clientWidth - this.tip.offsetWidth - 4);
    this.tip.style.left = Math.max(0, left) + "px";
    this.tip.style.top = (e.clientY - r.top + 12) + "px";
  }

  unhover(i) {
    this.lines[i].classList.remove("pc-hover");
    this.tip.hidden = true;
  }
}
