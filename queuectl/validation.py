"""The error every validator of client input raises (jobs, queues, settings' callers)."""

from __future__ import annotations

import re

# A lone surrogate: text that cannot be encoded (checked with a pattern: a loop over the
# characters in Python costs a microsecond per ten of them).
SURROGATE = re.compile("[\ud800-\udfff]")


class ValidationError(ValueError):
    """A job spec (or a parameter) that cannot be accepted; `field` names the culprit."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field
