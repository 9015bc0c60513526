/* Zoom: drag to zoom every chart of the view, then fetch full resolution for the range;
   a double click resets it. */
import { fetchRun, views } from "./data.js";
import { draw } from "./plot.js";

export async function zoomTo(view, min, max) {
  if (!(max > min)) return;
  const gen = ++view.zoomGen, t0 = performance.now();
  view.zoom = { min, max, data: null };
  view.charts.forEach((c) => { if (c.plot) c.plot.setScale("x", { min, max }); });
  const relative = view.state.x === "relative";
  const results = await Promise.allSettled(view.runs.map((r) => {
    const base = view.data.get(r.id);
    if (!base) return Promise.resolve(null);
    const shift = relative ? base.t0 : 0;
    if (relative && shift === null) return Promise.resolve(null);
    return fetchRun(view, r, [min + shift, max + shift]);
  }));
  if (gen !== view.zoomGen || views.get(view.el) !== view) return;
  const data = new Map();
  results.forEach((res, i) => {
    if (res.status === "fulfilled" && res.value) data.set(view.runs[i].id, { series: res.value.series });
  });
  view.zoom = { min, max, data };
  view.el.dataset.zoomed = "1";
  view.charts.forEach((c) => { if (c.plot) draw(c, false); });
  setTimeout(() => {              // drag released to the refetched points painted
    view.el.dataset.zoomMs = (Math.max(view.lastDraw, t0) - t0).toFixed(1);
    view.el.dataset.zooms = String(Number(view.el.dataset.zooms || 0) + 1);
  }, 0);
}

export function resetZoom(view) {
  view.zoomGen++;
  const u = new URL(location.href);   // a zoom the link opened with is gone too
  if (u.searchParams.has("zoom")) { u.searchParams.delete("zoom"); history.replaceState(history.state, "", u); }
  view.zoom = null;
  delete view.el.dataset.zoomed;
  view.charts.forEach((c) => { if (c.plot) draw(c, true); });
}
