"""The PostgreSQL store, shared by several daemons (docs/postgres.md).

`PgStore(url, name=...)` implements interface.SharedStorage on a PostgreSQL database. Importing this
package imports psycopg: queuectl.daemon.store.open_store imports it only for a
postgresql:// URL, so a SQLite daemon never loads psycopg.

Privileges the daemon's role needs:
  - CONNECT on the database;
  - on its first start (an empty database), CREATE on the schema its tables go to (the
    first schema of its search_path, `public` by default): it creates its tables there;
  - from then on, SELECT, INSERT, UPDATE and DELETE on those tables (jobs, attempts,
    config, meta, queues, job_deps, schedules, daemons, output, job_counts) and USAGE on that schema; nothing on a
    sequence (jobs.seq is an identity column). A migration (a newer queuectl's first
    start) needs the first start's privileges again, and to own the tables it alters.
    (tests/unit/test_pgstore.py checks that these are enough.)
Advisory locks need no privilege. The URL's password is never shown in a message.
"""

from queuectl.daemon.store.postgres.store import PgStore

__all__ = ["PgStore"]
