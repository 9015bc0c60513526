/* Every chart control is kept in the URL (replaceState): a reload or a shared link shows the
   same view. The server reads it back into the panel's data attributes. */
import { joinNames } from "./card.js";

const URL_KEYS = ["x", "smooth", "logy", "logx", "band", "agg", "spread", "group", "metric", "better", "fold",
                  "smoother", "xmetric", "clip", "clipq", "skip", "clipc", "combo", "pin"];

export function writeUrl(view) {
  const u = new URL(location.href), st = view.state, p = u.searchParams;
  URL_KEYS.forEach((k) => p.delete(k));
  if (st.x !== "step") p.set("x", st.x);
  if (st.smooth > 0) p.set("smooth", String(st.smooth));
  if (st.logy) p.set("logy", "1");
  if (st.logx) p.set("logx", "1");
  if (!st.band) p.set("band", "0");
  if (st.agg !== "none") p.set("agg", st.agg);
  if (st.spread !== "minmax") p.set("spread", st.spread);
  if (st.group !== "auto") p.set("group", st.group);
  if (st.metric) p.set("metric", st.metric);
  Object.entries(st.better).forEach(([name, way]) => p.append("better", name + ":" + way));
  st.fold.forEach((path) => p.append("fold", path));
  if (st.smoother !== "ema") p.set("smoother", st.smoother);
  if (st.xmetric) p.set("xmetric", st.xmetric);
  if (st.clip) p.set("clip", "1");
  if (st.clipq !== 5) p.set("clipq", String(st.clipq));
  if (st.skip) p.set("skip", String(st.skip));
  st.clipc.forEach((key) => p.append("clipc", key));
  st.combo.forEach((names) => p.append("combo", joinNames(names)));
  st.pin.forEach((key) => p.append("pin", key));
  history.replaceState(history.state, "", u);
}

// `zoom=<min>,<max>`: a link (an alert's "chart at this step") opens the charts zoomed there
export function zoomFromUrl() {
  const raw = new URLSearchParams(location.search).get("zoom");
  const [min, max] = (raw || "").split(",").map(Number);
  return raw && Number.isFinite(min) && Number.isFinite(max) && max > min ? { min, max, data: null } : null;
}
