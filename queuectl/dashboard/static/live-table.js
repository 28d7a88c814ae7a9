// A table of jobs kept current from events: rows of jobs an event names are re-fetched
// (one request per burst, one daemon call for all of them), new jobs are inserted where
// the view wants them, and the whole table is re-fetched on resync or when it empties.
// Used by the jobs and dead-letter pages.
import * as queuectl from "./common.js";

const MAX_ROWS = 200; // rows asked for at once; more: the whole table instead

export class LiveTable {
  // view: { region, tableId, kind, state(t), isNew(ev, t), insert(t, body, row), onNewElsewhere() }
  constructor(view) {
    this.view = view;
    this.touched = new Set();
    this.fresh = [];
    this.missed = null; // events that arrive while the whole table is being re-fetched
    this.refreshTable = queuectl.throttle(() => this.refetch(), 300);
    this.flush = queuectl.throttle(() => this.fetchRows(), 250);
    queuectl.on("event", (ev) => this.onEvent(ev));
    queuectl.on("resync", this.refreshTable);
  }

  table() { return document.getElementById(this.view.tableId); }

  async refetch() {
    const t = this.table();
    if (!t) return;
    this.missed = [];
    try {
      await queuectl.refreshRegion(this.view.region, t.dataset.fragment);
    } finally {
      // The new table may predate them: apply them again, row by row.
      const again = this.missed;
      this.missed = null;
      again.forEach((ev) => this.onEvent(ev));
    }
  }

  async fetchRows() {
    const t = this.table();
    if (!t) return;
    const ids = [...this.touched];
    const added = this.fresh.splice(0);
    this.touched.clear();
    if (ids.length > MAX_ROWS || added.length > MAX_ROWS) { this.refreshTable(); return; }
    if (!ids.length && !added.length) return;
    const params = new URLSearchParams({ state: this.view.state(t), search: t.dataset.search || "",
      queue: t.dataset.queue || "", kind: this.view.kind });
    for (const id of ids) params.append("id", id);
    for (const id of added) params.append("new", id);
    let html;
    try {
      const res = await fetch("/fragments/job-rows?" + params);
      html = res.ok ? await res.text() : null;
    } catch (err) {
      html = null;
    }
    // Rows not fetched are not dropped: the whole table is read again instead.
    if (html === null) { this.refreshTable(); return; }
    const rows = queuectl.parseRows(html);
    for (const id of ids) {
      const old = queuectl.rowOf(t, id);
      const row = rows.get(id);
      if (old && row) old.replaceWith(row); else if (old) old.remove(); // gone, or no longer matches the filter
    }
    for (const id of added) {
      const row = rows.get(id);
      if (row && !queuectl.rowOf(t, id)) this.view.insert(t, t.tBodies[0], row);
    }
    this.rowsChanged(t);
  }

  // An empty table is hidden behind a note (and so is its bulk bar): the first row shows
  // them; when the last row leaves (deleted, retried, filtered out), the server redraws the
  // region: the note, or the rows that are now on this page.
  rowsChanged(t) {
    const has = t.tBodies[0].rows.length > 0;
    if (!has && !t.hidden) { this.refreshTable(); return; }
    if (!has) return;
    t.hidden = false;
    for (const el of this.view.region.querySelectorAll("[data-if-rows]")) el.hidden = false;
    this.view.region.querySelector("[data-if-no-rows]")?.remove();
  }

  onEvent(ev) {
    if (this.missed) this.missed.push(ev);
    const t = this.table();
    if (!t || !ev.job_id) return;
    if (ev.event === "job.deleted") { queuectl.rowOf(t, ev.job_id)?.remove(); this.rowsChanged(t); return; }
    if (queuectl.rowOf(t, ev.job_id)) { this.touched.add(ev.job_id); this.flush(); return; }
    if (this.view.isNew(ev, t)) { this.fresh.push(ev.job_id); this.flush(); }
    else if (this.view.onNewElsewhere && ev.event === "job.enqueued") this.view.onNewElsewhere();
  }
}
