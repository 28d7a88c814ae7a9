"use strict";
// Dead letter queue: rows leave when their job is retried or deleted; jobs that die
// appear at the end when this is the last page (the list is oldest first).
(() => {
  const region = document.getElementById("dlq-region");
  const table = () => document.getElementById("dlq-table");
  const touched = new Set();
  const died = [];

  const refreshTable = queuectl.throttle(() => {
    const t = table();
    return t ? queuectl.refreshRegion(region, t.dataset.fragment) : null;
  }, 300);

  const flush = queuectl.throttle(async () => {
    const t = table();
    if (!t) return;
    const ids = [...touched];
    const added = died.splice(0);
    touched.clear();
    if (ids.length + added.length > 200) { refreshTable(); return; }
    if (!ids.length && !added.length) return;
    const params = new URLSearchParams({ state: "dead", kind: "dlq" });
    for (const id of ids) params.append("id", id);
    for (const id of added) params.append("new", id);
    const res = await fetch("/fragments/job-rows?" + params);
    if (!res.ok) return;
    const rows = queuectl.parseRows(await res.text());
    for (const id of ids) {
      const old = queuectl.rowOf(t, id);
      if (!old) continue;
      const row = rows.get(id);
      if (row) old.replaceWith(row); else old.remove(); // retried or deleted: not dead any more
    }
    const body = t.tBodies[0];
    for (const id of added) {
      const row = rows.get(id);
      if (row && !queuectl.rowOf(t, id) && body.rows.length < 50) body.append(row);
    }
    if (body.rows.length) region.querySelector(".empty")?.remove();
  }, 250);

  queuectl.on("event", (ev) => {
    const t = table();
    if (!t || !ev.job_id) return;
    if (queuectl.rowOf(t, ev.job_id)) { touched.add(ev.job_id); flush(); }
    else if (ev.event === "job.dead") { died.push(ev.job_id); flush(); }
  });
  queuectl.on("resync", refreshTable);
  // "Retry all" changes the pager and the button itself: redraw the whole table after it.
  region.addEventListener("queuectl:done", (ev) => {
    if (ev.target.action.endsWith("/actions/dlq-retry-all")) refreshTable();
  });
})();
