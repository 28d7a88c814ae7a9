"""The error every validator of client input raises (jobs, queues, settings' callers)."""

from __future__ import annotations


class ValidationError(ValueError):
    """A job spec (or a parameter) that cannot be accepted; `field` names the culprit."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field
