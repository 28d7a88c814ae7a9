"""A daemon's name: recorded on each attempt it runs and shown by `show`, `status` and the
dashboard, so that daemons sharing a database (docs/postgres.md) tell their work apart.
Default: the host's name."""

from __future__ import annotations

import re
import socket

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


def default_name() -> str:
    """The host's name, made into a valid one (a name the system allows but we do not, say
    with spaces, keeps its valid characters)."""
    name = _NOT_NAME.sub("-", socket.gethostname()).strip("-._")[:MAX_NAME]
    return name or "localhost"
