// Dead letter queue: see live-table.js. Rows leave when their job is retried or deleted;
// jobs that die appear at the end while this page has room (the list is oldest first).
import { LiveTable } from "./live-table.js";
import "./bulk.js";

const PAGE = 50;
const region = document.getElementById("dlq-region");
if (region) {
  const table = new LiveTable({
    region,
    tableId: "dlq-table",
    kind: "dlq",
    state: () => "dead",
    isNew: (ev) => ev.event === "job.dead",
    insert: (t, body, row) => { if (body.rows.length < PAGE) body.append(row); },
  });
  // "Retry all" and "Delete all dead" change the pager and the bar: redraw the whole table.
  region.addEventListener("queuectl:done", (ev) => {
    if (/\/actions\/dlq-(retry|delete)-all$/.test(ev.detail.action)) table.refreshTable();
  });
}
