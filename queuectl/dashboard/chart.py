"""The overview's throughput chart: attempts finished per minute, as SVG coordinates (pure code).

What it counts is what `daemon.stats` counts: attempts, not jobs. A job that
failed twice and then completed adds two failed attempts and one completed; an
attempt that used up the job's retries is counted apart (the job went dead).

The bars are drawn in a stretched SVG (preserveAspectRatio="none"); the axis labels
are HTML beside it, evenly spaced like the ticks (no inline styles: the CSP forbids
them), so they keep their size on a phone.
"""

from __future__ import annotations

from typing import Any

WIDTH, HEIGHT = 600, 160  # the SVG's own units; the bars stretch to the card's width
X_TICKS = (60, 45, 30, 15, 0)  # minutes ago


def nice_top(peak: int) -> int:
    """The chart's top: twice the smallest 1, 2 or 5 times a power of ten that is at least
    half the peak, so the middle tick is a round number too (2, 4, 10, 20, 40, 100, ...)."""
    half, step = max((peak + 1) // 2, 1), 1
    while True:
        for m in (1, 2, 5):
            if m * step >= half:
                return 2 * m * step
        step *= 10


def throughput_chart(per_minute: list[dict[str, Any]]) -> dict[str, Any]:
    n = max(len(per_minute), 1)
    peak = max((m["completed"] + m["failed"] + m["dead"] for m in per_minute), default=0)
    top = nice_top(peak)
    scale = HEIGHT / top
    slot = WIDTH / n
    bars = []
    for i, m in enumerate(per_minute):
        y = float(HEIGHT)
        parts = []
        for kind in ("completed", "failed", "dead"):
            h = m[kind] * scale
            y -= h
            parts.append({"kind": kind, "y": round(y, 2), "h": round(h, 2)})
        bars.append({"x": round(i * slot + slot * 0.1, 2), "w": round(slot * 0.8, 2),
                     "minute": m["minute"], "parts": parts, "completed": m["completed"],
                     "failed": m["failed"], "dead": m["dead"]})  # fmt: skip
    y_ticks = [{"value": v, "y": round(HEIGHT - v * scale, 2)} for v in (0, top // 2, top)]
    x_ticks = [{"label": "now" if ago == 0 else f"−{ago} min"} for ago in X_TICKS]  # evenly spaced
    return {"bars": bars, "peak": peak, "top": top, "width": WIDTH, "height": HEIGHT,
            "y_ticks": y_ticks, "x_ticks": x_ticks,
            "totals": {k: sum(m[k] for m in per_minute) for k in ("completed", "failed", "dead")}}  # fmt: skip
