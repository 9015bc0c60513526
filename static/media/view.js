/* One media tag's view: a step slider, a row of figures per run, a filmstrip of the steps
   around the chosen one (one run only), arrow keys; an image or a video's ⤢ opens the lightbox. */
import { fmtStep, note } from "../util.js";
import { findPos, indexRun, item, itemsAt, positionsOf } from "./model.js";

const FILM = 7;                           // filmstrip thumbnails each side of the current step
export const mediaViews = new WeakMap();  // .media-tag element -> its view

export function setMedia(holder, it, alt) {  // the img/video of a figure or the lightbox, reused
  const want = it.type === "video" ? "VIDEO" : "IMG";
  let el = holder.querySelector(":scope > img, :scope > video");
  if (!el || el.tagName !== want) {
    const made = document.createElement(want.toLowerCase());
    if (want === "VIDEO") { made.controls = true; made.preload = "metadata"; }
    else { made.loading = "lazy"; made.decoding = "async"; }
    if (el) el.replaceWith(made); else holder.prepend(made);
    el = made;
  }
  if (el.getAttribute("src") !== it.url) { el.dataset.tries = "0"; el.setAttribute("src", it.url); }
  if (want === "IMG") el.alt = alt;
  return el;
}

function setCaption(fig, it, chosen) {
  let cap = fig.querySelector("figcaption");
  if (!cap) {
    cap = document.createElement("figcaption");
    cap.innerHTML = "<b class='media-step'></b> <span class='media-caption'></span>";
    fig.append(cap);
  }
  cap.querySelector(".media-step").textContent = it.step === null ? "" :
    "step " + fmtStep(it.step) + (chosen !== null && it.step !== chosen ? " (latest ≤ " + fmtStep(chosen) + ")" : "");
  cap.querySelector(".media-caption").textContent = it.caption;
  let open = cap.querySelector(".media-open");
  if (it.type === "video" && !open) {
    open = document.createElement("button");
    open.type = "button";
    open.className = "media-open";
    open.title = "full size";
    open.textContent = "⤢";
    cap.append(" ", open);
  } else if (it.type !== "video" && open) open.remove();
}

function fillRow(view, ri, pos) {
  const run = view.runs[ri], box = view.boxes[ri];
  if (!box) return;
  const at = itemsAt(run, pos);
  const items = at ? at.items.slice(0, view.perStep) : [];
  box.classList.toggle("many", items.length > 1);
  box.querySelectorAll(":scope > :not(figure)").forEach((e) => e.remove());
  const figs = Array.from(box.querySelectorAll(":scope > figure"));
  while (figs.length > items.length) figs.pop().remove();
  items.forEach((it, i) => {
    let fig = figs[i];
    if (!fig) { fig = document.createElement("figure"); fig.className = "media-item"; box.append(fig); }
    setMedia(fig, it, it.caption || view.tag);
    setCaption(fig, it, pos.step);
    fig.item = it;
  });
  if (!at) box.append(note("media-none", "no image at this step"));
  else if (at.items.length > items.length)
    box.append(note("media-more", "+" + (at.items.length - items.length) + " more at this step (open one to page through them)"));
}

function renderFilm(view) {
  const film = view.film, n = view.positions.length;
  if (!film) return;
  if (view.runs.length !== 1 || n < 2) { film.hidden = true; film.textContent = ""; return; }
  film.hidden = false;
  const lo = Math.max(0, Math.min(view.index - FILM, n - 1 - 2 * FILM)), hi = Math.min(n - 1, lo + 2 * FILM);
  const thumbs = Array.from(film.children);
  while (thumbs.length > hi - lo + 1) thumbs.pop().remove();
  for (let p = lo; p <= hi; p++) {
    let b = thumbs[p - lo];
    if (!b) {
      b = document.createElement("button");
      b.type = "button";
      b.className = "media-thumb";
      b.innerHTML = "<span class='media-thumb-pic'></span><span class='media-thumb-step'></span>";
      film.append(b);
    }
    const pos = view.positions[p], at = itemsAt(view.runs[0], pos), it = at && at.items[0];
    const label = pos.step === null ? "#" + (pos.k + 1) : fmtStep(pos.step);
    b.dataset.pos = String(p);
    b.title = pos.step === null ? "item " + label : "step " + label;
    b.classList.toggle("on", p === view.index);
    if (p === view.index) b.setAttribute("aria-current", "true"); else b.removeAttribute("aria-current");
    const pic = b.firstElementChild;
    if (it && it.type !== "video") {
      let img = pic.querySelector("img");
      if (!img) {
        img = document.createElement("img");
        img.loading = "lazy";          // before src: only thumbnails near the viewport load
        img.decoding = "async";
        img.alt = "";
        pic.textContent = "";
        pic.append(img);
      }
      if (img.getAttribute("src") !== it.url) img.setAttribute("src", it.url);
    } else pic.textContent = it ? "▶" : "–";
    b.lastElementChild.textContent = label;
  }
}

