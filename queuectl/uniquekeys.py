"""Idempotent enqueue: a job's unique key, and how long the job holds it.

While a job holds its key, enqueueing another job with the same key returns the job
that holds it (`"duplicate": true`) instead of making a second one, or with
on_duplicate "error" fails with duplicate_id. The store enforces it with a unique index
on the held key, which it clears when the hold ends (docs/rpc.md, job.enqueue).
"""

from __future__ import annotations

import re
from typing import Any

from queuectl.validation import SURROGATE, ValidationError

MAX_KEY_LENGTH = 200
# How long a job holds its key: until it first starts (pending), until it is final
# (active, the default), or for as long as it is stored (kept: until it is deleted).
HOLDS = ("pending", "active", "kept")
DEFAULT_HOLD = "active"
ON_DUPLICATE = ("return", "error")  # a second enqueue with a held key: the job that holds it, or an error
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1


def validate_unique(raw: dict[str, Any]) -> tuple[str | None, str]:
    """(unique_key, unique_while) of a job object; ValidationError for a bad one."""
    key, hold = raw.get("unique_key"), raw.get("unique_while")
    if hold is None:
        hold = DEFAULT_HOLD
    elif hold not in HOLDS:
        raise ValidationError(f"unique_while must be one of {', '.join(HOLDS)}", "unique_while")
    elif key is None:
        raise ValidationError("unique_while goes with unique_key", "unique_while")
    if key is None:
        return None, hold
    if not isinstance(key, str) or not key:
        raise ValidationError("unique_key must be a non-empty string", "unique_key")
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationError(f"unique_key is longer than {MAX_KEY_LENGTH} characters", "unique_key")
    if _CONTROL.search(key):
        raise ValidationError("unique_key must not contain control characters", "unique_key")
    if SURROGATE.search(key):
        raise ValidationError("unique_key must be valid unicode text", "unique_key")
    return key, hold


def key_conflicts(keys: list[str | None], holders: dict[str, str]) -> list[tuple[int, str, str | None, str]]:
    """(index, key, id of the job holding it or None, why) of every key in a batch that is
    held already (`holders`: key -> job id) or appears a second time, in batch order."""
    seen: set[str] = set()
    found: list[tuple[int, str, str | None, str]] = []
    for index, key in enumerate(keys):
        if key is None:
            continue
        if key in holders:
            found.append((index, key, holders[key], f"unique key {key!r} is held by job {holders[key]!r}"))
        elif key in seen:
            found.append((index, key, None, f"unique key {key!r} appears twice"))
        seen.add(key)
    return found
