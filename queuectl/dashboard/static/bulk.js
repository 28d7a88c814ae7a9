// Selecting rows of a jobs table and acting on them all. The checkboxes belong to the
// bulk form (form="bulk-form"), so even a script-less POST carries them; here the selection
// is kept while live updates replace rows or the whole table, a row that leaves the table
// leaves the selection, and the bar says how many are selected.
const region = document.getElementById("jobs-region") || document.getElementById("dlq-region");
const selected = new Set();
const boxes = () => [...region.querySelectorAll('tbody input[type=checkbox][name="id"]')];
let queued = false;

function sync() {
  queued = false;
  const present = boxes();
  const ids = new Set(present.map((b) => b.value));
  for (const id of [...selected]) if (!ids.has(id)) selected.delete(id);
  for (const b of present) b.checked = selected.has(b.value);
  const all = region.querySelector("[data-select-all]");
  if (all) {
    all.checked = present.length > 0 && selected.size === present.length;
    all.indeterminate = selected.size > 0 && selected.size < present.length;
  }
  // Only what changed: this runs on mutations, and must not cause any itself.
  for (const el of region.querySelectorAll("[data-selected]")) {
    if (el.textContent !== String(selected.size)) el.textContent = String(selected.size);
  }
  for (const b of region.querySelectorAll("[data-needs-selection]")) b.disabled = selected.size === 0;
  region.querySelector("#bulk-form")?.classList.toggle("active", selected.size > 0);
}

function later() {
  if (!queued) { queued = true; queueMicrotask(sync); }
}

function onChange(ev) {
  const box = ev.target;
  if (box.matches("[data-select-all]")) {
    for (const b of boxes()) { if (box.checked) selected.add(b.value); else selected.delete(b.value); }
  } else if (box.matches('input[type=checkbox][name="id"]')) {
    if (box.checked) selected.add(box.value); else selected.delete(box.value);
  }
  sync();
}

if (region) {
  region.addEventListener("change", onChange);
  region.addEventListener("queuectl:done", (ev) => {
    // (not ev.target.id: a form's named controls shadow its properties, and these are named "id")
    if (ev.target.matches("#bulk-form") && ev.detail.ok) selected.clear();
    later();
  });
  new MutationObserver(later).observe(region, { childList: true, subtree: true });
  sync();
}
