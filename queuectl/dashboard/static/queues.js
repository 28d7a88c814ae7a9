// Queues: the table is fetched again (rendered by the server) when a queue.* event comes, or
// when the pushed status shows a queue whose numbers differ from its row (jobs started,
// finished, enqueued). Not while a concurrency field is being edited: then once it loses focus.
import * as queuectl from "./common.js";

const region = document.getElementById("queues-region");
const FIELDS = { pending: "pending", running: "running", assigned: "assigned", slotsInUse: "slots_in_use",
  concurrency: "concurrency", weight: "weight", rateLimited: "rate_limited" };
let deferred = false;

function editing() {
  const el = document.activeElement;
  return el && el.tagName === "INPUT" && region.contains(el);
}

const refresh = queuectl.throttle(async () => {
  if (editing()) { deferred = true; return; }
  await queuectl.refreshRegion(region);
}, 300);

// Does the table show what the daemon says? (The oldest pending job's age counts by itself.)
function differs(queues) {
  const rows = new Map([...region.querySelectorAll("tr[data-queue]")].map((tr) => [tr.dataset.queue, tr]));
  if (rows.size !== queues.length) return true;
  for (const q of queues) {
    const tr = rows.get(q.name);
    if (!tr || tr.dataset.paused !== (q.paused ? "1" : "0")) return true;
    for (const [attr, key] of Object.entries(FIELDS)) if (tr.dataset[attr] !== String(q[key])) return true;
  }
  return false;
}

if (region) {
  queuectl.on("status", (status) => { if (status.queues && differs(status.queues)) refresh(); });
  queuectl.on("event", (ev) => { if (ev.event && ev.event.startsWith("queue.")) refresh(); });
  queuectl.on("resync", refresh);
  region.addEventListener("queuectl:done", refresh); // also when nothing changed ("paused already")
  region.addEventListener("focusout", () => { if (deferred) { deferred = false; setTimeout(refresh, 0); } });
}
