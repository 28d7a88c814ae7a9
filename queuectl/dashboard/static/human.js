// Times and numbers for people, worded as humane.py words them on the server. The server
// renders every time as <time datetime="...Z"> in UTC; here each is shown in the browser's
// own zone, with the zone's name, and with its age, kept current once a second. Ages are measured against the server's clock (the page carries
// it), so a browser whose clock is off still says "3 min ago" truthfully.
//   data-show="stamp"   2026-03-01 14:03:22 GMT+1 · 3 min ago
//   data-show="ago"     3 min ago, with the date, time and zone below it
//   data-show="until"   in 38 s (a countdown; "now" once it is due)
//   data-show="elapsed" 1 min 03 s (since then)
const meta = document.querySelector('meta[name="server-time"]');
const skew = meta ? Number(meta.content) - Date.now() : 0;
export const now = () => Date.now() + skew;
const pad = (n) => String(n).padStart(2, "0");
const zoneFormat = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" });
const stamps = new WeakMap(); // element -> [time value, its stamp]: formatting zones is not free

function zone(d) {
  const part = zoneFormat.formatToParts(d).find((p) => p.type === "timeZoneName");
  return part ? part.value : "";
}

function stamp(d) {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${zone(d)}`;
}

// A length of time, to the second: 42 s, 3 min 12 s, 2 h 05 min, 3 d 4 h (as humane.span).
export function span(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${pad(Math.floor(s / 60) % 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor(s / 3600) % 24} h`;
}

// Bytes in decimal units: 512 B, 5.1 kB, 5.1 MB (as humane.size).
export function size(n) {
  if (n < 1000) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = n, i = -1;
  do { v /= 1000; i += 1; } while (v >= 999.95 && i < units.length - 1);
  return `${v.toFixed(1)} ${units[i]}`;
}

// An age, roughly: 42 s, 3 min, 2 h 5 min, 3 days.
function rough(seconds) {
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) {
    const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
    return m ? `${h} h ${m} min` : `${h} h`;
  }
  const d = Math.floor(s / 86400);
  return d === 1 ? "1 day" : `${d} days`;
}

export function age(ms) {
  const s = (now() - ms) / 1000;
  if (Math.abs(s) < 1) return "just now";
  return s > 0 ? `${rough(s)} ago` : `in ${rough(-s)}`;
}

function stampOf(el, ms) {
  const cached = stamps.get(el);
  if (cached && cached[0] === ms) return cached[1];
  const text = stamp(new Date(ms));
  stamps.set(el, [ms, text]);
  el.title = `${text} (${el.getAttribute("datetime")})`;
  return text;
}

function render(el) {
  const ms = Date.parse(el.getAttribute("datetime"));
  if (Number.isNaN(ms)) return;
  const full = stampOf(el, ms);
  const show = el.dataset.show;
  if (show === "ago") {
    const abs = el.querySelector(".abs") || Object.assign(document.createElement("span"), { className: "abs" });
    abs.textContent = full;
    el.replaceChildren(age(ms), abs);
  } else if (show === "until") {
    el.textContent = ms > now() ? `in ${span((ms - now()) / 1000)}` : "now";
  } else if (show === "elapsed") {
    el.textContent = span((now() - ms) / 1000);
  } else {
    el.textContent = `${full} · ${age(ms)}`;
  }
}

function renderAll(root) {
  if (root.matches && root.matches("time[datetime]")) render(root);
  if (root.querySelectorAll) for (const el of root.querySelectorAll("time[datetime]")) render(el);
}

// Regions re-rendered by the server come in as new nodes: show their times at once.
new MutationObserver((records) => {
  for (const r of records) for (const node of r.addedNodes) if (node.nodeType === 1) renderAll(node);
}).observe(document.body, { childList: true, subtree: true });
renderAll(document.body);
setInterval(() => renderAll(document.body), 1000);
