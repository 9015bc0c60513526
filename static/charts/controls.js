/* The charts toolbar: every control applies as it changes (a slider on input, the others on
   change) and is written to the URL. */
import { views } from "./data.js";
import { load } from "./live.js";
import { applyFilter, redrawAll } from "./tree.js";
import { writeUrl } from "./urlstate.js";

function onControl(e) {
  const form = e.target.closest(".chart-controls");
  const panel = form && form.closest(".charts-panel");
  const container = panel && panel.querySelector("[data-charts]");
  const view = container && views.get(container);
  if (!view) return;
  const t = e.target, st = view.state;
  switch (t.name) {
    case "x":
      if (e.type !== "change") return;
      st.x = t.value;
      view.zoom = null;
      writeUrl(view);
      load(view);
      return;
    case "smooth": {
      st.smooth = Math.min(0.99, Math.max(0, Number(t.value) || 0));
      const out = form.querySelector("output[name=smooth-value]");
      if (out) out.textContent = st.smooth.toFixed(2);
      break;
    }
    case "logy": st.logy = t.checked; break;
    case "band": st.band = t.checked; break;
    case "agg": case "spread": case "group": st[t.name] = t.value; break;
    case "metric":
      st.metric = t.value;
      writeUrl(view);
      applyFilter(view);
      return;
    default: return;
  }
  if ((e.type === "input") !== (t.type === "range")) return;   // a slider on input, the others on change
  writeUrl(view);
  redrawAll(view, !view.zoom);
}

// Enter in the metric filter must not load the page
document.body.addEventListener("submit", (e) => { if (e.target.closest(".chart-controls")) e.preventDefault(); });
document.body.addEventListener("input", (e) => { if (e.target.closest(".chart-controls")) onControl(e); });
document.body.addEventListener("change", (e) => { if (e.target.closest(".chart-controls")) onControl(e); });
