/* Tailboard front end: what htmx cannot do (media views, log follow, the SSE dispatch). The
   charts live in charts.js; this file hands them their `metrics` and `resync` events. */
(function () {
  "use strict";
  // ---- media: per-tag step slider, compare rows, filmstrip, lightbox, live appends ------
  // A tag ships its items as JSON ([step, path, caption, type] rows per run) and the view
  // draws one step by swapping src: 5,000 images are 5,000 array rows, not 5,000 <img>.
  // Slider positions are the distinct steps of every row (items without a step come first);
  // each row shows its items at the largest step <= the chosen one.
  const FILM = 7;                    // filmstrip thumbnails each side of the current step
  const mediaViews = new WeakMap();  // .media-tag element -> its view
  const mediaKeep = new Map();       // panel URL -> {state, queue} while the panel is re-fetched
  let lb = null;                     // the open lightbox: {view, run, item, opener}

  function fmtStep(s) { return Number.isInteger(s) ? String(s) : String(+s.toPrecision(6)); }

  function byStep(a, b) {            // stable: no step first, then by step
    if (a.step === null || b.step === null) return (a.step === null ? 0 : 1) - (b.step === null ? 0 : 1);
    return a.step - b.step;
  }

  function indexRun(run) {
    run.items.sort(byStep);
    run.steps = []; run.at = new Map(); run.nulls = []; run.urls = new Set();
    run.items.forEach((it) => {
      run.urls.add(it.url);
      if (it.step === null) { run.nulls.push(it); return; }
      let list = run.at.get(it.step);
      if (!list) { list = []; run.at.set(it.step, list); run.steps.push(it.step); }
      list.push(it);
    });
  }

  function positionsOf(view) {
    const steps = new Set();
    let nulls = 0;
    view.runs.forEach((r) => { r.steps.forEach((s) => steps.add(s)); nulls = Math.max(nulls, r.nulls.length); });
    const out = [];
    for (let k = 0; k < nulls; k++) out.push({ step: null, k });
    Array.from(steps).sort((a, b) => a - b).forEach((step) => out.push({ step }));
    return out;
  }

  function itemsAt(run, pos) {       // {step, items} a row shows at a position, or null
    if (pos.step === null) return run.nulls[pos.k] ? { step: null, items: [run.nulls[pos.k]] } : null;
    let lo = 0, hi = run.steps.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (run.steps[mid] <= pos.step) { found = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return found < 0 ? null : { step: run.steps[found], items: run.at.get(run.steps[found]) };
  }

  function posOf(run, it) { return it.step === null ? { step: null, k: run.nulls.indexOf(it) } : { step: it.step }; }

  function findPos(view, target) {   // the last position at or before target
    const le = (a, b) => (a.step === null ? b.step !== null || a.k <= b.k : b.step !== null && a.step <= b.step);
    let idx = 0;
    view.positions.forEach((p, i) => { if (le(p, target)) idx = i; });
    return idx;
  }

  function note(cls, text) {
    const p = document.createElement("p");
    p.className = cls;
    p.textContent = text;
    return p;
  }

  function setMedia(holder, it, alt) {  // the img/video of a figure or the lightbox, reused
    const want = it.type === "video" ? "VIDEO" : "IMG";
    let el = holder.querySelector(":scope > img, :scope > video");
    if (!el || el.tagName !== want) {
      const made = document.createElement(want.toLowerCase());
      if (want === "VIDEO") { made.controls = true; made.preload = "metadata"; }
      else { made.loading = "lazy"; made.decoding = "async"; }
      if (el) el.replaceWith(made); else holder.prepend(made);
      el = made;
    }
    if (el.getAttribute("src") !== it.url) { el.dataset.tries = "0"; el.setAttribute("src", it.url); }
    if (want === "IMG") el.alt = alt;
    return el;
  }

  function setCaption(fig, it, chosen) {
    let cap = fig.querySelector("figcaption");
    if (!cap) {
      cap = document.createElement("figcaption");
      cap.innerHTML = "<b class='media-step'></b> <span class='media-caption'></span>";
      fig.append(cap);
    }
    cap.querySelector(".media-step").textContent = it.step === null ? "" :
      "step " + fmtStep(it.step) + (chosen !== null && it.step !== chosen ? " (latest ≤ " + fmtStep(chosen) + ")" : "");
    cap.querySelector(".media-caption").textContent = it.caption;
    let open = cap.querySelector(".media-open");
    if (it.type === "video" && !open) {
      open = document.createElement("button");
      open.type = "button";
      open.className = "media-open";
      open.title = "full size";
      open.textContent = "⤢";
      cap.append(" ", open);
    } else if (it.type !== "video" && open) open.remove();
  }

  function fillRow(view, ri, pos) {
    const run = view.runs[ri], box = view.boxes[ri];
    if (!box) return;
    const at = itemsAt(run, pos);
    const items = at ? at.items.slice(0, view.perStep) : [];
    box.classList.toggle("many", items.length > 1);
    box.querySelectorAll(":scope > :not(figure)").forEach((e) => e.remove());
    const figs = Array.from(box.querySelectorAll(":scope > figure"));
    while (figs.length > items.length) figs.pop().remove();
    items.forEach((it, i) => {
      let fig = figs[i];
      if (!fig) { fig = document.createElement("figure"); fig.className = "media-item"; box.append(fig); }
      setMedia(fig, it, it.caption || view.tag);
      setCaption(fig, it, pos.step);
      fig.item = it;
    });
    if (!at) box.append(note("media-none", "no image at this step"));
    else if (at.items.length > items.length)
      box.append(note("media-more", "+" + (at.items.length - items.length) + " more at this step (open one to page through them)"));
  }

  function renderFilm(view) {
    const film = view.film, n = view.positions.length;
    if (!film) return;
    if (view.runs.length !== 1 || n < 2) { film.hidden = true; film.textContent = ""; return; }
    film.hidden = false;
    const lo = Math.max(0, Math.min(view.index - FILM, n - 1 - 2 * FILM)), hi = Math.min(n - 1, lo + 2 * FILM);
    const thumbs = Array.from(film.children);
    while (thumbs.length > hi - lo + 1) thumbs.pop().remove();
    for (let p = lo; p <= hi; p++) {
      let b = thumbs[p - lo];
      if (!b) {
        b = document.createElement("button");
        b.type = "button";
        b.className = "media-thumb";
        b.innerHTML = "<span class='media-thumb-pic'></span><span class='media-thumb-step'></span>";
        film.append(b);
      }
      const pos = view.positions[p], at = itemsAt(view.runs[0], pos), it = at && at.items[0];
      const label = pos.step === null ? "#" + (pos.k + 1) : fmtStep(pos.step);
      b.dataset.pos = String(p);
      b.title = pos.step === null ? "item " + label : "step " + label;
      b.classList.toggle("on", p === view.index);
      if (p === view.index) b.setAttribute("aria-current", "true"); else b.removeAttribute("aria-current");
      const pic = b.firstElementChild;
      if (it && it.type !== "video") {
        let img = pic.querySelector("img");
        if (!img) {
          img = document.createElement("img");
          img.loading = "lazy";          // before src: only thumbnails near the viewport load
          img.decoding = "async";
          img.alt = "";
          pic.textContent = "";
          pic.append(img);
        }
        if (img.getAttribute("src") !== it.url) img.setAttribute("src", it.url);
      } else pic.textContent = it ? "▶" : "–";
      b.lastElementChild.textContent = label;
    }
  }

  function renderView(view) {
    const n = view.positions.length;
    view.index = Math.max(0, Math.min(view.index, n - 1));
    const pos = view.positions[view.index] || { step: null, k: 0 };
    if (view.slider) {
      view.slider.max = String(Math.max(0, n - 1));
      view.slider.value = String(view.index);
      view.controls.hidden = n < 2;
      view.prev.disabled = view.index === 0;
      view.next.disabled = view.index >= n - 1;
      view.out.textContent = (pos.step === null ? "no step, item " + (pos.k + 1) : "step " + fmtStep(pos.step)) +
        " · " + (view.index + 1) + " / " + n;
    }
    view.runs.forEach((_r, ri) => fillRow(view, ri, pos));
    renderFilm(view);
    if (view.total) {
      const total = view.runs.reduce((a, r) => a + r.items.length, 0);
      view.total.textContent = total + (total === 1 ? " item" : " items");
    }
  }

  function go(view, index) {
    const i = Math.max(0, Math.min(index, view.positions.length - 1));
    if (i === view.index) return;
    view.index = i;
    renderView(view);
  }

  function initView(el, kept) {
    if (mediaViews.has(el)) return;
    let data;
    try { data = JSON.parse(el.querySelector("[data-media-data]").textContent); } catch (e) { return; }
    const panel = el.closest("[data-media-panel]");
    const q = (s) => el.querySelector(s);
    const view = {
      el, tag: el.dataset.mediaTag, perStep: Number(panel && panel.dataset.perStep) || 16,
      runs: data.runs.map((r) => ({
        id: r.id,
        items: r.items.map(([step, path, caption, type]) =>
          ({ step: step === undefined ? null : step, url: r.base + path, caption: caption || "", type: type || "image" })),
      })),
      boxes: Array.from(el.querySelectorAll(".media-row > .media-items")),
      slider: q("[data-media-slider]"), prev: q("[data-media-prev]"), next: q("[data-media-next]"),
      out: q("[data-media-pos]"), controls: q(".media-controls"), film: q("[data-media-film]"), total: q("[data-media-total]"),
    };
    view.runs.forEach(indexRun);
    view.positions = positionsOf(view);
    view.index = view.positions.length - 1;
    const was = kept && kept[view.tag];
    if (was && !was.atEnd) view.index = findPos(view, was.pos);
    mediaViews.set(el, view);
    if (view.slider) {
      view.slider.addEventListener("input", () => go(view, Number(view.slider.value)));
      view.prev.addEventListener("click", () => go(view, view.index - 1));
      view.next.addEventListener("click", () => go(view, view.index + 1));
    }
    el.addEventListener("keydown", (e) => {
      if (e.target.matches("input, textarea, select, video") || e.altKey || e.ctrlKey || e.metaKey) return;
      const to = { ArrowLeft: view.index - 1, ArrowRight: view.index + 1, Home: 0, End: view.positions.length - 1 }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      go(view, to);
    });
    el.addEventListener("click", (e) => {
      const thumb = e.target.closest(".media-thumb");
      if (thumb) { go(view, Number(thumb.dataset.pos)); return; }
      const opener = e.target.closest(".media-item img, .media-open");
      const fig = opener && opener.closest("figure");
      if (!fig || !fig.item) return;
      const ri = view.boxes.indexOf(fig.parentElement);
      if (ri >= 0) openLightbox(view, view.runs[ri], fig.item, opener);
    });
    renderView(view);
  }

  // -- lightbox: one <dialog> outside the swapped content --
  function lightbox() {
    let dlg = document.getElementById("media-lightbox");
    if (dlg) return dlg;
    dlg = document.createElement("dialog");
    dlg.id = "media-lightbox";
    dlg.className = "media-lightbox";
    dlg.setAttribute("aria-label", "media viewer");
    dlg.innerHTML = "<div class='lb-stage'></div><div class='lb-bar'>" +
      "<button type='button' class='lb-prev' aria-label='previous' title='previous (←)'>◀</button>" +
      "<div class='lb-text'><b class='lb-step'></b> <span class='lb-caption'></span> <span class='lb-count'></span></div>" +
      "<a class='lb-raw' target='_blank' rel='noopener'>open file ↗</a>" +
      "<button type='button' class='lb-next' aria-label='next' title='next (→)'>▶</button>" +
      "<button type='button' class='lb-close' aria-label='close' title='close (Esc)'>✕</button></div>";
    document.body.append(dlg);
    dlg.addEventListener("click", (e) => {
      if (e.target === dlg || e.target.classList.contains("lb-stage")) dlg.close(); // outside the picture
      else if (e.target.closest(".lb-prev")) lbStep(-1);
      else if (e.target.closest(".lb-next")) lbStep(1);
      else if (e.target.closest(".lb-close")) dlg.close();
    });
    dlg.addEventListener("keydown", (e) => {
      if (e.key === "Escape") { e.preventDefault(); dlg.close(); }
      else if (e.target.tagName === "VIDEO") return;   // the video's own keys (seek)
      else if (e.key === "ArrowLeft") { e.preventDefault(); lbStep(-1); }
      else if (e.key === "ArrowRight") { e.preventDefault(); lbStep(1); }
    });
    dlg.addEventListener("close", () => {
      const v = dlg.querySelector("video");
      if (v) v.pause();
      const opener = lb && lb.opener;
      lb = null;
      dlg.querySelector(".lb-stage").textContent = "";
      if (opener && opener.isConnected) opener.closest("[data-media-tag]").focus({ preventScroll: true });
    });
    return dlg;
  }

  function drawLightbox() {
    const dlg = lightbox(), run = lb.run, it = lb.item, i = run.items.indexOf(it);
    setMedia(dlg.querySelector(".lb-stage"), it, it.caption || lb.view.tag);
    dlg.querySelector(".lb-step").textContent = it.step === null ? lb.view.tag : lb.view.tag + " · step " + fmtStep(it.step);
    dlg.querySelector(".lb-caption").textContent = it.caption;
    dlg.querySelector(".lb-count").textContent = (lb.view.runs.length > 1 ? run.id + " · " : "") +
      (i + 1) + " / " + run.items.length;
    dlg.querySelector(".lb-raw").href = it.url;
    dlg.querySelector(".lb-prev").disabled = i <= 0;
    dlg.querySelector(".lb-next").disabled = i >= run.items.length - 1;
  }

  function openLightbox(view, run, item, opener) {
    const dlg = lightbox();
    lb = { view, run, item, opener };
    drawLightbox();
    if (!dlg.open) dlg.showModal();
  }

  function lbStep(d) {
    if (!lb) return;
    const items = lb.run.items, i = items.indexOf(lb.item) + d;
    if (i < 0 || i >= items.length) return;
    lb.item = items[i];
    drawLightbox();
    go(lb.view, findPos(lb.view, posOf(lb.run, lb.item)));  // the tag's slider follows
  }

  // -- live: `media` events append items; a new tag or a gap re-fetches the panel --
  function panelState(panel) {
    const state = {};
    panel.querySelectorAll("[data-media-tag]").forEach((el) => {
      const v = mediaViews.get(el);
      if (v) state[v.tag] = { atEnd: v.index >= v.positions.length - 1, pos: v.positions[v.index] };
    });
    return state;
  }

  function refetchMedia(panel) {
    const url = panel.dataset.mediaUrl;
    if (!url || mediaKeep.has(url) || !panel.isConnected) return;
    mediaKeep.set(url, { state: panelState(panel), queue: [] });
    if (lb && panel.contains(lb.view.el)) lightbox().close();
    // swapped: the new panel's load hook takes the state; not swapped (an error): drop it
    const done = () => { if (panel.isConnected) mediaKeep.delete(url); };
    htmx.ajax("GET", url, { target: panel, swap: "outerHTML" }).then(done, done);
  }

  function applyMedia(panel, msg) {
    const kept = mediaKeep.get(panel.dataset.mediaUrl);
    if (kept) { kept.queue.push(msg); return; }           // the re-fetched panel gets it
    if (msg.reset) { refetchMedia(panel); return; }
    let items = msg.items || [];
    if (msg.from !== null && msg.from !== undefined) {      // an index: skip what the page has
      const have = Number(panel.dataset.mediaCount) || 0;
      if (msg.from > have) { refetchMedia(panel); return; } // a gap: items were missed
      items = items.slice(have - msg.from);
      panel.dataset.mediaCount = String(Math.max(have, msg.from + msg.items.length));
    }
    const views = new Map();
    panel.querySelectorAll("[data-media-tag]").forEach((el) => {
      const v = mediaViews.get(el);
      if (v) views.set(v.tag, v);
    });
    if (items.some((it) => !views.has(it.tag))) { refetchMedia(panel); return; } // a new tag
    const changed = new Map();  // view -> {atEnd, pos} before the append
    items.forEach((it) => {
      const view = views.get(it.tag), run = view.runs.find((r) => r.id === msg.run);
      if (!run || (msg.from === null && run.urls.has(it.url))) return;
      if (!changed.has(view))
        changed.set(view, { atEnd: view.index >= view.positions.length - 1, pos: view.positions[view.index] });
      run.items.push({ step: it.step === undefined ? null : it.step, url: it.url, caption: it.caption || "", type: it.type || "image" });
      run.urls.add(it.url);
    });
    changed.forEach((was, view) => {
      view.runs.forEach(indexRun);
      view.positions = positionsOf(view);
      view.index = was.atEnd ? view.positions.length - 1 : findPos(view, was.pos); // tail -f, or stay
      renderView(view);
      if (lb && lb.view === view) drawLightbox();
    });
  }

  function initMedia(scope) {
    const panels = Array.from(scope.querySelectorAll("[data-media-panel]"));
    if (scope.matches && scope.matches("[data-media-panel]")) panels.push(scope);
    panels.forEach((panel) => {
      const kept = mediaKeep.get(panel.dataset.mediaUrl);
      mediaKeep.delete(panel.dataset.mediaUrl);
      panel.querySelectorAll("[data-media-tag]").forEach((el) => initView(el, kept && kept.state));
      if (kept) kept.queue.forEach((msg) => applyMedia(panel, msg));
    });
  }

  document.body.addEventListener("htmx:sseBeforeMessage", (e) => {
    const msg = e.detail;
    if (msg.type === "media") {
      e.preventDefault();
      let data;
      try { data = JSON.parse(msg.data); } catch (err) { return; }
      document.querySelectorAll("[data-media-panel]").forEach((p) => { if (p.dataset.run === data.run) applyMedia(p, data); });
    } else if (msg.type === "resync") {
      document.querySelectorAll("[data-media-panel]").forEach(refetchMedia);
    }
  });
  let mediaStreamBroken = false;   // a new stream after a break may have missed media events
  document.body.addEventListener("htmx:sseError", () => { mediaStreamBroken = true; });
  document.body.addEventListener("htmx:sseOpen", () => {
    if (!mediaStreamBroken) return;
    mediaStreamBroken = false;
    document.querySelectorAll("[data-media-panel]").forEach(refetchMedia);
  });
  document.body.addEventListener("htmx:beforeCleanupElement", (e) => {
    if (lb && e.target.contains(lb.view.el)) lightbox().close();
  });
  // small images (48 px samples) are drawn scaled up with sharp pixels; a missing file (the
  // index line written before the image) is retried a few times
  document.addEventListener("load", (e) => {
    const img = e.target;
    if (img.tagName === "IMG" && img.closest(".media-item, .lb-stage"))
      img.classList.toggle("px", img.naturalWidth > 0 && img.naturalWidth <= 160);
  }, true);
  document.addEventListener("error", (e) => {
    const el = e.target;
    if (el.tagName !== "IMG" || !el.closest(".media-item, .lb-stage")) return;
    const tries = Number(el.dataset.tries || 0), src = el.getAttribute("src");
    if (tries >= 3 || !src) return;
    el.dataset.tries = String(tries + 1);
    setTimeout(() => {
      if (el.getAttribute("src") !== src) return;
      el.removeAttribute("src");
      el.setAttribute("src", src);
    }, 400 * (tries + 1));
  }, true);

  // 256-palette and 24-bit ANSI colours come as data-fg / data-bg="#rrggbb" (viewer/tailing.py):
  // set as CSSOM properties, which the CSP allows, where a style="" attribute would need
  // 'unsafe-inline'. Anything but a hex colour is ignored.
  const HEX = /^#[0-9a-f]{6}$/;
  function paintAnsi(scope) {
    scope.querySelectorAll("[data-fg], [data-bg]").forEach((el) => {
      if (HEX.test(el.dataset.fg || "")) el.style.color = el.dataset.fg;
      if (HEX.test(el.dataset.bg || "")) el.style.background = el.dataset.bg;
    });
  }

  function init(root) {
    const scope = root.querySelectorAll ? root : document;
    initMedia(scope);
    paintAnsi(scope);
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
      paintAnsi(frag);
      pre.appendChild(frag);
      partialEl = document.createElement("span");
      partialEl.className = "partial";
      partialEl.innerHTML = msg.partial || "";
      paintAnsi(partialEl);
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
        retry = Math.min(retry * 2, RETRY_MAX);   // a server back after an hour: seen within 5 s
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
  // htmx-ext-sse reopens a *closed* EventSource (an HTTP error: a proxy's 502 while the server
  // restarts) after 0.5 s doubling to 64 s. LiveSource stands in for EventSource and reopens it
  // itself, 0.5 s doubling to RETRY_MAX, resuming from the last event id; the extension never
  // sees it closed. A refused connection is retried by the browser itself (`retry: 1000`).
  const RETRY_MAX = 5000;
  class LiveSource extends EventTarget {
    constructor(url) {
      super();
      this.url = url; this.withCredentials = true; this.readyState = 0;
      this.onopen = this.onerror = this.onmessage = null;
      // resume from the newest event the server had when it drew this page: what it publishes
      // while the page loads and the stream opens is replayed, not lost
      this.lastId = document.body.dataset.eventId || "";
      this.names = new Set(); this.failures = 0; this.timer = null; this.closed = false;
      this.addEventListener("watch", (e) => showWatch(e.data));
      this.open();
    }
    addEventListener(name, fn, opts) {
      if (!this.names.has(name) && name !== "open" && name !== "error") {
        this.names.add(name);
        if (this.es) this.forward(this.es, name);
      }
      super.addEventListener(name, fn, opts);
    }
    forward(es, name) {
      es.addEventListener(name, (e) => {
        if (es !== this.es) return;
        if (e.lastEventId) this.lastId = e.lastEventId;
        const ev = new MessageEvent(name, { data: e.data, lastEventId: e.lastEventId, origin: e.origin });
        if (name === "message" && this.onmessage) this.onmessage(ev);
        this.dispatchEvent(ev);
      });
    }
    open() {
      const u = new URL(this.url, location.href);
      if (this.lastId) u.searchParams.set("last_event_id", this.lastId);  // a new EventSource sends no Last-Event-ID
      const es = this.es = new EventSource(u.href, { withCredentials: true });
      this.names.forEach((n) => this.forward(es, n));
      es.onopen = (e) => {
        if (es !== this.es) return;
        this.readyState = 1; this.failures = 0;
        if (this.onopen) this.onopen(e);
      };
      es.onerror = (e) => {
        if (es !== this.es) return;
        if (es.readyState === EventSource.CLOSED && !this.closed) {
          this.readyState = 0;   // still connecting, as far as htmx knows
          clearTimeout(this.timer);
          this.timer = setTimeout(() => { if (!this.closed) this.open(); },
            Math.min(500 * 2 ** this.failures++, RETRY_MAX));
        } else this.readyState = es.readyState;
        if (this.onerror) this.onerror(e);
      };
    }
    close() {
      this.closed = true; this.readyState = 2;
      clearTimeout(this.timer);
      if (this.es) this.es.close();
    }
  }
  htmx.createEventSource = (url) => new LiveSource(url);

  // `watch`: the watcher's mode and problem (the runs folder missing), sent on connect and on change
  function showWatch(data) {
    let st;
    try { st = JSON.parse(data); } catch (e) { return; }
    const bar = document.querySelector("header.topbar");
    if (!bar) return;
    const badge = bar.querySelector(".watch");
    if (badge) {
      badge.className = "watch watch-" + st.kind;
      badge.textContent = st.kind + (st.reason ? " ⚠" : "");
      badge.title = st.reason || "inotify: changes are pushed as they happen";
    }
    let note = bar.querySelector(".watch-problem");
    if (!note) {
      note = document.createElement("span");
      note.className = "watch-problem";
      note.setAttribute("role", "alert");
      const root = bar.querySelector(".root");
      if (root) root.after(note); else bar.append(note);
    }
    note.textContent = st.problem || "";
    note.hidden = !st.problem;
  }
  window.tailboard = Object.assign(window.tailboard || {}, { showWatch });
  let streamBroken = false;
  function resync() {
    if (window.tailboard.reloadCharts) window.tailboard.reloadCharts();
    const head = document.getElementById("run-head");
    if (head) htmx.ajax("GET", location.href, { target: "#run-head", select: "#run-head", swap: "outerHTML" });
  }
  let handled = null;  // several elements may listen to one event (the charts panel and the page)
  document.body.addEventListener("htmx:sseBeforeMessage", (e) => {
    const msg = e.detail;
    if ((msg.type === "metrics" || msg.type === "resync") && msg === handled) { e.preventDefault(); return; }
    handled = msg;
    if (msg.type === "metrics") {
      e.preventDefault();
      const data = JSON.parse(msg.data);
      if (window.tailboard.applyMetrics) window.tailboard.applyMetrics(data);  // charts.js routes it by run
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

  // A run tab link carries the view's other parameters: charts.js writes its state into the URL
  // with replaceState after the links were drawn, so take them from the address bar.
  document.body.addEventListener("htmx:configRequest", (e) => {
    const elt = e.detail.elt;
    if (!elt || !elt.closest || !elt.closest("nav.tabs")) return;
    const target = new URL(e.detail.path, location.href);
    const tab = target.searchParams.get("tab");
    if (tab === null || target.pathname !== location.pathname) return;
    const merged = new URLSearchParams(location.search);
    merged.set("tab", tab);
    e.detail.path = target.pathname + "?" + merged.toString();
  });

  htmx.onLoad(init);
  document.body.addEventListener("htmx:beforeCleanupElement", (e) => {
    followers.forEach((f, pre) => { if (e.target.contains(pre)) { f.close(); followers.delete(pre); } });
  });
  window.tailboard = Object.assign(window.tailboard || {}, { followers });
})();
