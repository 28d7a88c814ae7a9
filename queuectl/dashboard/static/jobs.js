"use strict";
// Jobs list: rows touched by events are re-fetched (only those); new jobs are inserted at
// the top when this view shows the newest first; the whole table is re-fetched on resync.
(() => {
  const region = document.getElementById("jobs-region");
  const table = () => document.getElementById("jobs-table");
  const touched = new Set();
  const fresh = [];

  const refreshTable = queuectl.throttle(() => {
    const t = table();
    return t ? queuectl.refreshRegion(region, t.dataset.fragment) : null;
  }, 300);

  const flush = queuectl.throttle(async () => {
    const t = table();
    if (!t) return;
    const ids = [...touched];
    const added = fresh.splice(0);
    touched.clear();
    if (ids.length + added.length > 200) { refreshTable(); return; }
    if (!ids.length && !added.length) return;
    const params = new URLSearchParams({ state: t.dataset.state, search: t.dataset.search, kind: "jobs" });
    for (const id of ids) params.append("id", id);
    for (const id of added) params.append("new", id);
    const res = await fetch("/fragments/job-rows?" + params);
    if (!res.ok) return;
    const rows = queuectl.parseRows(await res.text());
    for (const id of ids) {
      const old = queuectl.rowOf(t, id);
      if (!old) continue;
      const row = rows.get(id);
      if (row) old.replaceWith(row); else old.remove(); // no longer matches the filter
    }
    const body = t.tBodies[0];
    for (const id of added) {
      const row = rows.get(id);
      if (row && !queuectl.rowOf(t, id)) body.prepend(row);
    }
    const limit = Number(t.dataset.limit);
    while (body.rows.length > limit) body.lastElementChild.remove();
    if (body.rows.length) region.querySelector(".empty")?.remove();
  }, 250);

  queuectl.on("event", (ev) => {
    const t = table();
    if (!t || !ev.job_id) return;
    if (ev.event === "job.deleted") { queuectl.rowOf(t, ev.job_id)?.remove(); return; }
    if (queuectl.rowOf(t, ev.job_id)) { touched.add(ev.job_id); flush(); return; }
    if (ev.event === "job.enqueued") {
      if (t.dataset.liveHead === "1") { fresh.push(ev.job_id); flush(); }
      else document.getElementById("new-jobs").hidden = false;
    }
  });
  queuectl.on("resync", refreshTable);

  document.getElementById("enqueue-form").addEventListener("queuectl:done", (ev) => {
    if (ev.detail.ok) {
      ev.target.reset();
      ev.target.querySelector("input[name=command]").focus();
    }
  });
})();
