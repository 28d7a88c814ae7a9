// Job detail: the spec and attempts are re-fetched when an event names this job; the
// output shows the tail of the attempt, rendered as a terminal would (terminal.js), and
// follows it (polling job.logs) while it runs. Notes say what the page leaves out, and
// the download links always point at the attempt shown.
import * as queuectl from "./common.js";
import { Terminal } from "./terminal.js";
import { size } from "./human.js";

const POLL_MS = 500;
const STREAMS = ["stdout", "stderr"];
const region = document.getElementById("job-region"); // absent on "job not found"
const jobId = region?.dataset.jobId;
const pinned = region?.dataset.pinned === "1";
const following = document.getElementById("log-following");
const notes = { skipped: {}, trimmed: {} };
const terms = {};
let attempt = pinned ? Number(region.dataset.attempt) : null;
let offsets = null; // null: next read is the tail
let generation = 0; // a restart makes replies to older reads stale
let timer = null;
let reading = false;

function showNote(stream) {
  const parts = [];
  const skipped = notes.skipped[stream];
  const trimmed = notes.trimmed[stream];
  if (skipped) parts.push(`The first ${size(skipped)} are not shown here.`);
  if (trimmed) {
    parts.push(`To stay fast, this page dropped the first ${trimmed.lines} line(s) ` +
      `(${trimmed.chars} characters) of what it showed.`);
  }
  const note = document.getElementById(`${stream}-note`);
  note.hidden = !parts.length;
  if (parts.length) {
    const link = document.createElement("a");
    link.href = document.getElementById(`${stream}-download`).href;
    link.textContent = `Download the whole ${stream}`;
    note.replaceChildren(parts.join(" ") + " ", link, ".");
  }
}

function setAttempt(n) {
  attempt = n || attempt;
  document.getElementById("log-attempt").textContent = attempt ? `attempt ${attempt}` : "";
  for (const s of STREAMS) {
    const a = document.getElementById(`${s}-download`);
    a.href = "/api/logs/download?" + new URLSearchParams({ id: jobId, attempt: String(attempt || 0), stream: s });
    a.hidden = !attempt;
  }
}

function append(stream, text) {
  if (!text) return;
  const pre = terms[stream].pre;
  const atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 24;
  terms[stream].write(text);
  if (atBottom) pre.scrollTop = pre.scrollHeight; // follow, unless the reader scrolled up
}

function show(got) {
  setAttempt(got.stdout.attempt);
  if (!offsets) for (const s of STREAMS) { notes.skipped[s] = got[s].start; showNote(s); }
  offsets = {};
  for (const s of STREAMS) {
    append(s, got[s].text);
    offsets[s] = got[s].next_offset;
    if (got[s].eof) terms[s].end();
  }
}

async function read() {
  if (reading) return;
  reading = true;
  clearTimeout(timer);
  const mine = generation;
  const params = new URLSearchParams({ id: jobId });
  if (attempt) params.set("attempt", String(attempt));
  if (offsets) for (const s of STREAMS) params.set(`${s}_offset`, String(offsets[s]));
  let running = false;
  try {
    const res = await fetch("/api/logs?" + params);
    if (!res.ok || mine !== generation) return;
    const got = await res.json();
    show(got);
    running = got.stdout.running || got.stderr.running;
  } finally {
    reading = false;
    following.hidden = !running;
    if (running && mine === generation) timer = setTimeout(read, POLL_MS);
  }
}

function restart() {
  generation += 1;
  offsets = null;
  reading = false;
  notes.skipped = {};
  notes.trimmed = {};
  for (const s of STREAMS) { terms[s].reset(); showNote(s); }
  read();
}

if (region) {
  for (const s of STREAMS) {
    terms[s] = new Terminal(document.getElementById(s), { onTrim: (t) => { notes.trimmed[s] = t; showNote(s); } });
  }
  const refreshDetail = queuectl.throttle(() => queuectl.refreshRegion(region), 150);
  queuectl.on("event", (ev) => {
    if (ev.job_id !== jobId) return;
    refreshDetail();
    if (ev.event === "job.started" && !pinned) { attempt = ev.attempt; restart(); }
    else if (ev.event !== "job.enqueued") read(); // the last bytes of an attempt that ended
  });
  queuectl.on("resync", () => { refreshDetail(); restart(); });
  region.addEventListener("queuectl:done", (ev) => {
    if (ev.detail.ok && ev.detail.action.endsWith("/actions/delete")) location.assign("/jobs");
  });
  read();
}
