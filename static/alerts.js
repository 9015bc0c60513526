/* Alerts in the browser: the top bar's bell and its unread count, live `alert` events, and
   desktop notifications. The server has no users, so "unread" is per browser: the newest
   alert id this browser has seen is kept in localStorage, and so is the notification switch
   (the Notification API's permission is asked by a click on the alerts page). */
import { onEvent } from "./events.js";
import { $ } from "./util.js";

const SEEN = "tailboard.alerts.seen", NOTIFY = "tailboard.alerts.notify";
const ids = new Set();            // firing ids this page knows of (the bell's, then live ones)
export const alertsState = { notified: [], unread: 0 };   // for the browser tests (window.tailboard)

function stored(key) { try { return localStorage.getItem(key); } catch (_e) { return null; } }
function keep(key, v) { try { localStorage.setItem(key, v); } catch (_e) { /* private mode: per page */ } }
const seen = () => Number(stored(SEEN)) || 0;

function render() {
  const bell = $(".bell");
  if (!bell) return;
  const last = seen();
  let n = 0;
  ids.forEach((id) => { if (id > last) n++; });
  alertsState.unread = n;
  const count = bell.querySelector(".bell-count");
  count.textContent = n > 99 ? "99+" : String(n);
  count.hidden = n === 0;
  bell.classList.toggle("bell-unread", n > 0);
  bell.title = n ? `${n} new alert${n === 1 ? "" : "s"}` : "alerts";
}

// every alert listed is seen (the alerts page, open and visible)
export function markSeen() {
  const max = Math.max(seen(), ...ids);
  if (max > 0) keep(SEEN, String(max));
  render();
}

const enabled = () => stored(NOTIFY) === "1" && "Notification" in window && Notification.permission === "granted";

function notify(a) {
  if (!enabled()) return;
  // one tag per alert: several open tabs show it once
  const n = new Notification("Tailboard: " + a.title, { body: a.text, tag: "tailboard-alert-" + a.id });
  n.onclick = () => { window.focus(); location.href = a.url; };
  alertsState.notified.push(a.id);
}

// The alerts page's button: ask the permission (a click is required), then on/off per browser
export function notifySwitch() {
  const btn = $("[data-alerts-notify]"), state = $("[data-alerts-notify-state]");
  if (!btn) return;
  const show = () => {
    if (!("Notification" in window)) { state.textContent = "This browser has no desktop notifications."; return; }
    btn.hidden = false;
    const on = enabled(), denied = Notification.permission === "denied";
    btn.textContent = on ? "Turn off desktop notifications" : "Enable desktop notifications";
    btn.disabled = denied;
    state.textContent = on ? "Desktop notifications are on in this browser." :
      denied ? "Notifications are blocked for this site: allow them in the browser's site settings." : "";
    state.dataset.on = on ? "1" : "0";
  };
  btn.addEventListener("click", async () => {
    if (enabled()) { keep(NOTIFY, "0"); show(); return; }
    const answer = await Notification.requestPermission();
    keep(NOTIFY, answer === "granted" ? "1" : "0");
    show();
  });
  show();
}

const bell = $(".bell");
if (bell) (bell.dataset.alertIds || "").split(",").forEach((s) => { if (s) ids.add(Number(s)); });
render();

onEvent("alert", (a) => {
  if (!a || ids.has(a.id)) return;
  ids.add(a.id);
  if (document.querySelector(".alerts-page") && document.visibilityState === "visible") markSeen();
  else render();
  notify(a);
});
// another tab marked them seen
window.addEventListener("storage", (e) => { if (e.key === SEEN) render(); });
