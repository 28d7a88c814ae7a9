"""The terminal the CLI prints to: its width, whether to colour, and text cut to fit.

Light on imports (os and sys only; unicodedata when text is not ASCII): the fast path
prints `status` with it too.

Width: COLUMNS when it is set (as shutil.get_terminal_size reads it), else the
terminal's width when stdout is a terminal, else None: output that goes to a pipe or
a file is not cut (docs/cli.md, "Output for people").
Colour: only when stdout is a terminal, NO_COLOR is unset or empty
(https://no-color.org) and `--no-color` was not given.
"""

from __future__ import annotations

import os
import sys

ELLIPSIS = "…"

# SGR codes: one per job state, and the worker children's states.
COLOURS = {
    "scheduled": "36", "blocked": "90", "pending": "33", "assigned": "35", "processing": "1;34",
    "completed": "32", "failed": "91", "dead": "1;31", "cancelled": "2",
    "idle": "2", "busy": "1;34", "stopping": "33",
}  # fmt: skip


def width() -> int | None:
    """Columns to fit output into, or None for no limit (see the module's doc)."""
    env = os.environ.get("COLUMNS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        if sys.stdout is not None and sys.stdout.isatty():
            return os.get_terminal_size(sys.stdout.fileno()).columns or 80
    except (OSError, ValueError, AttributeError):
        pass
    return None


def use_colour(no_color: bool = False) -> bool:
    if no_color or os.environ.get("NO_COLOR"):
        return False
    try:
        return sys.stdout is not None and sys.stdout.isatty()
    except (ValueError, AttributeError):
        return False


def paint(text: str, key: str | None, colour: bool) -> str:
    """text in the colour of a state (as it is when colour is off or the state has none)."""
    code = COLOURS.get(key or "")
    if not colour or code is None or not text:
        return text
    return f"\x1b[{code}m{text}\x1b[0m"


def one_line(text: str) -> str:
    """A value as one line of printable text: a newline shows as ↵, a tab as a space,
    other control characters (an escape, say) as �, so no value moves the cursor."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        elif ch == "\n":
            out.append("↵")
        elif ch in "\t\r":
            out.append(" ")
        elif ch in ("\u200d", "\u200c"):  # zero-width joiners: harmless
            out.append(ch)
        else:
            out.append("�")
    return "".join(out)


def cell_width(text: str) -> int:
    """Columns `text` takes on a terminal: 2 for wide (East Asian) characters, 0 for
    combining ones."""
    if text.isascii():
        return len(text)
    import unicodedata

    n = 0
    for ch in text:
        if unicodedata.combining(ch) or ch in ("\u200d", "\u200c"):
            continue
        n += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return n


def clip(text: str, limit: int | None, front: bool = False) -> str:
    """text cut to `limit` columns with an ellipsis at the end (or the front, for paths)."""
    if limit is None or cell_width(text) <= limit:
        return text
    if limit <= 0:
        return ""
    chars = list(reversed(text)) if front else list(text)
    kept: list[str] = []
    used = 0
    for ch in chars:
        w = cell_width(ch)
        if used + w > limit - 1:
            break
        kept.append(ch)
        used += w
    body = "".join(reversed(kept)) if front else "".join(kept)
    return ELLIPSIS + body if front else body + ELLIPSIS


def pad(text: str, columns: int) -> str:
    return text + " " * max(0, columns - cell_width(text))


def wrap_words(words: list[str], first: str, indent: int, limit: int | None, sep: str = "  ") -> list[str]:
    """`first` then the words joined by sep, onto as many lines as `limit` needs (the
    others indented by `indent`); a word longer than a line is cut."""
    lines: list[str] = []
    line = first
    blank = True
    for word in words:
        joined = word if blank else line + sep + word
        if blank or limit is None or visible_width(joined) <= limit:
            line = line + word if blank else joined
        else:
            lines.append(line)
            line = " " * indent + word
        blank = False
    lines.append(line)
    return lines


def _plain(text: str) -> str:
    """text without SGR colour codes."""
    if "\x1b" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        if text.startswith("\x1b[", i):
            end = text.find("m", i)
            i = end + 1 if end >= 0 else len(text)
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def visible_width(text: str) -> int:
    """Columns of text that may hold colour codes."""
    return cell_width(_plain(text))
