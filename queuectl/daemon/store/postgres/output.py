"""Jobs' output in the database, so that `queuectl logs ID` works through any daemon
sharing it, whichever daemon ran the job (docs/postgres.md).

Why copies in PostgreSQL rather than daemons serving each other's files: daemons on
other hosts reach each other only through the database (their control sockets are Unix
sockets), and a daemon that is down or gone must not take its jobs' output with it.
The child still writes the daemon's local log segments, as with SQLite (a running job's
output is read there, live); when an attempt ends, its output (at most the job's
output cap, max_output) is copied into `output` in chunks of CHUNK bytes, in the same
transaction as the attempt's end. Rows go with their job (ON DELETE CASCADE: deleted
and pruned jobs take their output with them).
"""

from __future__ import annotations

from pathlib import Path

from queuectl.daemon.store.postgres.base import PgBase

CHUNK = 1 << 20
STREAMS = {"stdout": "out", "stderr": "err"}


class PgOutput(PgBase):
    logs_dir: Path | None  # the daemon's log segments (set by the daemon); None: nothing copied

    def copy_output(self, seq: int, attempt: int, start: tuple[str | None, int | None, int | None] | None,
                    out_len: int | None, err_len: int | None) -> None:  # fmt: skip
        """An attempt ended: copy what it wrote from the local segments into `output`.
        `start`: (segment, out_off, err_off) if known without a read."""
        if self.logs_dir is None or not (out_len or err_len):
            return
        if start is None or start[0] is None:
            row = self.db.execute("SELECT segment, out_off, err_off FROM attempts WHERE job_seq = %s AND n = %s",
                                  (seq, attempt)).fetchone()  # fmt: skip
            if row is None or row[0] is None:
                return
            start = (row[0], row[1], row[2])
        segment, out_off, err_off = start
        rows = []
        for ext, offset, length in (("out", out_off, out_len), ("err", err_off, err_len)):
            if not length or offset is None:
                continue
            try:
                with open(self.logs_dir / f"{segment}.{ext}", "rb") as f:
                    f.seek(offset)
                    data = f.read(length)
            except OSError:
                continue  # (pruned or lost: `logs` says there is nothing, as it would here)
            rows += [(seq, attempt, ext, i // CHUNK, data[i:i + CHUNK]) for i in range(0, len(data), CHUNK)]
        if rows:
            with self.db.cursor() as cur:
                cur.executemany("INSERT INTO output(job_seq, n, stream, part, data) VALUES (%s, %s, %s, %s, %s) "
                                "ON CONFLICT DO NOTHING", rows)  # fmt: skip

    def output_read(self, seq: int, attempt: int, stream: str, offset: int, limit: int) -> bytes | None:
        """Bytes [offset, offset + limit) of an attempt's stdout or stderr as copied here;
        None if nothing of that attempt was copied."""
        ext = STREAMS[stream]
        first, last = offset // CHUNK, (offset + limit - 1) // CHUNK
        parts = self.db.execute("SELECT part, data FROM output WHERE job_seq = %s AND n = %s AND stream = %s "
                                "AND part BETWEEN %s AND %s ORDER BY part", (seq, attempt, ext, first, last)).fetchall()  # fmt: skip
        if not parts:
            found = self.db.execute("SELECT 1 FROM output WHERE job_seq = %s AND n = %s LIMIT 1",
                                    (seq, attempt)).fetchone()  # fmt: skip
            return b"" if found else None
        data = b"".join(bytes(p[1]) for p in parts)
        skip = offset - parts[0][0] * CHUNK
        return data[skip:skip + limit]
