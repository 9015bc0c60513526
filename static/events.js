/* The page's one event stream (/events), owned by htmx's sse extension (hx-ext="sse" on
   <body>): htmx swaps the fragment events; JSON events (metrics, media, resync) are handed to
   the modules that subscribed with onEvent(); onReopen() tells them a broken stream came back
   (events may have been missed). The `watch` event updates the topbar's watcher badge. */
export const RETRY_MAX = 5000;   // ms: the longest wait before reconnecting (a log websocket too)

// htmx-ext-sse reopens a *closed* EventSource (an HTTP error: a proxy's 502 while the server
// restarts) after 0.5 s doubling to 64 s. LiveSource stands in for EventSource and reopens it
// itself, 0.5 s doubling to RETRY_MAX, resuming from the last event id; the extension never
// sees it closed. A refused connection is retried by the browser itself (`retry: 1000`).
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
// set before htmx processes <body> (DOMContentLoaded): module scripts run before it
htmx.createEventSource = (url) => new LiveSource(url);

// `watch`: the watcher's mode and problem (the runs folder missing), sent on connect and on change
function showWatch(data) {
  let st;
  try { st = JSON.parse(data); } catch (_e) { return; }
  const bar = document.querySelector("header.topbar");
  if (!bar) return;
  const badge = bar.querySelector(".watch");
  if (badge) {
    badge.className = "watch watch-" + st.kind;
    badge.textContent = st.kind + (st.reason ? " ⚠" : "");
    badge.title = st.reason || "inotify: changes are pushed as they happen";
  }
  let problem = bar.querySelector(".watch-problem");
  if (!problem) {
    problem = document.createElement("span");
    problem.className = "watch-problem";
    problem.setAttribute("role", "alert");
    const root = bar.querySelector(".root");
    if (root) root.after(problem); else bar.append(problem);
  }
  problem.textContent = st.problem || "";
  problem.hidden = !st.problem;
}

// ---- JSON events: one handler list per type; htmx does not swap them ----------------------
const handlers = new Map();   // type -> [fn(data)]; "resync" handlers get no data
const reopeners = [];

export function onEvent(type, fn) {
  if (!handlers.has(type)) handlers.set(type, []);
  handlers.get(type).push(fn);
}

// fn() runs when the stream reopens after a break: what happened meanwhile may be missed
export function onReopen(fn) { reopeners.push(fn); }

let handled = null;  // several elements may listen to one event (the charts panel and the page)
document.body.addEventListener("htmx:sseBeforeMessage", (e) => {
  const msg = e.detail, list = handlers.get(msg.type);
  if (!list) return;
  e.preventDefault();
  if (msg === handled) return;
  handled = msg;
  let data = null;
  if (msg.type !== "resync") {
    try { data = JSON.parse(msg.data); } catch (_e) { return; }
  }
  list.forEach((fn) => fn(data));
});

let broken = false;
document.body.addEventListener("htmx:sseError", () => { broken = true; });
document.body.addEventListener("htmx:sseOpen", () => {
  if (!broken) return;
  broken = false;
  reopeners.forEach((fn) => fn());
});
