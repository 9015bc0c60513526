/* A run's page (/runs/<id>): charts, logs, media; its head follows the run. */
import { onEvent, onReopen } from "../events.js";
import { expose } from "../tailboard.js";
import { live, views } from "../charts/index.js";
import { followers } from "../logs.js";
import "../media/index.js";

// the run head (status, summary) re-fetched when the stream says events were missed
function refreshHead() {
  if (document.getElementById("run-head"))
    htmx.ajax("GET", location.href, { target: "#run-head", select: "#run-head", swap: "outerHTML" });
}
onEvent("resync", refreshHead);
onReopen(refreshHead);

expose({ charts: live, chartViews: views, followers });
