/* The charts toolbar: every control applies as it changes (a slider on input, the others on
   change) and is written to the URL. */
import { XMETRIC, views } from "./data.js";
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
      st.xmetric = t.value.startsWith(XMETRIC) ? t.value.slice(XMETRIC.length) : "";
      st.x = st.xmetric ? "step" : t.value;   // another series is joined to each metric by step
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
    case "logx":   // the server buckets in log x: a re-fetch, not a redraw
      st.logx = t.checked;
      view.zoom = null;
      writeUrl(view);
      load(view);
      return;
    case "clip": st.clip = t.checked; break;
    case "clipq": st.clipq = Math.min(25, Math.max(0, Math.round(Number(t.value) || 0))); break;
    case "skip": st.skip = Math.max(0, Number(t.value) || 0); break;
    case "smoother": st.smoother = t.value; break;
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
  if (t.name === "clip") view.panel.querySelectorAll(".chart-card [data-act=clip]").forEach((b) => {
    b.setAttribute("aria-pressed", String(st.clip !== st.clipc.has(b.closest(".chart-card").dataset.metric)));
  });
  writeUrl(view);
  redrawAll(view, !view.zoom);
}

// Enter in the metric filter must not load the page
document.body.addEventListener("submit", (e) => { if (e.target.closest(".chart-controls")) e.preventDefault(); });
document.body.addEventListener("input", (e) => { if (e.target.closest(".chart-controls")) onControl(e); });
document.body.addEventListener("change", (e) => { if (e.target.closest(".chart-controls")) onControl(e); });
