/* Media panels (the run page's media tab): one view per tag (view.js), the lightbox, and live
   appends: `media` events add items in place; a new tag, a gap or a reset re-fetches the panel,
   keeping each tag's position (or its tail -f) across the swap: the position is read from the
   old panel when the new one arrives (the user may move a slider while the request is out), and
   the new panel is set up in the swap itself (settle:0ms: htmx's default 20 ms settle showed the
   server's latest step first, for a frame or far longer under load). */
import { onEvent, onReopen } from "../events.js";
import { onCleanup, onLoad } from "../util.js";
import { closeLightboxIn, openLightbox, redrawLightbox } from "./lightbox.js";
import { findPos, indexRun, item, positionsOf } from "./model.js";
import { initView, mediaViews, renderView } from "./view.js";

const mediaKeep = new Map();       // panel URL -> {panel (the old one), queue} while re-fetched

function panelState(panel) {
  const state = {};
  panel.querySelectorAll("[data-media-tag]").forEach((el) => {
    const v = mediaViews.get(el);
    if (v) state[v.tag] = { atEnd: v.index >= v.positions.length - 1, pos: v.positions[v.index] };
  });
  return state;
}

function refetchMedia(panel) {
  const url = panel.dataset.mediaUrl;
  if (!url || mediaKeep.has(url) || !panel.isConnected) return;
  mediaKeep.set(url, { panel, queue: [] });
  closeLightboxIn(panel);
  // swapped: the new panel's load hook reads the old one's state; not swapped (an error): drop it
  const done = () => { if (panel.isConnected) mediaKeep.delete(url); };
  htmx.ajax("GET", url, { target: panel, swap: "outerHTML settle:0ms" }).then(done, done);
}

function applyMedia(panel, msg) {
  const kept = mediaKeep.get(panel.dataset.mediaUrl);
  if (kept) { kept.queue.push(msg); return; }           // the re-fetched panel gets it
  if (msg.reset) { refetchMedia(panel); return; }
  let items = msg.items || [];
  if (msg.from !== null && msg.from !== undefined) {      // an index: skip what the page has
    const have = Number(panel.dataset.mediaCount) || 0;
    if (msg.from > have) { refetchMedia(panel); return; } // a gap: items were missed
    items = items.slice(have - msg.from);
    panel.dataset.mediaCount = String(Math.max(have, msg.from + msg.items.length));
  }
  const views = new Map();
  panel.querySelectorAll("[data-media-tag]").forEach((el) => {
    const v = mediaViews.get(el);
    if (v) views.set(v.tag, v);
  });
  if (items.some((it) => !views.has(it.tag))) { refetchMedia(panel); return; } // a new tag
  const changed = new Map();  // view -> {atEnd, pos} before the append
  items.forEach((it) => {
    const view = views.get(it.tag), run = view.runs.find((r) => r.id === msg.run);
    if (!run || (msg.from === null && run.urls.has(it.url))) return;
    if (!changed.has(view))
      changed.set(view, { atEnd: view.index >= view.positions.length - 1, pos: view.positions[view.index] });
    run.items.push(item(it.step, it.url, it.caption, it.type));
    run.urls.add(it.url);
  });
  changed.forEach((was, view) => {
    view.runs.forEach(indexRun);
    view.positions = positionsOf(view);
    view.index = was.atEnd ? view.positions.length - 1 : findPos(view, was.pos); // tail -f, or stay
    renderView(view);
    redrawLightbox(view);
  });
}

function initMedia(scope) {
  const panels = Array.from(scope.querySelectorAll("[data-media-panel]"));
  if (scope.matches && scope.matches("[data-media-panel]")) panels.push(scope);
  panels.forEach((panel) => {
    const kept = mediaKeep.get(panel.dataset.mediaUrl);
    mediaKeep.delete(panel.dataset.mediaUrl);
    const state = kept && panelState(kept.panel);  // where the user is now, not at the request
    panel.querySelectorAll("[data-media-tag]").forEach((el) => initView(el, state, openLightbox));
    if (kept) kept.queue.forEach((msg) => applyMedia(panel, msg));
  });
}

const panels = () => document.querySelectorAll("[data-media-panel]");
onEvent("media", (data) => panels().forEach((p) => { if (p.dataset.run === data.run) applyMedia(p, data); }));
onEvent("resync", () => panels().forEach(refetchMedia));
onReopen(() => panels().forEach(refetchMedia));   // media events may have been missed
onLoad((root) => initMedia(root.querySelectorAll ? root : document));
onCleanup(closeLightboxIn);
// small images (48 px samples) are drawn scaled up with sharp pixels; a missing file (the
// index line written before the image) is retried a few times
document.addEventListener("load", (e) => {
  const img = e.target;
  if (img.tagName === "IMG" && img.closest(".media-item, .lb-stage"))
    img.classList.toggle("px", img.naturalWidth > 0 && img.naturalWidth <= 160);
}, true);
document.addEventListener("error", (e) => {
  const el = e.target;
  if (el.tagName !== "IMG" || !el.closest(".media-item, .lb-stage")) return;
  const tries = Number(el.dataset.tries || 0), src = el.getAttribute("src");
  if (tries >= 3 || !src) return;
  el.dataset.tries = String(tries + 1);
  setTimeout(() => {
    if (el.getAttribute("src") !== src) return;
    el.removeAttribute("src");
    el.setAttribute("src", src);
  }, 400 * (tries + 1));
}, true);
