"""A daemon's name: recorded on each attempt it runs and shown by `show`, `status` and the
dashboard, so that daemons sharing a database (docs/postgres.md) tell their work apart.
Default: the host's name."""

from __future__ import annotations

import re
from typing import Any

from queuectl.validation import ValidationError

MAX_NAME = 64
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_NOT_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def check_name(value: str) -> str:
    """A name given by the operator: letters, digits, '.', '_' and '-', at most 64."""
    if not 1 <= len(value) <= MAX_NAME or not _NAME.fullmatch(value):
        raise ValidationError(f"a daemon name is 1 to {MAX_NAME} letters, digits, '.', '_' or '-', "
                              "starting with a letter or digit", "name")  # fmt: skip
    return value


def validate_on(value: Any) -> str:
    """The daemon a job is pinned to (its `on`, `enqueue --on NAME`): a daemon's name."""
    if not isinstance(value, str):
        raise ValidationError("on must be a daemon's name (a string)", "on")
    try:
        return check_name(value)
    except ValidationError as exc:
        shown = value if len(value) <= MAX_NAME + 8 else value[:MAX_NAME] + "..."
        raise ValidationError(f"on {shown!r}: {exc}", "on") from None


def default_name() -> str:
    """The host's name, made into a valid one (a name the system allows but we do not, say
    with spaces, keeps its valid characters)."""
    import socket  # (only here: queuectl.jobs imports this module for validate_on)

    name = _NOT_NAME.sub("-", socket.gethostname()).strip("-._")[:MAX_NAME]
    return name or "localhost"
