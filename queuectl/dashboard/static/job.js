"use strict";
// Job detail: the spec and attempts are re-fetched when an event names this job; the
// output shows the tail of the attempt and follows it (polling job.logs) while it runs.
(() => {
  const region = document.getElementById("job-region");
  if (!region) return;
  const jobId = region.dataset.jobId;
  const pinned = region.dataset.pinned === "1";
  const MAX_CHARS = 256 * 1024;
  const POLL_MS = 500;
  const streams = ["stdout", "stderr"];
  const pre = Object.fromEntries(streams.map((s) => [s, document.getElementById(s)]));
  const following = document.getElementById("log-following");
  let attempt = pinned ? Number(region.dataset.attempt) : null;
  let offsets = null; // null: next read is the tail
  let generation = 0; // a restart makes replies to older reads stale
  let timer = null;
  let reading = false;

  function append(stream, text) {
    if (!text) return;
    const el = pre[stream];
    el.append(document.createTextNode(text));
    if (el.textContent.length > MAX_CHARS) el.textContent = el.textContent.slice(-MAX_CHARS);
    el.scrollTop = el.scrollHeight;
  }

  async function read() {
    if (reading) return;
    reading = true;
    clearTimeout(timer);
    const mine = generation;
    const params = new URLSearchParams({ id: jobId });
    if (attempt) params.set("attempt", String(attempt));
    if (offsets) for (const s of streams) params.set(`${s}_offset`, String(offsets[s]));
    let running = false;
    try {
      const res = await fetch("/api/logs?" + params);
      if (!res.ok || mine !== generation) return;
      const got = await res.json();
      if (!offsets) {
        for (const s of streams) document.getElementById(`${s}-skipped`).hidden = !got[s].skipped;
      }
      attempt = got.stdout.attempt || attempt;
      document.getElementById("log-attempt").textContent = attempt ? `attempt ${attempt}` : "";
      offsets = {};
      for (const s of streams) { append(s, got[s].text); offsets[s] = got[s].next_offset; }
      running = got.stdout.running || got.stderr.running;
    } finally {
      reading = false;
      following.hidden = !running;
      if (running && mine === generation) timer = setTimeout(read, POLL_MS);
    }
  }

  function restart() {
    generation += 1;
    offsets = null;
    reading = false;
    for (const s of streams) pre[s].textContent = "";
    read();
  }

  const refreshDetail = queuectl.throttle(() => queuectl.refreshRegion(region), 150);

  queuectl.on("event", (ev) => {
    if (ev.job_id !== jobId) return;
    refreshDetail();
    if (ev.event === "job.started" && !pinned) { attempt = ev.attempt; restart(); }
    else if (ev.event !== "job.enqueued") read(); // the last bytes of an attempt that ended
  });
  queuectl.on("resync", () => { refreshDetail(); restart(); });
  region.addEventListener("queuectl:done", (ev) => {
    if (ev.detail.ok && ev.target.action.endsWith("/actions/delete")) location.assign("/jobs");
  });
  read();
})();
