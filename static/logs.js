/* Live log views: one websocket per followed stream (<pre class="log" data-follow=URL>), with
   pause/resume, jump-to-bottom, and the ANSI colours the server leaves as data attributes. */
import { RETRY_MAX } from "./events.js";
import { onCleanup, onLoad, within } from "./util.js";

export const followers = new Map(); // <pre> -> {close}

// 256-palette and 24-bit ANSI colours come as data-fg / data-bg="#rrggbb" (viewer/data/tailing.py):
// set as CSSOM properties, which the CSP allows, where a style="" attribute would need
// 'unsafe-inline'. Anything but a hex colour is ignored.
const HEX = /^#[0-9a-f]{6}$/;
export function paintAnsi(scope) {
  scope.querySelectorAll("[data-fg], [data-bg]").forEach((el) => {
    if (HEX.test(el.dataset.fg || "")) el.style.color = el.dataset.fg;
    if (HEX.test(el.dataset.bg || "")) el.style.background = el.dataset.bg;
  });
}

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
        const mark = document.createElement("span");
        mark.className = "log-note";
        mark.textContent = "— log " + msg.reason + ": showing its new tail —\n";
        pre.appendChild(mark);
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

onLoad((root) => {
  paintAnsi(root.querySelectorAll ? root : document);
  within(root, "pre.log[data-follow]").forEach(follow);
});
onCleanup((gone) => {
  followers.forEach((f, pre) => { if (gone.contains(pre)) { f.close(); followers.delete(pre); } });
});
