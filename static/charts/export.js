/* A chart as PNG (the plot, its title and a legend) or CSV (exactly what it shows). */
import { cssVar, fmt } from "../util.js";
import { axisLabel } from "./data.js";
import { lastFinite } from "./stats.js";

function fileName(name, ext) { return (name.replace(/[^A-Za-z0-9._-]+/g, "_") || "chart") + "." + ext; }

function download(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

export function exportPng(chart) {
  const u = chart.plot;
  if (!u) return;
  const src = u.ctx.canvas, r = src.width / u.width, pad = 10 * r, titleH = 26 * r, rowH = 18 * r;
  const lines = chart.spec.lines.filter((l) => l.kind !== "member");
  const out = document.createElement("canvas");
  out.width = src.width + 2 * pad;
  out.height = titleH + src.height + pad + lines.length * rowH + pad;
  const ctx = out.getContext("2d");
  ctx.fillStyle = cssVar("--bg", "#fff");
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.fillStyle = cssVar("--fg", "#000");
  ctx.font = "600 " + 14 * r + "px system-ui, sans-serif";
  ctx.textBaseline = "middle";
  ctx.fillText(chart.title + (chart.view.state.smooth > 0 ? "  (smoothing " + chart.view.state.smooth.toFixed(2) + ")" : ""), pad, titleH / 2);
  ctx.drawImage(src, pad, titleH);
  ctx.font = 12 * r + "px system-ui, sans-serif";
  lines.forEach((l, i) => {
    const y = titleH + src.height + pad + i * rowH + rowH / 2;
    ctx.fillStyle = l.color;
    ctx.fillRect(pad, y - 5 * r, 10 * r, 10 * r);
    ctx.fillStyle = cssVar("--fg", "#000");
    ctx.fillText(l.label + "   last " + fmt(lastFinite(l.ys)), pad + 16 * r, y);
  });
  out.toBlob((blob) => download(blob, fileName(chart.name, "png")), "image/png");
}

function csvCell(v) {
  const s = v === null || v === undefined ? "" : String(v);
  return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

// Exactly what is shown: x, then each line's raw and (when smoothing) smoothed values, for
// the rows inside the current zoom.
export function exportCsv(chart) {
  const spec = chart.spec, u = chart.plot;
  if (!u || !spec || !spec.data) return;
  const cols = [], head = [axisLabel(chart.view).replace(" (s)", "_s").replace(/ /g, "_")];
  spec.lines.forEach((l) => {
    cols.push(l.col);
    head.push(l.label);
    if (l.smCol) { cols.push(l.smCol); head.push(l.label + " (smoothed)"); }
  });
  const xs = spec.data[0], min = u.scales.x.min, max = u.scales.x.max;
  const out = [head.map(csvCell).join(",")];
  for (let i = 0; i < xs.length; i++) {
    if (xs[i] < min || xs[i] > max) continue;
    out.push([xs[i], ...cols.map((c) => spec.data[c][i])].map(csvCell).join(","));
  }
  download(new Blob([out.join("\n") + "\n"], { type: "text/csv" }), fileName(chart.name, "csv"));
}
