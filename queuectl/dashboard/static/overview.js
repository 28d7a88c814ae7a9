"use strict";
// Overview: workers from the pushed status; chart and schedule re-fetched when events touch them.
(() => {
  const workersBody = document.querySelector("#workers-table tbody");
  const scaleInput = document.querySelector("#scale-form input[name=count]");
  const throughput = document.getElementById("throughput");
  const upcoming = document.getElementById("upcoming");

  function cell(tr, text, cls) {
    const td = tr.insertCell();
    if (cls) td.className = cls;
    if (text instanceof Node) td.append(text); else td.textContent = text;
    return td;
  }

  function runningFor(seconds) {
    const s = Math.floor(seconds);
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
    return `${Math.floor(s / 3600)}h ${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`;
  }

  function renderWorkers(workers) {
    for (const el of document.querySelectorAll("[data-workers]")) {
      el.textContent = String(workers[el.dataset.workers]);
    }
    if (document.activeElement !== scaleInput) scaleInput.value = String(workers.target);
    const received = Date.now();
    workersBody.replaceChildren();
    for (const c of workers.children) {
      const tr = workersBody.insertRow();
      cell(tr, String(c.child), "num");
      cell(tr, String(c.pid), "num");
      const state = document.createElement("span");
      state.className = `state state-${c.state}`;
      state.textContent = c.state;
      cell(tr, state);
      if (c.job) {
        const a = document.createElement("a");
        a.href = "/job?" + new URLSearchParams({ id: c.job.job_id });
        a.textContent = c.job.job_id;
        cell(tr, a);
        const td = cell(tr, runningFor(c.job.running_s), "running-for");
        td.dataset.base = String(c.job.running_s);
        td.dataset.received = String(received);
      } else {
        cell(tr, "");
        cell(tr, "");
      }
    }
  }

  function tick() {
    for (const td of workersBody.querySelectorAll("td.running-for")) {
      const elapsed = (Date.now() - Number(td.dataset.received)) / 1000;
      td.textContent = runningFor(Number(td.dataset.base) + elapsed);
    }
  }

  function listedInUpcoming(id) {
    for (const tr of upcoming.querySelectorAll("tr[data-job-id]")) if (tr.dataset.jobId === id) return true;
    return false;
  }

  const refreshChart = queuectl.throttle(() => queuectl.refreshRegion(throughput), 3000);
  const refreshUpcoming = queuectl.throttle(() => queuectl.refreshRegion(upcoming), 300);

  queuectl.on("status", (status) => renderWorkers(status.workers));
  queuectl.on("event", (ev) => {
    if (["job.completed", "job.failed", "job.dead"].includes(ev.event)) refreshChart();
    if ((ev.event === "job.enqueued" && ev.state === "scheduled") || listedInUpcoming(ev.job_id)) refreshUpcoming();
  });
  queuectl.on("resync", () => { refreshChart(); refreshUpcoming(); });
  setInterval(tick, 1000);
  setInterval(refreshChart, 60000); // the chart's minutes move on even when nothing happens
  setInterval(() => { if (upcoming.querySelector("tr[data-job-id]")) refreshUpcoming(); }, 30000);
})();
