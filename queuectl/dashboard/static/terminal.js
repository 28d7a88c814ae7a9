// A job's output as a terminal shows it: colours and styles from ANSI SGR sequences,
// carriage returns and backspaces that go back over the line, erase-in-line and cursor
// moves along it. Every other escape sequence and control character is dropped.
//
// Safety: output is only ever added as text nodes (nothing is parsed as HTML), classes
// come from fixed names, and colours from numbers, so no output can inject markup.
// Output arrives in chunks: an escape sequence cut at a chunk's end waits for the next.
// The element keeps at most maxChars characters, dropping whole lines from the top, and
// tells onTrim how much it dropped.

// CSI, OSC (ended by BEL or ST), other two-byte escapes, a lone ESC, control characters
// but tab. A CSI's final byte may be cut off by the chunk's end: see write().
const TOKEN = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|\x1b|[\x00-\x08\x0a-\x1f\x7f]/g;
const COMPLETE = /^(?:\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_])/;
const MAX_PENDING = 4096; // an "escape sequence" longer than this is not one
const PLAIN = Object.freeze({});

function sgr(style, params) {
  const p = params.split(/[;:]/).map((v) => (v === "" ? 0 : Number(v)));
  let s = { ...style };
  for (let i = 0; i < p.length; i++) {
    const n = p[i];
    if (n === 0) s = {};
    else if (n === 1) s.bold = true;
    else if (n === 2) s.dim = true;
    else if (n === 3) s.italic = true;
    else if (n === 4) s.underline = true;
    else if (n === 7) s.inverse = true;
    else if (n === 9) s.strike = true;
    else if (n === 21 || n === 22) { s.bold = false; s.dim = false; }
    else if (n === 23) s.italic = false;
    else if (n === 24) s.underline = false;
    else if (n === 27) s.inverse = false;
    else if (n === 29) s.strike = false;
    else if (n >= 30 && n <= 37) s.fg = n - 30;
    else if (n >= 90 && n <= 97) s.fg = n - 90 + 8;
    else if (n >= 40 && n <= 47) s.bg = n - 40;
    else if (n >= 100 && n <= 107) s.bg = n - 100 + 8;
    else if (n === 39) s.fg = null;
    else if (n === 49) s.bg = null;
    else if (n === 38 || n === 48) {
      let color = null;
      if (p[i + 1] === 5) { color = p[i + 2] & 255; i += 2; }
      else if (p[i + 1] === 2) { color = [p[i + 2] & 255, p[i + 3] & 255, p[i + 4] & 255]; i += 4; }
      if (n === 38) s.fg = color; else s.bg = color;
    }
  }
  return Object.keys(s).some((k) => s[k] !== null && s[k] !== false) ? Object.freeze(s) : PLAIN;
}

// xterm's 256 colours beyond the first 16 (those follow the theme: CSS classes).
function rgb(color) {
  if (Array.isArray(color)) return `rgb(${color[0]}, ${color[1]}, ${color[2]})`;
  if (color >= 232) { const v = 8 + (color - 232) * 10; return `rgb(${v}, ${v}, ${v})`; }
  const i = color - 16;
  const level = (v) => (v ? v * 40 + 55 : 0);
  return `rgb(${level(Math.floor(i / 36))}, ${level(Math.floor(i / 6) % 6)}, ${level(i % 6)})`;
}

function paint(el, color, which) {
  if (color === null || color === undefined) return;
  if (typeof color === "number" && color < 16) el.classList.add(`a-${which}${color}`);
  else el.style[which === "f" ? "color" : "backgroundColor"] = rgb(color); // CSSOM: allowed by the CSP
}

function renderRun(run) {
  const s = run.s;
  if (s === PLAIN) return document.createTextNode(run.t);
  const el = document.createElement("span");
  el.textContent = run.t;
  let fg = s.fg, bg = s.bg;
  if (s.inverse) {
    [fg, bg] = [bg, fg];
    if (fg === null || fg === undefined) el.classList.add("a-inv-f");
    if (bg === null || bg === undefined) el.classList.add("a-inv-b");
  }
  paint(el, fg, "f");
  paint(el, bg, "b");
  for (const [key, cls] of [["bold", "a-bold"], ["dim", "a-dim"], ["italic", "a-it"], ["underline", "a-ul"], ["strike", "a-st"]]) {
    if (s[key]) el.classList.add(cls);
  }
  return el;
}

// The runs of [from, to) of a line.
function slice(runs, from, to) {
  const out = [];
  let pos = 0;
  for (const run of runs) {
    const end = pos + run.t.length;
    if (end > from && pos < to) out.push({ t: run.t.slice(Math.max(from - pos, 0), Math.min(to, end) - pos), s: run.s });
    pos = end;
    if (pos >= to) break;
  }
  return out;
}

