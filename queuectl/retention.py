"""Retention: which finished jobs are pruned, and when (pure code; the daemon's
pruner.py does the I/O, store/prune.py the SQL).

Rules: a completed, dead or cancelled job is removed once it has been finished
longer than its state's retention (`retain_completed`, `retain_dead`,
`retain_cancelled`; 0: forever); then, if more finished jobs remain than
`retain_max_jobs` (0: no cap), the oldest finished of them go too. A job some
unfinished job depends on, a job that still holds its unique key
(`--unique-while kept`) and a job whose output a client read in the last
READ_GRACE seconds (`logs --follow`) are never chosen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from queuectl.jobs import ValidationError

FINAL = ("completed", "dead", "cancelled")
RETAIN_KEYS = {"completed": "retain_completed", "dead": "retain_dead", "cancelled": "retain_cancelled"}
BATCH = 250  # jobs one background step removes at most
CHUNK = 25  # deleted between two looks at the sockets (a request waiting stops the step)
FAST_REARM = 0.025  # seconds to the next step while there is more to prune (about 10,000 jobs/s)
SLOW_REARM = 60.0  # and when there was nothing (or half the shortest retention, if less;
# a setting change re-arms at once)
MAX_DEFER = 0.1  # a busy loop lets a due step wait this long at most, then runs it whole,
FORCED_BATCHES = 4  # and that many batches: a daemon that is never idle still prunes faster than it runs jobs
READ_GRACE = 60.0  # a job whose output was read this recently is kept
MAX_AGE = 100 * 365 * 86400.0
SEGMENT_AGE_MAX = 3600.0  # a written segment is closed after this long, or ...
SEGMENT_AGE_MIN = 1.0
SEGMENT_AGE_SHARE = 10  # ... after a tenth of the shortest retention, if that is shorter


@dataclass(frozen=True, slots=True)
class Rules:
    """What one pruning pass removes: finished jobs of each state in `keep` older than its
    seconds, then (cap) the oldest finished past `max_jobs`."""

    keep: Mapping[str, float]  # state -> seconds finished; a state not here is kept
    max_jobs: int = 0  # 0: no cap
    queue: str | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    seq: int
    state: str
    finished_at: float


def from_config(config: Mapping[str, Any]) -> Rules:
    """The background pruner's rules: the settings."""
    keep = {s: float(config[k]) for s, k in RETAIN_KEYS.items() if config[k] > 0}
    return Rules(keep, int(config["retain_max_jobs"]))


def manual(config: Mapping[str, Any], older_than: float | None, states: Iterable[str] | None,
           queue: str | None) -> Rules:  # fmt: skip
    """`prune`'s rules. Without older_than: the settings' retention (of `states`; the cap
    only when nothing narrows the pass); with it: finished longer than that, any state."""
    chosen = list(states) if states else list(FINAL)
    for state in chosen:
        if state not in FINAL:
            raise ValidationError(f"state {state!r} cannot be pruned: only finished jobs are "
                                  f"({', '.join(FINAL)})", "state")  # fmt: skip
    if older_than is not None:
        if older_than != older_than or not 0 <= older_than <= MAX_AGE:
            raise ValidationError("older_than must be from 0 seconds to 100 years", "older_than")
        return Rules(dict.fromkeys(chosen, older_than), 0, queue)
    base = from_config(config)
    narrowed = bool(states) or queue is not None
    return Rules({s: t for s, t in base.keep.items() if s in chosen}, 0 if narrowed else base.max_jobs, queue)


def cutoffs(rules: Rules, now: float) -> dict[str, float]:
    """state -> jobs finished before this time are due."""
    return {state: now - seconds for state, seconds in rules.keep.items()}


def over_cap(rules: Rules, finished: int) -> int:
    """How many finished jobs the cap would remove (before the age rule)."""
    return max(0, finished - rules.max_jobs) if rules.max_jobs > 0 else 0


def choose(oldest: Mapping[str, list[Candidate]], cut: Mapping[str, float], excess: int, limit: int,
           protected: set[int]) -> tuple[list[Candidate], bool]:  # fmt: skip
    """One step's jobs to remove, and whether more may be due.

    `oldest`: each final state's oldest finished jobs (by finished_at, at most `limit`
    each, the ones the store never lets go already left out); `cut`: cutoffs();
    `excess`: over_cap() now. The age rule first; the cap takes the oldest of the rest
    only once every job the age rule wants fits in this step."""
    due: list[Candidate] = []
    rest: list[Candidate] = []
    for state, rows in oldest.items():
        for c in rows:
            if c.seq in protected:
                continue
            (due if state in cut and c.finished_at < cut[state] else rest).append(c)
    due.sort(key=lambda c: (c.finished_at, c.seq))
    if len(due) >= limit:
        return due[:limit], True
    extra = min(max(0, excess - len(due)), limit - len(due))
    if extra:
        rest.sort(key=lambda c: (c.finished_at, c.seq))
        due += rest[:extra]
    return due, len(due) >= limit


def dry_run(due: Mapping[str, int], finished: int, rules: Rules) -> tuple[dict[str, int], int]:
    """What a pass would remove: per state by the age rule, and how many more the cap."""
    aged = {state: due.get(state, 0) for state in FINAL}
    return aged, max(0, over_cap(rules, finished) - sum(aged.values()))


def idle_rearm(rules: Rules) -> float:
    """Seconds to the next look when nothing was due: a job finishing now is due after its
    retention, and is then removed within half of it (at most SLOW_REARM later)."""
    return max(SEGMENT_AGE_MIN, min([SLOW_REARM, *(t / 2 for t in rules.keep.values())]))


def segment_age(config: Mapping[str, Any]) -> float:
    """How long a child may write into one log segment: short enough that a segment's jobs
    are pruned together soon after the shortest retention, so whole-segment deletion
    frees their space (see docs/operations.md, "Retention")."""
    keep = [float(config[k]) for k in RETAIN_KEYS.values() if config[k] > 0]
    if not keep:
        return SEGMENT_AGE_MAX
    return max(SEGMENT_AGE_MIN, min(SEGMENT_AGE_MAX, min(keep) / SEGMENT_AGE_SHARE))
