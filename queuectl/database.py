"""Which database the daemon uses: the embedded SQLite file (the default) or PostgreSQL.

Precedence, first that is set wins:
1. `queuectl daemon --database URL`
2. the environment variable QUEUECTL_DATABASE
3. `database = "URL"` in the state directory's `queuectl.toml`
4. SQLite, `queue.db` in the state directory

A value is a `postgresql://` (or `postgres://`) URL in libpq's syntax, or `sqlite` for
the embedded default. A password is best kept out of the URL (it would show in `ps`
for a flag): libpq reads ~/.pgpass and PGPASSWORD by itself. A config file whose URL
holds a password must be readable by its owner only.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from queuectl import fsguard
from queuectl.errors import QueuectlError

ENV_VAR = "QUEUECTL_DATABASE"
CONFIG_NAME = "queuectl.toml"
POSTGRES_SCHEMES = ("postgresql", "postgres")


class DatabaseChoiceError(QueuectlError):
    """A database setting that cannot be used (bad URL, unreadable or unsafe config file)."""


@dataclass(frozen=True, slots=True)
class DatabaseChoice:
    url: str | None  # a PostgreSQL URL; None: SQLite in the state directory
    source: str  # where it came from: "--database", ENV_VAR, the config file's path, "default"

    @property
    def kind(self) -> str:
        return "sqlite" if self.url is None else "postgresql"

    def describe(self) -> str:
        """For logs and status: never the password."""
        return "sqlite" if self.url is None else redact(self.url)


def choose(flag: str | None, environ: Mapping[str, str], state_dir: Path) -> DatabaseChoice:
    """The database to use, by the precedence above. Raises DatabaseChoiceError."""
    if flag is not None:
        return DatabaseChoice(parse(flag, "--database"), "--database")
    if environ.get(ENV_VAR):
        return DatabaseChoice(parse(environ[ENV_VAR], ENV_VAR), ENV_VAR)
    config = state_dir / CONFIG_NAME
    value = read_config(config).get("database")
    if value is not None:
        if not isinstance(value, str):
            raise DatabaseChoiceError(f"{config}: `database` must be a string (a postgresql:// URL or \"sqlite\")")
        return DatabaseChoice(parse(value, str(config)), str(config))
    return DatabaseChoice(None, "default")


def parse(value: str, source: str) -> str | None:
    """A setting's value: None for SQLite, else the PostgreSQL URL, checked for its shape."""
    text = value.strip()
    if text.lower() == "sqlite":
        return None
    try:
        scheme = urlsplit(text).scheme.lower()
    except ValueError:
        scheme = ""
    if scheme not in POSTGRES_SCHEMES:
        raise DatabaseChoiceError(
            f"{source}: unsupported database {redact(text)!r}: give a postgresql:// URL or \"sqlite\""
        )
    return text


def redact(url: str) -> str:
    """The URL with its password (if any) replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<an unparsable URL>"
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def has_password(url: str) -> bool:
    try:
        return urlsplit(url).password is not None
    except ValueError:
        return False


def read_config(path: Path) -> dict[str, object]:
    """The config file's table ({} when there is none). It must be a regular file of ours,
    writable by us only, and, when it holds a password, readable by us only."""
    try:
        fd = fsguard.open_nofollow(path, os.O_RDONLY)
    except fsguard.UnsafePath as exc:
        if not path.exists() and not path.is_symlink():
            return {}
        raise DatabaseChoiceError(str(exc)) from None
    with os.fdopen(fd, "rb") as fh:
        mode = os.fstat(fh.fileno()).st_mode
        if mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise DatabaseChoiceError(f"{path}: others may write it (chmod go-w {path})")
        try:
            table = tomllib.load(fh)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise DatabaseChoiceError(f"{path}: not valid TOML: {exc}") from None
    url = table.get("database")
    if isinstance(url, str) and has_password(url) and mode & (stat.S_IRGRP | stat.S_IROTH):
        raise DatabaseChoiceError(f"{path}: it holds a password and others may read it (chmod 600 {path})")
    return table
