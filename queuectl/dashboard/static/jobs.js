// Jobs list: see live-table.js. New jobs go on top when the view shows the newest first;
// otherwise a link offers to show them.
import { LiveTable } from "./live-table.js";
import "./bulk.js";

const region = document.getElementById("jobs-region");
if (region) {
  new LiveTable({
    region,
    tableId: "jobs-table",
    kind: "jobs",
    state: (t) => t.dataset.state,
    isNew: (ev, t) => ev.event === "job.enqueued" && t.dataset.liveHead === "1",
    insert: (t, body, row) => {
      body.prepend(row);
      while (body.rows.length > Number(t.dataset.limit)) body.lastElementChild.remove();
    },
    onNewElsewhere: () => { document.getElementById("new-jobs").hidden = false; },
  });
}

document.getElementById("enqueue-form").addEventListener("queuectl:done", (ev) => {
  if (ev.detail.ok) {
    ev.target.reset();
    ev.target.querySelector("input[name=command]").focus();
  }
});
