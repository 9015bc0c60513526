/* Tailboard front end: what htmx cannot do. Charts (uPlot) are created in htmx's load hook and
   destroyed in its cleanup hook, so fragment swaps never leak them. */
(function () {
  "use strict";
  const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"];
  const live = new Map(); // container element -> [{plot, observer}]

  function fmt(v) {
    if (v === null || v === undefined) return "–";
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
    return Number.isInteger(v) ? String(v) : v.toPrecision(4);
  }

  function groupOf(name) {
    const i = name.indexOf("/");
    return i > 0 ? name.slice(0, i) : "";
  }

  function destroy(container) {
    const items = live.get(container);
    if (!items) return;
    items.forEach(({ plot, observer }) => { observer.disconnect(); plot.destroy(); });
    live.delete(container);
  }

  function lastFinite(ys) {
    for (let i = ys.length - 1; i >= 0; i--) if (ys[i] !== null) return ys[i];
    return null;
  }

  function makeChart(card, name, s, axis, color) {
    const banded = s.ymin.some((v, i) => v !== s.ymax[i]);
    const series = [{}, { label: name, stroke: color, width: 1.5, points: { show: s.x.length < 60 } }];
    const data = [s.x, s.y];
    const opts = {
      width: Math.max(240, card.clientWidth - 16), height: 200,
      scales: { x: { time: axis === "time" } },
      legend: { show: true, live: true },
      cursor: { drag: { x: true, y: false } },
      axes: [{ stroke: "var(--muted)", grid: { stroke: "var(--grid)" } },
             { stroke: "var(--muted)", grid: { stroke: "var(--grid)" }, size: 60 }],
      series, bands: [],
    };
    opts.axes.forEach((a) => { a.stroke = getComputedStyle(document.body).getPropertyValue("--muted") || "#666"; });
    if (banded) {
      series.push({ label: "min", stroke: "transparent", points: { show: false } },
                  { label: "max", stroke: "transparent", points: { show: false } });
      data.push(s.ymin, s.ymax);
      opts.bands.push({ series: [3, 2], fill: color + "33" });
    }
    const plot = new uPlot(opts, data, card.querySelector(".plot"));
    const observer = new ResizeObserver(() => plot.setSize({ width: Math.max(240, card.clientWidth - 16), height: 200 }));
    observer.observe(card);
    return { plot, observer };
  }

  async function loadCharts(container) {
    const url = new URL(container.dataset.metricsUrl, location.href);
    const axis = container.dataset.x || "step";
    url.searchParams.set("x", axis);
    url.searchParams.set("points", container.dataset.points || "2000");
    let body;
    try {
      const res = await fetch(url, { credentials: "same-origin" });
      body = await res.json();
      if (!res.ok) throw new Error(body.error || res.statusText);
    } catch (e) {
      container.innerHTML = "";
      const p = document.createElement("p");
      p.className = "row-error";
      p.textContent = "Could not load metrics: " + e.message;
      container.appendChild(p);
      return;
    }
    destroy(container);
    container.innerHTML = "";
    const groups = new Map();
    Object.keys(body.series).forEach((name) => {
      const g = groupOf(name);
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g).push(name);
    });
    const items = [];
    let colorIndex = 0;
    groups.forEach((names, g) => {
      const section = document.createElement("section");
      section.className = "chart-group";
      const h = document.createElement("h3");
      h.textContent = g || "metrics";
      section.appendChild(h);
      const grid = document.createElement("div");
      grid.className = "chart-grid";
      section.appendChild(grid);
      container.appendChild(section);
      names.forEach((name) => {
        const s = body.series[name];
        const card = document.createElement("div");
        card.className = "chart-card";
        card.dataset.metric = name;
        const title = document.createElement("div");
        title.className = "chart-title";
        title.innerHTML = "<b></b><span class='sub'></span>";
        title.querySelector("b").textContent = name;
        title.querySelector(".sub").textContent =
          "last " + fmt(lastFinite(s.y)) + " · " + s.count + " points" +
          (s.count > s.x.length ? " (" + s.x.length + " shown, min/max band kept)" : "");
        card.appendChild(title);
        const plotDiv = document.createElement("div");
        plotDiv.className = "plot";
        card.appendChild(plotDiv);
        grid.appendChild(card);
        if (s.x.length === 0) {
          plotDiv.textContent = "no points on the " + axis + " axis";
          return;
        }
        items.push(makeChart(card, name, s, axis, PALETTE[colorIndex++ % PALETTE.length]));
      });
    });
    live.set(container, items);
    container.dataset.drawn = String(items.length);
  }

  function initMedia(root) {
    root.querySelectorAll("[data-media-slider]").forEach((slider) => {
      const box = slider.closest("[data-media-tag]");
      const figures = box.querySelectorAll(".media-item");
      const out = slider.parentElement.querySelector("output");
      slider.addEventListener("input", () => {
        figures.forEach((f, i) => f.classList.toggle("current", i === Number(slider.value)));
        out.textContent = figures[slider.value].dataset.step;
      });
    });
  }

  function init(root) {
    const scope = root.querySelectorAll ? root : document;
    const containers = Array.from(scope.querySelectorAll("[data-metrics-url]"));
    if (scope.matches && scope.matches("[data-metrics-url]")) containers.push(scope);
    containers.forEach(loadCharts);
    initMedia(scope);
  }

  htmx.onLoad(init);
  document.body.addEventListener("htmx:beforeCleanupElement", (e) => {
    live.forEach((_items, container) => { if (e.target.contains(container)) destroy(container); });
  });
  document.body.addEventListener("change", (e) => {
    if (!e.target.matches(".x-axis")) return;
    const container = e.target.closest(".charts-panel").querySelector("[data-metrics-url]");
    if (!container) return;
    container.dataset.x = e.target.value;
    const u = new URL(location.href);
    u.searchParams.set("x", e.target.value);
    history.replaceState(history.state, "", u);
    loadCharts(container);
  });
  window.tailboard = { charts: live, reload: loadCharts };
})();