export class Terminal {
  constructor(pre, { maxChars = 256 * 1024, onTrim = () => {} } = {}) {
    this.pre = pre;
    this.maxChars = maxChars;
    this.onTrim = onTrim;
    this.reset();
  }

  reset() {
    this.pre.replaceChildren();
    this.lines = []; // finished lines: { el, len }
    this.chars = 0; // in finished lines
    this.runs = []; // the line the cursor is on: [{ t, s }]
    this.len = 0;
    this.col = 0;
    this.style = PLAIN;
    this.pending = "";
    this.trimmed = { lines: 0, chars: 0 };
    this.current = document.createElement("span");
    this.pre.append(this.current);
  }

  write(text) {
    text = this.pending + text;
    this.pending = "";
    const esc = text.lastIndexOf("\x1b");
    if (esc >= 0 && text.length - esc < MAX_PENDING && !COMPLETE.test(text.slice(esc))) {
      this.pending = text.slice(esc); // its end is in the next chunk
      text = text.slice(0, esc);
    }
    let at = 0;
    TOKEN.lastIndex = 0;
    for (let m; (m = TOKEN.exec(text)); at = TOKEN.lastIndex) {
      if (m.index > at) this.put(text.slice(at, m.index));
      this.control(m[0]);
    }
    if (at < text.length) this.put(text.slice(at));
    this.current.replaceChildren(...this.runs.map(renderRun));
    this.trim();
  }

  // The stream ended: what is left of a cut escape sequence is not going to be completed.
  end() { this.pending = ""; }

  text() { return this.pre.textContent; }

  put(text) {
    if (this.col > this.len) this.runs.push({ t: " ".repeat(this.col - this.len), s: PLAIN });
    const end = this.col + text.length;
    const last = this.runs[this.runs.length - 1];
    if (this.col >= this.len && last && last.s === this.style) last.t += text;
    else if (this.col >= this.len) this.runs.push({ t: text, s: this.style });
    else this.runs = [...slice(this.runs, 0, this.col), { t: text, s: this.style }, ...slice(this.runs, end, this.len)];
    this.len = Math.max(this.len, end);
    this.col = end;
  }

  control(tok) {
    if (tok === "\n") this.newline();
    else if (tok === "\r") this.col = 0;
    else if (tok === "\b") this.col = Math.max(this.col - 1, 0);
    else if (tok.startsWith("\x1b[")) this.csi(tok.slice(2, -1), tok[tok.length - 1]);
  }

  csi(params, final) {
    const n = Number(params) || 0;
    if (final === "m") this.style = sgr(this.style, params);
    else if (final === "K") this.erase(n);
    else if (final === "G") this.col = Math.max(n - 1, 0);
    else if (final === "C") this.col += Math.max(n, 1);
    else if (final === "D") this.col = Math.max(this.col - Math.max(n, 1), 0);
  }

  erase(mode) {
    if (mode === 0) this.runs = slice(this.runs, 0, this.col);
    else if (mode === 1) { // from the start to the cursor, both included
      const to = Math.min(this.col + 1, this.len);
      this.runs = [{ t: " ".repeat(to), s: PLAIN }, ...slice(this.runs, to, this.len)];
    }
    else if (mode === 2) this.runs = [];
    this.len = this.runs.reduce((a, r) => a + r.t.length, 0);
  }

  newline() {
    const el = document.createElement("span");
    el.append(...this.runs.map(renderRun), "\n");
    this.current.before(el);
    this.lines.push({ el, len: this.len + 1 });
    this.chars += this.len + 1;
    this.runs = [];
    this.len = 0;
    this.col = 0;
  }

  trim() {
    if (this.chars + this.len <= this.maxChars) return;
    const goal = this.maxChars * 0.9; // some room, so it does not trim on every chunk
    let drop = 0;
    while (drop < this.lines.length && this.chars + this.len > goal) {
      const line = this.lines[drop++];
      line.el.remove();
      this.chars -= line.len;
      this.trimmed.lines += 1;
      this.trimmed.chars += line.len;
    }
    this.lines.splice(0, drop);
    if (this.len > this.maxChars) { // one line longer than the whole budget: keep its end
      const cut = this.len - this.maxChars;
      this.runs = slice(this.runs, cut, this.len);
      this.len -= cut;
      this.col = Math.max(this.col - cut, 0);
      this.trimmed.chars += cut;
      this.current.replaceChildren(...this.runs.map(renderRun));
    }
    this.onTrim(this.trimmed);
  }
}
