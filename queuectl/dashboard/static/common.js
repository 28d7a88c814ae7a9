"use strict";
// Shared by every page: the live event stream (SSE), the daemon-down banner, the
// counts, and forms that post in place (with the CSRF token) instead of reloading.
const queuectl = (() => {
  const handlers = { event: [], status: [], resync: [] };
  const banner = document.getElementById("banner");
  const indicator = document.getElementById("live-indicator");
  const flashBox = document.getElementById("flash");
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  // A page rendered while the daemon was down has no data: it reloads once the daemon is back.
  const renderedWithData = banner.hidden;
  let daemonUp = banner.hidden;

  function on(kind, fn) { handlers[kind].push(fn); }

  function emit(kind, data) {
    for (const fn of handlers[kind]) {
      try { fn(data); } catch (err) { console.error(err); }
    }
  }

  // Call fn once `ms` after the first request of a burst; requests made while it runs
  // give one more call afterwards. So a flood of events costs a few fetches, not one each.
  function throttle(fn, ms) {
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
  async function refreshRegion(region, url) {
    const res = await fetch(url || region.dataset.fragment, { headers: { Accept: "text/html" } });
    if (res.ok) region.innerHTML = await res.text();
    return res.ok;
  }

  // Parse server-rendered <tr data-job-id> rows into a Map id -> row.
  function parseRows(html) {
    const tpl = document.createElement("template");
    tpl.innerHTML = html;
    const rows = new Map();
    for (const tr of tpl.content.querySelectorAll("tr[data-job-id]")) rows.set(tr.dataset.jobId, tr);
    return rows;
  }

  function rowOf(table, id) {
    for (const tr of table.tBodies[0].rows) if (tr.dataset.jobId === id) return tr;
    return null;
  }

  let flashTimer = null;
  function flash(message, ok) {
    flashBox.textContent = message;
    flashBox.classList.toggle("error", !ok);
    flashBox.hidden = false;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => { flashBox.hidden = true; }, ok ? 5000 : 10000);
  }

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
    const source = new EventSource("/events");
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

  // A destructive button asks for a second click instead of a dialog.
  function armed(button) {
    if (!button || !button.dataset.confirm || button.classList.contains("armed")) return true;
    const label = button.textContent;
    button.classList.add("armed");
    button.textContent = button.dataset.confirm + " Click again";
    setTimeout(() => { button.classList.remove("armed"); button.textContent = label; }, 4000);
    return false;
  }

  document.addEventListener("submit", async (ev) => {
    const form = ev.target.closest("form[data-ajax]");
    if (!form) return;
    ev.preventDefault();
    const button = ev.submitter || form.querySelector("button");
    if (!armed(button)) return;
    if (button) button.disabled = true;
    let body;
    try {
      const res = await fetch(form.action, {
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
    form.dispatchEvent(new CustomEvent("queuectl:done", { bubbles: true, detail: body }));
  });

  connect();
  return { on, throttle, refreshRegion, parseRows, rowOf, flash };
})();
