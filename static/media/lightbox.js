/* The lightbox: one <dialog> outside the swapped content, paging through a run's items of a tag
   (arrow keys too); the tag's slider follows it. */
import { fmtStep } from "../util.js";
import { findPos, posOf } from "./model.js";
import { go, setMedia } from "./view.js";

let lb = null;                     // the open lightbox: {view, run, item, opener}

function lightbox() {
  let dlg = document.getElementById("media-lightbox");
  if (dlg) return dlg;
  dlg = document.createElement("dialog");
  dlg.id = "media-lightbox";
  dlg.className = "media-lightbox";
  dlg.setAttribute("aria-label", "media viewer");
  dlg.innerHTML = "<div class='lb-stage'></div><div class='lb-bar'>" +
    "<button type='button' class='lb-prev' aria-label='previous' title='previous (←)'>◀</button>" +
    "<div class='lb-text'><b class='lb-step'></b> <span class='lb-caption'></span> <span class='lb-count'></span></div>" +
    "<a class='lb-raw' target='_blank' rel='noopener'>open file ↗</a>" +
    "<button type='button' class='lb-next' aria-label='next' title='next (→)'>▶</button>" +
    "<button type='button' class='lb-close' aria-label='close' title='close (Esc)'>✕</button></div>";
  document.body.append(dlg);
  dlg.addEventListener("click", (e) => {
    if (e.target === dlg || e.target.classList.contains("lb-stage")) dlg.close(); // outside the picture
    else if (e.target.closest(".lb-prev")) lbStep(-1);
    else if (e.target.closest(".lb-next")) lbStep(1);
    else if (e.target.closest(".lb-close")) dlg.close();
  });
  dlg.addEventListener("keydown", (e) => {
    if (e.key === "Escape") { e.preventDefault(); dlg.close(); }
    else if (e.target.tagName === "VIDEO") return;   // the video's own keys (seek)
    else if (e.key === "ArrowLeft") { e.preventDefault(); lbStep(-1); }
    else if (e.key === "ArrowRight") { e.preventDefault(); lbStep(1); }
  });
  dlg.addEventListener("close", () => {
    const v = dlg.querySelector("video");
    if (v) v.pause();
    const opener = lb && lb.opener;
    lb = null;
    dlg.querySelector(".lb-stage").textContent = "";
    if (opener && opener.isConnected) opener.closest("[data-media-tag]").focus({ preventScroll: true });
  });
  return dlg;
}

function drawLightbox() {
  const dlg = lightbox(), run = lb.run, it = lb.item, i = run.items.indexOf(it);
  setMedia(dlg.querySelector(".lb-stage"), it, it.caption || lb.view.tag);
  dlg.querySelector(".lb-step").textContent = it.step === null ? lb.view.tag : lb.view.tag + " · step " + fmtStep(it.step);
  dlg.querySelector(".lb-caption").textContent = it.caption;
  dlg.querySelector(".lb-count").textContent = (lb.view.runs.length > 1 ? run.id + " · " : "") +
    (i + 1) + " / " + run.items.length;
  dlg.querySelector(".lb-raw").href = it.url;
  dlg.querySelector(".lb-prev").disabled = i <= 0;
  dlg.querySelector(".lb-next").disabled = i >= run.items.length - 1;
}

export function openLightbox(view, run, item, opener) {
  const dlg = lightbox();
  lb = { view, run, item, opener };
  drawLightbox();
  if (!dlg.open) dlg.showModal();
}

function lbStep(d) {
  if (!lb) return;
  const items = lb.run.items, i = items.indexOf(lb.item) + d;
  if (i < 0 || i >= items.length) return;
  lb.item = items[i];
  drawLightbox();
  go(lb.view, findPos(lb.view, posOf(lb.run, lb.item)));  // the tag's slider follows
}

// close it when its tag's view is inside `el` (a panel re-fetched or swapped out)
export function closeLightboxIn(el) {
  if (lb && el.contains(lb.view.el)) lightbox().close();
}

// redraw it when items were appended to its tag's view
export function redrawLightbox(view) {
  if (lb && lb.view === view) drawLightbox();
}
