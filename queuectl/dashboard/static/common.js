// Shared by every page: the live event stream (SSE), the daemon-down banner, the
// counts, and forms that post in place (with the CSRF token) instead of reloading.
// A module: pages import it as `import * as queuectl from "./common.js"`.
const handlers = { event: [], status: [], resync: [] };
const banner = document.getElementById("banner");
const indicator = document.getElementById("live-indicator");
const flashBox = document.getElementById("flash");
const flashText = document.getElementById("flash-text");
const csrf = document.querySelector('meta[name="csrf-token"]').content;
// The live feed's position when this page was rendered: news after it makes the stream
// start with a resync, so nothing between the render and the connection is lost.
const feedPosition = document.querySelector('meta[name="feed-position"]')?.content || "";
// A page rendered while the daemon was down has no data: it reloads once the daemon is back.
const renderedWithData = banner.hidden;
let daemonUp = banner.hidden;

export function on(kind, fn) { handlers[kind].push(fn); }

function emit(kind, data) {
  for (const fn of handlers[kind]) {
    try { fn(data); } catch (err) { console.error(err); }
  }
}

// Call fn once `ms` after the first request of a burst; requests made while it runs
// give one more call afterwards. So a flood of events costs a few fetches, not one each.
export function throttle(fn, ms) {
  let timer = null, running = false, again = false;
  async function fire() {
    timer = null;
    if (running) { again = true; return; }
    running = true; again = false;
    try { await fn(); } catch (err) { console.error(err); }
    finally { running = false; if (again) schedule(); }
  }
  function schedule() { if (!timer) timer = setTimeout(fire, ms); }
  return schedule;
}

// Replace a region's content with its fragment, rendered (and escaped) by the server.
export async function refreshRegion(region, url) {
  const res = await fetch(url || region.dataset.fragment, { headers: { Accept: "text/html" } });
  if (res.ok) region.innerHTML = await res.text();
  return res.ok;
}

// Parse server-rendered <tr data-job-id> rows into a Map id -> row.
export function parseRows(html) {
  const tpl = document.createElement("template");
  tpl.innerHTML = html;
  const rows = new Map();
  for (const tr of tpl.content.querySelectorAll("tr[data-job-id]")) rows.set(tr.dataset.jobId, tr);
  return rows;
}

export function rowOf(table, id) {
  for (const tr of table.tBodies[0].rows) if (tr.dataset.jobId === id) return tr;
  return null;
}

// Messages are a toast fixed at the bottom of the window: seen where the user is, and
// nothing on the page moves. An error stays longer; a click on × (or Escape) dismisses.
let flashTimer = null;
export function flash(message, ok) {
  flashText.textContent = message;
  flashBox.classList.toggle("error", !ok);
  flashBox.hidden = false;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => { flashBox.hidden = true; }, ok ? 6000 : 15000);
}
document.getElementById("flash-close").addEventListener("click", () => { flashBox.hidden = true; });
document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") flashBox.hidden = true; });
if (!flashBox.hidden) flashTimer = setTimeout(() => { flashBox.hidden = true; }, 6000); // a no-script POST's message

function setDaemonUp(up) {
  banner.hidden = up;
  if (up && !daemonUp) {
    if (!renderedWithData) { location.reload(); return; }
    emit("resync");
  }
  daemonUp = up;
}

function updateCounts(counts) {
  const all = Object.values(counts).reduce((a, b) => a + b, 0);
  for (const el of document.querySelectorAll("[data-count]")) {
    const key = el.dataset.count;
    const value = key === "all" ? all : counts[key];
    if (value === undefined) continue;
    el.textContent = String(value);
    el.classList.toggle("zero", value === 0);
  }
}

function connect() {
  const source = new EventSource(feedPosition ? "/events?since=" + encodeURIComponent(feedPosition) : "/events");
  let broken = false;
  source.addEventListener("open", () => {
    indicator.classList.add("on");
    if (broken) emit("resync"); // events were missed while we were away
    broken = false;
  });
  source.addEventListener("error", () => { indicator.classList.remove("on"); broken = true; });
  source.addEventListener("daemon", (e) => setDaemonUp(JSON.parse(e.data).up));
  source.addEventListener("status", (e) => {
    const status = JSON.parse(e.data);
    updateCounts(status.counts);
    emit("status", status);
  });
  source.addEventListener("daemon-event", (e) => emit("event", JSON.parse(e.data)));
  source.addEventListener("resync", () => emit("resync"));
}

// A destructive button asks for a second click instead of a dialog; the second click (or
// four seconds) puts its label back.
const arming = new WeakMap(); // button -> [its label, the timer that disarms it]
function disarm(button) {
  const [label, timer] = arming.get(button) || [];
  if (label === undefined) return;
  clearTimeout(timer);
  arming.delete(button);
  button.classList.remove("armed");
  button.textContent = label;
}

function armed(button) {
  if (!button || !button.dataset.confirm) return true;
  if (arming.has(button)) { disarm(button); return true; }
  arming.set(button, [button.textContent, setTimeout(() => disarm(button), 4000)]);
  button.classList.add("armed");
  button.textContent = button.dataset.confirm + " Click again";
  return false;
}

// Forms with data-ajax post in place; a button's formaction picks the action (bulk bars).
document.addEventListener("submit", async (ev) => {
  const form = ev.target.closest("form[data-ajax]");
  if (!form) return;
  ev.preventDefault();
  const button = ev.submitter || form.querySelector("button");
  if (!armed(button)) return;
  const action = button && button.hasAttribute("formaction") ? button.formAction : form.action;
  if (button) button.disabled = true;
  let body;
  try {
    const res = await fetch(action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      headers: { Accept: "application/json", "X-CSRF-Token": csrf },
    });
    body = await res.json().catch(() => ({ ok: false, message: `${res.status} ${res.statusText}` }));
  } catch (err) {
    body = { ok: false, message: "the dashboard server is not answering" };
  } finally {
    if (button) button.disabled = false;
  }
  flash(body.message, body.ok);
  form.dispatchEvent(new CustomEvent("queuectl:done", { bubbles: true, detail: { ...body, action } }));
});

connect();
