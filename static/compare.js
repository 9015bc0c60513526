/* Compare view (/compare): the scatter plot (uPlot, one points-only series per run, created in
   htmx's load hook and destroyed on cleanup) and the live refresh of the table or scatter when a
   compared run changes. Also, on every page, applies [data-run-color] (the CSP-clean way to
   give an element its run's colour as --run-color). Exposes window.tailboardCompare = {plots, refresh}. */
(function () {
  "use strict";
  const REFRESH_EVERY = 2000;   // ms: at most one re-fetch per window while runs train
  const HIT = 12;               // px: how near the pointer must be to a point to pick it
  const plots = new Map();      // .compare-scatter element -> {plot, points, observer}

  function fmt(v) {
    if (v === null || v === undefined) return "–";
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
    return Number.isInteger(v) ? String(v) : String(+v.toPrecision(4));
  }

  function themeColor(name, fallback) {
    return getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;
  }

  // Aligned data for uPlot: the sorted distinct x values, then one column per run that holds
  // its y at its own x and null elsewhere (a points-only series draws just that point).
  function columns(points) {
    const xs = Array.from(new Set(points.map((p) => p.x))).sort((a, b) => a - b);
    const at = new Map(xs.map((x, i) => [x, i]));
    return [xs].concat(points.map((p) => {
      const ys = new Array(xs.length).fill(null);
      ys[at.get(p.x)] = p.y;
      return ys;
    }));
  }

  // Tick labels: short numbers; on a log axis only the decades are labelled
  function tick(v, log) {
    if (v == null) return "";
    if (log && Math.abs(Math.log10(v) - Math.round(Math.log10(v))) > 1e-6) return "";
    return fmt(v);
  }

  // Padded ranges, so points at the extremes are drawn whole (log: a fraction of the span in
  // log space; a single value gets a decade each side)
  function padded(log) {
    return (u, min, max) => {
      if (min == null || max == null) return [0, 1];
      if (log) {
        const f = min === max ? 10 : Math.pow(max / min, 0.08);
        return [min / f, max * f];
      }
      const pad = ((max - min) || Math.abs(min) || 1) * 0.08;
      return [min - pad, max + pad];
    };
  }

  function nearest(u, points) {
    const cx = u.cursor.left, cy = u.cursor.top;
    if (cx == null || cx < 0) return null;
    let best = null, bestD = HIT * HIT;
    points.forEach((p) => {
      const dx = u.valToPos(p.x, "x") - cx, dy = u.valToPos(p.y, "y") - cy;
      const d = dx * dx + dy * dy;
      if (d <= bestD) { best = p; bestD = d; }
    });
    return best;
  }

  function showTip(item, u, data) {
    const p = nearest(u, item.points);
    item.hover = p;
    u.over.classList.toggle("on-point", !!p);
    if (!p) { item.tip.hidden = true; return; }
    item.tip.textContent = p.name + "\n" + data.x + " = " + fmt(p.x) + "\n" + data.y + " = " + fmt(p.y);
    item.tip.hidden = false;
    const left = u.valToPos(p.x, "x") + u.over.offsetLeft + 14;
    const top = u.valToPos(p.y, "y") + u.over.offsetTop + 10;
    item.tip.style.left = Math.min(left, u.over.offsetLeft + u.over.clientWidth - item.tip.offsetWidth) + "px";
    item.tip.style.top = top + "px";
  }

  function drawScatter(el) {
    const holder = el.querySelector(".compare-plot");
    const script = el.querySelector("[data-scatter-data]");
    if (!holder || !script || plots.has(el)) return;
    const data = JSON.parse(script.textContent);
    const muted = themeColor("--muted", "#666"), grid = themeColor("--grid", "#ddd");
    const item = { points: data.points, hover: null, tip: document.createElement("div") };
    const series = [{ label: data.x }].concat(data.points.map((p) => ({
      label: p.name, stroke: p.color, paths: () => null,
      points: { show: true, space: 0, size: 11, width: 1.5, stroke: p.color, fill: p.color + "cc" },
    })));
    const width = () => Math.max(300, holder.clientWidth);
    const axis = (label, log) => ({ label, stroke: muted, grid: { stroke: grid }, ticks: { stroke: grid }, size: 64,
                                     values: (u, splits) => splits.map((v) => tick(v, log)) });
    const opts = {
      width: width(), height: 380, legend: { show: false },
      scales: { x: { time: false, distr: data.log_x ? 3 : 1, log: 10, range: padded(data.log_x) },
                y: { distr: data.log_y ? 3 : 1, log: 10, range: padded(data.log_y) } },
      cursor: { x: false, y: false, points: { show: false }, drag: { x: false, y: false, setScale: false } },
      axes: [axis(data.x, data.log_x), axis(data.y, data.log_y)],
      series,
      hooks: { setCursor: [(u) => showTip(item, u, data)] },
    };
    item.plot = new uPlot(opts, columns(data.points), holder);
    item.tip.className = "compare-tip";
    item.tip.hidden = true;
    item.tip.setAttribute("role", "tooltip");
    item.plot.root.style.position = "relative";
    item.plot.root.appendChild(item.tip);
    item.plot.over.addEventListener("click", () => { if (item.hover) location.href = item.hover.url; });
    item.plot.over.addEventListener("mouseleave", () => { item.tip.hidden = true; item.hover = null; });
    item.observer = new ResizeObserver(() => {
      if (item.plot.width !== width()) item.plot.setSize({ width: width(), height: 380 });
    });
    item.observer.observe(holder);
    plots.set(el, item);
    el.dataset.drawn = String(data.points.length);
  }

  function destroy(el) {
    const item = plots.get(el);
    if (!item) return;
    item.observer.disconnect();
    item.plot.destroy();
    plots.delete(el);
  }

  // -- live: a compared run changed; re-fetch the table or scatter, leading and trailing edge
  // (htmx's own `throttle:` drops the trailing event, so the last change could be missed)
  let last = 0, timer = null;

  function refresh() {
    timer = null;
    const live = document.getElementById("compare-live");
    if (!live || !live.dataset.refreshUrl) return;
    last = Date.now();
    htmx.ajax("GET", live.dataset.refreshUrl, { target: "#compare-live", select: "#compare-live", swap: "outerHTML" });
  }

  function schedule() {
    if (timer) return;
    timer = setTimeout(refresh, Math.max(0, last + REFRESH_EVERY - Date.now()));
  }

  document.body.addEventListener("sse:run", schedule);
  document.body.addEventListener("sse:resync", schedule);
  let broken = false;   // a new stream after a break may have missed run events
  document.body.addEventListener("htmx:sseError", () => { broken = true; });
  document.body.addEventListener("htmx:sseOpen", () => { if (broken) { broken = false; schedule(); } });

  // a run's colour arrives as data-run-color, set through the CSSOM: the page CSP forbids
  // style="" attributes in markup, not style changes made by our own script
  function runColors(scope) {
    const found = Array.from(scope.querySelectorAll("[data-run-color]"));
    if (scope.matches && scope.matches("[data-run-color]")) found.push(scope);
    found.forEach((el) => el.style.setProperty("--run-color", el.dataset.runColor));
  }

  htmx.onLoad((root) => {
    const scope = root.querySelectorAll ? root : document;
    runColors(scope);
    const found = Array.from(scope.querySelectorAll("[data-compare-scatter]"));
    if (scope.matches && scope.matches("[data-compare-scatter]")) found.push(scope);
    found.forEach(drawScatter);
  });
  document.body.addEventListener("htmx:beforeCleanupElement", (e) => {
    plots.forEach((_item, el) => { if (e.target.contains(el)) destroy(el); });
  });
  // the axes' colours come from the theme: a theme switch redraws
  document.addEventListener("tailboard:theme", () => {
    Array.from(plots.keys()).forEach((el) => { destroy(el); drawScatter(el); });
  });
  window.tailboardCompare = { plots, refresh };
})();
