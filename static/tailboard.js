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
    items.forEach((it) => { it.observer.disconnect(); it.plot.destroy(); });
    live.delete(container);
  }

  function lastFinite(ys) {
    for (let i = ys.length - 1; i >= 0; i--) if (ys[i] !== null) return ys[i];
    return null;
  }

  function makeChart(card, name, s, axis, color) {
    const item = { name, axis, count: s.count, zoomed: false, card };
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
      hooks: { setScale: [(u, key) => {
        if (key !== "x") return;
        const xs = u.data[0];
        item.zoomed = xs.length > 1 && (u.scales.x.min > xs[0] || u.scales.x.max < xs[xs.length - 1]);
      }] },
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
    item.plot = plot;
    item.observer = observer;
    item.banded = banded;
    return item;
  }

  function setTitle(item, ys, shown) {
    const sub = item.card.querySelector(".chart-title .sub");
    if (sub) sub.textContent = "last " + fmt(lastFinite(ys)) + " · " + item.count + " points" +
      (item.count > shown ? " (" + shown + " shown, min/max band kept)" : "");
  }

  // Append the points of one `metrics` event; returns false when the charts must be re-fetched.
  function applyDelta(container, msg) {
    const items = live.get(container);
    if (!items || msg.reset) return false;
    const byName = new Map(items.map((it) => [it.name, it]));
    for (const [name, d] of Object.entries(msg.series)) {
      const item = byName.get(name);
      if (!item) return false;              // a new metric: rebuild the grid
      const skip = item.count - d.from;     // points this chart already has
      if (skip < 0) return false;           // a gap: we missed points
      const xs = d[item.axis];
      const data = item.plot.data.map((col) => Array.from(col));
      for (let i = Math.max(skip, 0); i < d.y.length; i++) {
        if (xs[i] === null) continue;       // no value on this axis (e.g. no time column)
        data[0].push(xs[i]);
        data[1].push(d.y[i]);
        if (item.banded) { data[2].push(d.y[i]); data[3].push(d.y[i]); }
      }
      item.count = Math.max(item.count, d.from + d.y.length);
      item.plot.setData(data, !item.zoomed); // extend in place; keep the user's zoom
      setTitle(item, data[1], data[0].length);
    }
    return true;
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
    scope.querySelectorAll("pre.log[data-follow]").forEach(follow);
  }

  // ---- live log views: one websocket per followed stream -------------------------------
  const followers = new Map(); // <pre> -> {close}

  function follow(pre) {
    if (followers.has(pre)) return;
    const box = pre.closest(".log-stream");
    const toggle = box.querySelector(".follow-toggle");
    const state = box.querySelector(".follow-state");
    const jump = box.querySelector(".jump-bottom");
    let ws = null, paused = false, closed = false, retry = 500, buffer = [], partialEl = null;
    const atBottom = () => pre.scrollHeight - pre.scrollTop - pre.clientHeight < 8;

    function render(msg) {
      const stick = atBottom();
      if (msg.type === "tail" || msg.type === "reset") {
        pre.textContent = "";
        partialEl = null;
        if (msg.type === "reset") {
          const note = document.createElement("span");
          note.className = "log-note";
          note.textContent = "— log " + msg.reason + ": showing its new tail —\n";
          pre.appendChild(note);
        }
      }
      if (partialEl) partialEl.remove();
      const frag = document.createDocumentFragment();
      for (const html of msg.lines) {
        const line = document.createElement("span");
        line.innerHTML = html + "\n";
        frag.appendChild(line);
      }
      pre.appendChild(frag);
      partialEl = document.createElement("span");
      partialEl.className = "partial";
      partialEl.innerHTML = msg.partial || "";
      pre.appendChild(partialEl);
      while (pre.childNodes.length > 20000) pre.removeChild(pre.firstChild);
      if (stick) pre.scrollTop = pre.scrollHeight; else jump.hidden = false;
    }

    function connect() {
      // the page's own host and scheme: right behind a TLS-terminating proxy too
      const u = new URL(pre.dataset.follow, location.href);
      u.protocol = location.protocol === "https:" ? "wss:" : "ws:";
      u.host = location.host;
      ws = new WebSocket(u.href);
      ws.onopen = () => { retry = 500; state.textContent = paused ? "paused" : "following"; };
      ws.onmessage = (e) => {
        const msg = JSON.parse(e.data);
        if (msg.type === "ping") return;
        if (msg.type === "error") { state.textContent = msg.error; closed = true; return; }
        if (paused) { buffer.push(msg); if (buffer.length > 2000) { buffer = []; ws.close(); } return; }
        render(msg);
      };
      ws.onclose = () => {
        if (closed) return;
        state.textContent = "reconnecting…";
        setTimeout(connect, retry);
        retry = Math.min(retry * 2, 10000);
      };
    }

    toggle.addEventListener("click", () => {
      paused = !paused;
      toggle.textContent = paused ? "▶ resume" : "⏸ pause";
      toggle.setAttribute("aria-pressed", String(!paused));
      state.textContent = paused ? "paused" : "following";
      if (!paused) { buffer.forEach(render); buffer = []; }
    });
    jump.addEventListener("click", () => { pre.scrollTop = pre.scrollHeight; jump.hidden = true; });
    pre.addEventListener("scroll", () => { if (atBottom()) jump.hidden = true; });
    pre.scrollTop = pre.scrollHeight;
    followers.set(pre, { close() { closed = true; if (ws) ws.close(); } });
    connect();
  }

  // ---- server-sent events: one stream per page (htmx's sse extension owns it) ----------
  let streamBroken = false;
  function resync() {
    document.querySelectorAll("[data-metrics-url]").forEach(loadCharts);
    const head = document.getElementById("run-head");
    if (head) htmx.ajax("GET", location.href, { target: "#run-head", select: "#run-head", swap: "outerHTML" });
  }
  document.body.addEventListener("htmx:sseBeforeMessage", (e) => {
    const msg = e.detail;
    if (msg.type === "metrics") {
      e.preventDefault();
      const data = JSON.parse(msg.data);
      document.querySelectorAll("[data-metrics-url]").forEach((c) => {
        if (!applyDelta(c, data)) loadCharts(c);
      });
    } else if (msg.type === "resync") {
      e.preventDefault();
      resync();
    } else if (msg.type === "row") {
      const m = /<tr id="([^"]+)"/.exec(msg.data);
      if (!m || !document.getElementById(m[1])) e.preventDefault(); // filtered out here
    }
  });
  document.body.addEventListener("htmx:sseError", () => { streamBroken = true; });
  document.body.addEventListener("htmx:sseOpen", () => {
    if (!streamBroken) return;
    streamBroken = false;   // a new stream after a break: we may have missed events
    resync();
    const runs = document.getElementById("runs");
    if (runs) htmx.trigger(runs, "sse:resync");
  });
  document.body.addEventListener("htmx:oobAfterSwap", (e) => {
    const el = e.detail.target || e.target;
    if (el && el.tagName === "TR") { el.classList.remove("flash"); void el.offsetWidth; el.classList.add("flash"); }
  });

  htmx.onLoad(init);
  document.body.addEventListener("htmx:beforeCleanupElement", (e) => {
    live.forEach((_items, container) => { if (e.target.contains(container)) destroy(container); });
    followers.forEach((f, pre) => { if (e.target.contains(pre)) { f.close(); followers.delete(pre); } });
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
  window.tailboard = { charts: live, followers, reload: loadCharts };
})();
