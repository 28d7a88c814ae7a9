"""A real PostgreSQL server for the tests, started in a temporary directory.

Nothing is assumed to be running: the server is made with Debian's `initdb` and run
with `pg_ctl` as the `postgres` user (PostgreSQL refuses to run as root), listening
on a Unix socket only, in a directory that only `postgres` may enter (root, which
runs the tests, passes). Each test gets a database of its own from `fresh_url()`.

Durability is switched off (fsync, synchronous_commit): a test server that loses its
data in a power cut loses nothing of value, and it starts and commits far faster.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

PG_USER = "postgres"


class PgUnavailable(RuntimeError):
    """PostgreSQL's server programs or the postgres user are missing."""


def bindir() -> Path:
    """The newest installed server's programs (Debian: /usr/lib/postgresql/N/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise PgUnavailable("PostgreSQL's initdb was not found (apt-get install postgresql)")


class PgServer:
    def __init__(self) -> None:
        try:
            self.owner = pwd.getpwnam(PG_USER)
        except KeyError:
            raise PgUnavailable(f"there is no {PG_USER!r} user (apt-get install postgresql)") from None
        self.bin = bindir()
        self.root = Path(tempfile.mkdtemp(prefix="queuectl-pg-"))
        self.data = self.root / "data"
        self.sockdir = self.root / "sock"
        self.log = self.root / "server.log"
        self._n = 0

    def _as_postgres(self, *argv: str, timeout: float = 120) -> None:
        proc = subprocess.run(["runuser", "-u", PG_USER, "--", *argv], capture_output=True, text=True,
                              timeout=timeout, cwd=self.root)  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.strip() or proc.stdout.strip()}")

    def start(self) -> PgServer:
        os.chown(self.root, self.owner.pw_uid, self.owner.pw_gid)
        os.chmod(self.root, 0o700)
        self.sockdir.mkdir(mode=0o700)
        os.chown(self.sockdir, self.owner.pw_uid, self.owner.pw_gid)
        self._as_postgres(str(self.bin / "initdb"), "-D", str(self.data), "-U", PG_USER, "-A", "trust",
                          "-E", "UTF8", "--no-sync", "--no-instructions")  # fmt: skip
        return self.start_again()

    def start_again(self) -> PgServer:
        """Start the server made by start() (again, after a `pg_ctl stop`)."""
        self.pg_ctl("start", "-w", "-t", "60", "-l", str(self.log), "-o",
                    f"-c listen_addresses='' -c unix_socket_directories={self.sockdir} -c fsync=off "
                    "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")  # fmt: skip
        return self

    def pg_ctl(self, *args: str) -> None:
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), *args)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{PG_USER}@/{dbname}?host={self.sockdir}"

    def fresh_url(self, prefix: str = "t") -> str:
        """A new, empty database on this server."""
        import psycopg

        self._n += 1
        name = f"{prefix}_{os.getpid()}_{self._n}_{int(time.time() * 1000) % 100000}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.pg_ctl("stop", "-m", "immediate", "-w", "-t", "30")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
