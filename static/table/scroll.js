/* The runs table scrolls inside its own box (layout.css), which a swap of #runs replaces (a
   sort, a page, a live runset): the new box opens where the user left the old one. */
let kept = null;

const box = () => document.querySelector("#runs .table-wrap");

// capturing, so it reads the box before table/index.js empties #runs on the same event
document.addEventListener("htmx:beforeSwap", (e) => {
  if (!e.detail.target || e.detail.target.id !== "runs") return;
  const w = box();
  kept = w ? { left: w.scrollLeft, top: w.scrollTop } : null;
}, true);
document.body.addEventListener("htmx:afterSwap", (e) => {
  if (!e.detail.target || e.detail.target.id !== "runs" || !kept) return;
  const w = box();
  if (w) { w.scrollLeft = kept.left; w.scrollTop = kept.top; }
  kept = null;
});
