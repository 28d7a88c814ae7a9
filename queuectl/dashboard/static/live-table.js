"use strict";
// A table of jobs kept current from events: rows of jobs an event names are re-fetched
// (one request per burst), new jobs are inserted where the view wants them, and the
// whole table is re-fetched on resync. Used by the jobs and dead-letter pages.
queuectl.liveTable = ({ region, tableId, kind, state, isNew, insert, onNewElsewhere }) => {
  const table = () => document.getElementById(tableId);
  const touched = new Set();
  const fresh = [];
  let missed = null; // events that arrive while the whole table is being re-fetched

  const refreshTable = queuectl.throttle(async () => {
    const t = table();
    if (!t) return;
    missed = [];
    try {
      await queuectl.refreshRegion(region, t.dataset.fragment);
    } finally {
      // The new table may predate them: apply them again, row by row.
      const again = missed;
      missed = null;
      again.forEach(onEvent);
    }
  }, 300);

  const flush = queuectl.throttle(async () => {
    const t = table();
    if (!t) return;
    const ids = [...touched];
    const added = fresh.splice(0);
    touched.clear();
    if (ids.length + added.length > 200) { refreshTable(); return; }
    if (!ids.length && !added.length) return;
    const params = new URLSearchParams({ state: state(t), search: t.dataset.search || "", kind });
    for (const id of ids) params.append("id", id);
    for (const id of added) params.append("new", id);
    const res = await fetch("/fragments/job-rows?" + params);
    if (!res.ok) return;
    const rows = queuectl.parseRows(await res.text());
    for (const id of ids) {
      const old = queuectl.rowOf(t, id);
      if (!old) continue;
      const row = rows.get(id);
      if (row) old.replaceWith(row); else old.remove(); // gone, or no longer matches the filter
    }
    const body = t.tBodies[0];
    for (const id of added) {
      const row = rows.get(id);
      if (row && !queuectl.rowOf(t, id)) insert(t, body, row);
    }
    if (body.rows.length) region.querySelector(".empty")?.remove();
  }, 250);

  function onEvent(ev) {
    if (missed) missed.push(ev);
    const t = table();
    if (!t || !ev.job_id) return;
    if (ev.event === "job.deleted") { queuectl.rowOf(t, ev.job_id)?.remove(); return; }
    if (queuectl.rowOf(t, ev.job_id)) { touched.add(ev.job_id); flush(); return; }
    if (isNew(ev, t)) { fresh.push(ev.job_id); flush(); }
    else if (onNewElsewhere && ev.event === "job.enqueued") onNewElsewhere();
  }

  queuectl.on("event", onEvent);
  queuectl.on("resync", refreshTable);
  return { refreshTable };
};
