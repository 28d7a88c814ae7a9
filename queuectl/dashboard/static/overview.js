// Overview: workers, the no-worker and disk warnings from the pushed status; the queue latency,
// chart and schedule re-fetched when events touch them.
import * as queuectl from "./common.js";
import { span } from "./human.js";

const workersBody = document.querySelector("#workers-table tbody");
const scaleInput = document.querySelector("#scale-form input[name=count]");
const throughput = document.getElementById("throughput");
const upcoming = document.getElementById("upcoming");
const latency = document.getElementById("latency");
let pending = Number(document.querySelector("#count-pending .n")?.textContent); // as rendered

function cell(tr, text, cls) {
  const td = tr.insertCell();
  if (cls) td.className = cls;
  if (text instanceof Node) td.append(text); else td.textContent = text;
  return td;
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
    cell(tr, String(c.child), "num").dataset.label = "child";
    cell(tr, String(c.pid), "num").dataset.label = "pid";
    const state = document.createElement("span");
    state.className = `state state-${c.state}`;
    state.textContent = c.state;
    cell(tr, state);
    if (c.job) {
      const a = document.createElement("a");
      a.href = "/job?" + new URLSearchParams({ id: c.job.job_id });
      a.textContent = c.job.job_id;
      cell(tr, a, "id");
      const td = cell(tr, span(c.job.running_s), "running-for");
      td.dataset.base = String(c.job.running_s);
      td.dataset.received = String(received);
    } else {
      cell(tr, "");
      cell(tr, "");
    }
  }
}

// With PostgreSQL: every daemon of the database, as the pushed status has them (none while
// the database is away: the rows stay as they were).
const daemonsBody = document.querySelector("#daemons-table tbody");
function renderDaemons(cluster) {
  if (!daemonsBody || !cluster || !cluster.daemons) return;
  daemonsBody.replaceChildren();
  for (const d of cluster.daemons) {
    const tr = daemonsBody.insertRow();
    tr.dataset.daemon = d.name;
    cell(tr, d.name, "id").dataset.label = "name";
    cell(tr, d.host ?? "").dataset.label = "host";
    cell(tr, String(d.pid ?? ""), "num").dataset.label = "pid";
    const lease = document.createElement("span");
    lease.className = `state state-${d.live ? "completed" : "dead"}`;
    lease.textContent = d.live ? "live" : "lapsed";
    cell(tr, lease).dataset.label = "lease";
    cell(tr, String(d.workers ?? ""), "num").dataset.label = "workers";
    cell(tr, String(d.running ?? ""), "num").dataset.label = "running";
  }
}

function tick() {
  for (const td of workersBody.querySelectorAll("td.running-for")) {
    const elapsed = (Date.now() - Number(td.dataset.received)) / 1000;
    td.textContent = span(Number(td.dataset.base) + elapsed);
  }
}

function listedInUpcoming(id) {
  for (const tr of upcoming.querySelectorAll("tr[data-job-id]")) if (tr.dataset.jobId === id) return true;
  return false;
}

// Jobs pending and no worker to run them: say so (the counts come with every status).
function renderWarning(status) {
  const warning = document.getElementById("no-workers");
  if (warning) warning.hidden = !(status.counts.pending > 0 && status.workers.running === 0);
  // The disk under its floor (no new job starts), or back above it: the region says so.
  const disk = document.getElementById("disk-low");
  if (disk && disk.hidden === Boolean(status.daemon?.disk?.low)) refreshLatency();
}

function oldestPending() {
  return latency.querySelector("[data-oldest]")?.dataset.oldest || "";
}

const refreshChart = queuectl.throttle(() => queuectl.refreshRegion(throughput), 3000);
const refreshLatency = queuectl.throttle(() => queuectl.refreshRegion(latency), 500);
const refreshUpcoming = queuectl.throttle(() => queuectl.refreshRegion(upcoming), 300);

queuectl.on("status", (status) => {
  renderWorkers(status.workers);
  renderDaemons(status.daemon?.cluster);
  renderWarning(status);
  if (status.counts.pending !== pending) { pending = status.counts.pending; refreshLatency(); }
});
queuectl.on("event", (ev) => {
  if (ev.job_id && ev.job_id === oldestPending()) refreshLatency();
  if (["job.completed", "job.failed", "job.dead"].includes(ev.event)) refreshChart();
  if ((ev.event === "job.enqueued" && ev.state === "scheduled") || listedInUpcoming(ev.job_id)) refreshUpcoming();
});
queuectl.on("resync", () => { refreshChart(); refreshUpcoming(); refreshLatency(); });
setInterval(tick, 1000);
setInterval(refreshChart, 60000); // the chart's minutes move on even when nothing happens
setInterval(() => { if (upcoming.querySelector("tr[data-job-id]")) refreshUpcoming(); }, 30000);