export function renderView(view) {
  const n = view.positions.length;
  view.index = Math.max(0, Math.min(view.index, n - 1));
  const pos = view.positions[view.index] || { step: null, k: 0 };
  if (view.slider) {
    view.slider.max = String(Math.max(0, n - 1));
    view.slider.value = String(view.index);
    view.controls.hidden = n < 2;
    view.prev.disabled = view.index === 0;
    view.next.disabled = view.index >= n - 1;
    view.out.textContent = (pos.step === null ? "no step, item " + (pos.k + 1) : "step " + fmtStep(pos.step)) +
      " · " + (view.index + 1) + " / " + n;
  }
  view.runs.forEach((_r, ri) => fillRow(view, ri, pos));
  renderFilm(view);
  if (view.total) {
    const total = view.runs.reduce((a, r) => a + r.items.length, 0);
    view.total.textContent = total + (total === 1 ? " item" : " items");
  }
}

export function go(view, index) {
  const i = Math.max(0, Math.min(index, view.positions.length - 1));
  if (i === view.index) return;
  view.index = i;
  renderView(view);
}

export function initView(el, kept, openLightbox) {
  if (mediaViews.has(el)) return;
  let data;
  try { data = JSON.parse(el.querySelector("[data-media-data]").textContent); } catch (e) { return; }
  const panel = el.closest("[data-media-panel]");
  const q = (s) => el.querySelector(s);
  const view = {
    el, tag: el.dataset.mediaTag, perStep: Number(panel && panel.dataset.perStep) || 16,
    runs: data.runs.map((r) => ({
      id: r.id,
      items: r.items.map(([step, path, caption, type]) => item(step, r.base + path, caption, type)),
    })),
    boxes: Array.from(el.querySelectorAll(".media-row > .media-items")),
    slider: q("[data-media-slider]"), prev: q("[data-media-prev]"), next: q("[data-media-next]"),
    out: q("[data-media-pos]"), controls: q(".media-controls"), film: q("[data-media-film]"), total: q("[data-media-total]"),
  };
  view.runs.forEach(indexRun);
  view.positions = positionsOf(view);
  view.index = view.positions.length - 1;
  const was = kept && kept[view.tag];
  if (was && !was.atEnd) view.index = findPos(view, was.pos);
  mediaViews.set(el, view);
  if (view.slider) {
    view.slider.addEventListener("input", () => go(view, Number(view.slider.value)));
    view.prev.addEventListener("click", () => go(view, view.index - 1));
    view.next.addEventListener("click", () => go(view, view.index + 1));
  }
  el.addEventListener("keydown", (e) => {
    if (e.target.matches("input, textarea, select, video") || e.altKey || e.ctrlKey || e.metaKey) return;
    const to = { ArrowLeft: view.index - 1, ArrowRight: view.index + 1, Home: 0, End: view.positions.length - 1 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    go(view, to);
  });
  el.addEventListener("click", (e) => {
    const thumb = e.target.closest(".media-thumb");
    if (thumb) { go(view, Number(thumb.dataset.pos)); return; }
    const opener = e.target.closest(".media-item img, .media-open");
    const fig = opener && opener.closest("figure");
    if (!fig || !fig.item) return;
    const ri = view.boxes.indexOf(fig.parentElement);
    if (ri >= 0) openLightbox(view, view.runs[ri], fig.item, opener);
  });
  renderView(view);
}
