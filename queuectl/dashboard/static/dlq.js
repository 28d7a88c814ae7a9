"use strict";
// Dead letter queue: see live-table.js. Rows leave when their job is retried or deleted;
// jobs that die appear at the end while this page has room (the list is oldest first).
(() => {
  const region = document.getElementById("dlq-region");
  const PAGE = 50;
  const { refreshTable } = queuectl.liveTable({
    region,
    tableId: "dlq-table",
    kind: "dlq",
    state: () => "dead",
    isNew: (ev) => ev.event === "job.dead",
    insert: (t, body, row) => { if (body.rows.length < PAGE) body.append(row); },
  });
  // "Retry all" changes the pager and the button itself: redraw the whole table after it.
  region.addEventListener("queuectl:done", (ev) => {
    if (ev.target.action.endsWith("/actions/dlq-retry-all")) refreshTable();
  });
})();
