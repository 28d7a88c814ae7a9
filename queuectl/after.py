"""Dependencies between jobs (`after`): the conditions, their validation, and the cycle
check of a batch. Pure code: the daemon and the CLI both use it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from queuectl import jobs as J

SUCCESS, FAILURE, ALWAYS = "success", "failure", "always"
CONDITIONS = (SUCCESS, FAILURE, ALWAYS)
MAX_PARENTS = 10_000  # (a fan-in of a whole enqueue_many batch)


def validate_after(after: Any, condition: Any) -> tuple[list[str], str]:
    """`after` (a list of ids, or one string of ids separated by commas) and
    `after_condition` -> (parent ids, condition), or ValidationError naming the field."""
    if condition is None:
        condition = SUCCESS
    if condition not in CONDITIONS:
        raise J.ValidationError(f"after_condition must be one of {', '.join(CONDITIONS)}", "after_condition")
    if after is None:
        after = []
    if isinstance(after, str):
        after = [part.strip() for part in after.split(",") if part.strip()]
    if not isinstance(after, list) or not all(isinstance(a, str) for a in after):
        raise J.ValidationError("after must be an array of job ids (or one string, ids separated by commas)",
                                "after")  # fmt: skip
    if len(after) > MAX_PARENTS:
        raise J.ValidationError(f"after names more than {MAX_PARENTS} jobs", "after")
    for parent in after:
        try:
            J.validate_id(parent)
        except J.ValidationError as exc:
            raise J.ValidationError(f"after: {exc}", "after") from None
    return list(dict.fromkeys(after)), condition  # (each once, in order)


def holds(condition: str, parent_state: str) -> bool:
    """Whether a parent that ended in `parent_state` (final) lets its dependent run."""
    if condition == ALWAYS:
        return True
    if condition == FAILURE:
        return parent_state == J.DEAD
    return parent_state == J.COMPLETED


def why_not(condition: str, parent_id: str, parent_state: str) -> str:
    """last_error of a dependent cancelled because a parent ended the wrong way."""
    ended = {J.COMPLETED: "completed", J.DEAD: "is dead", J.CANCELLED: "was cancelled"}.get(
        parent_state, f"is {parent_state}"
    )
    return f"parent {parent_id} {ended} (after_condition {condition})"


def find_cycle(ids: Sequence[str | None], afters: Sequence[Sequence[str]]) -> list[str] | None:
    """Ids of a batch that depend on each other in a circle (None: no cycle). Only edges
    within the batch can close one: a job already stored never waits for a new one."""
    index = {job_id: i for i, job_id in enumerate(ids) if job_id is not None}
    edges: list[list[int]] = [[] for _ in ids]  # parent -> children, within the batch
    indegree = [0] * len(ids)
    for child, parents in enumerate(afters):
        for parent in parents:
            p = index.get(parent)
            if p is not None:
                edges[p].append(child)
                indegree[child] += 1
    ready = [i for i, n in enumerate(indegree) if n == 0]
    seen = 0
    while ready:
        node = ready.pop()
        seen += 1
        for child in edges[node]:
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    if seen == len(ids):
        return None
    return [str(ids[i]) for i, n in enumerate(indegree) if n > 0]
