"""Tables for people that fit the terminal: columns at their natural width, the
shrinkable ones (a command, an error, an id) cut with an ellipsis until the row fits,
states in colour. See queuectl.client.term for the width and colour rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from queuectl.client import term

GAP = "  "


class Col:
    """One column: the row's `key`, its title, how a value reads (`fmt`), and how far it
    may shrink: `shrink` orders the columns (0: never). They are cut to `soft` columns
    first, lowest `shrink` first; then, highest first, down to `min_width`.
    `colour`: the value names a state to colour."""

    def __init__(self, key: str, title: str, fmt: Callable[[Any], str] | None = None, *,
                 shrink: int = 0, min_width: int = 8, soft: int = 0, colour: bool = False):  # fmt: skip
        self.key = key
        self.title = title
        self.fmt = fmt
        self.shrink = shrink
        self.min_width = min_width
        self.soft = max(soft, min_width)
        self.colour = colour

    def text(self, row: dict[str, Any]) -> str:
        value = row.get(self.key)
        if self.fmt is not None:
            return term.one_line(self.fmt(value))
        return term.one_line("-" if value is None else str(value))


def _widths(cols: list[Col], cells: list[list[str]], limit: int | None) -> list[int]:
    widths = [max([term.cell_width(c.title)] + [term.cell_width(r[i]) for r in cells])
              for i, c in enumerate(cols)]  # fmt: skip
    if limit is None:
        return widths
    excess = sum(widths) + len(GAP) * (len(cols) - 1) - limit
    order = sorted((i for i, c in enumerate(cols) if c.shrink), key=lambda i: -cols[i].shrink)
    # To the soft widths the least precious first (an id before the command), then further
    # down the most precious first (the command takes what is left).
    for soft, seq in ((True, order[::-1]), (False, order)):
        for i in seq:
            if excess <= 0:
                return widths
            least = cols[i].soft if soft else cols[i].min_width
            floor = min(widths[i], max(least, term.cell_width(cols[i].title)))
            cut = max(0, min(excess, widths[i] - floor))
            widths[i] -= cut
            excess -= cut
    return widths


def render(rows: list[dict[str, Any]], cols: list[Col], limit: int | None = None,
           colour: bool = False) -> list[str]:  # fmt: skip
    """The table's lines (title first); none wider than `limit` columns. When even the
    shrunk columns do not fit, the rightmost ones are left out."""
    cells = [[c.text(row) for c in cols] for row in rows]
    widths = _widths(cols, cells, limit)
    while limit is not None and len(cols) > 1 and sum(widths) + len(GAP) * (len(cols) - 1) > limit:
        cols, cells = cols[:-1], [r[:-1] for r in cells]
        widths = _widths(cols, cells, limit)
    lines = [_line([c.title for c in cols], cols, widths, limit, False)]
    lines += [_line(r, cols, widths, limit, colour) for r in cells]
    return lines


def _line(texts: list[str], cols: list[Col], widths: list[int], limit: int | None, colour: bool) -> str:
    parts = []
    last = len(cols) - 1
    for i, (text, col, w) in enumerate(zip(texts, cols, widths, strict=True)):
        cut = term.clip(text, w)
        shown = term.paint(cut, text, colour and col.colour)
        parts.append(shown if i == last else shown + " " * (w - term.cell_width(cut)))
    line = GAP.join(parts).rstrip()
    if limit is not None and term.visible_width(line) > limit:  # one column wider than the terminal
        line = term.clip(term.clip(GAP.join(texts), limit), limit)
    return line
