/* Tailboard charts (uPlot): one chart per metric with every run of the view overlaid in its
   colour, grouped by "/" into collapsible sections (tree.js); a synced cursor with a tooltip,
   drag to zoom (re-fetching full resolution for the range), TensorBoard's smoothing, log y,
   min/max bands, group aggregates, an outlier-proof y scale, combined and pinned charts, any
   monotone series as x, PNG/CSV export, a last/best table and live appends. Every control is
   kept in the URL. Charts are created in htmx's load hook and destroyed in its cleanup hook. */
import { onCleanup, onLoad, within } from "../util.js";
import { onThemeChange } from "../theme.js";
import "./actions.js";
import "./controls.js";
import { readView, views } from "./data.js";
import { load } from "./live.js";
import { destroyCharts, draw, dropPlot } from "./plot.js";
import "./touch.js";

export { views };
export const live = new Map();   // container -> its drawn charts ({name, plot, ...})

function destroy(container) {
  const view = views.get(container);
  if (!view) return;
  view.gen++;
  view.zoomGen++;
  destroyCharts(view);
  views.delete(container);
  live.delete(container);
}

onLoad((root) => {
  within(root, "[data-charts]").forEach((container) => {
    if (views.has(container)) return;
    const view = readView(container);
    views.set(container, view);
    live.set(container, view.items);
    load(view);
  });
});
onCleanup((gone) => {
  views.forEach((_v, container) => { if (gone.contains(container)) destroy(container); });
});
// the axes' colours come from the theme: a theme switch redraws
onThemeChange(() => {
  views.forEach((view) => {
    view.theme = null;
    view.charts.forEach((c) => { if (c.plot) { dropPlot(c); draw(c, !view.zoom); } });
  });
});
