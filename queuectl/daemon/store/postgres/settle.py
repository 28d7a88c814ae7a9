"""The PostgreSQL store's writes after a job ran or was acted on: an attempt's end, the
jobs a crash interrupted, a clock step, retry, cancel, delete."""

from __future__ import annotations

from queuectl import jobs as J
from queuectl import protocol as P
from queuectl.daemon.store.keys import RELEASED_AT_START, RELEASED_WHEN_FINAL
from queuectl.daemon.store.postgres.base import PgBase

_FINISH_ATTEMPT = (
    "UPDATE attempts SET finished_at = %s, exit_code = %s, signal = %s, timed_out = %s, "
    "charged = %s, error = %s, out_len = %s, err_len = %s, dropped = %s, "
    "started_at = coalesce(%s, started_at), pid = coalesce(%s, pid), "
    "out_off = coalesce(%s, out_off), err_off = coalesce(%s, err_off), "
    "segment = CASE WHEN %s::bigint = 0 AND %s::bigint = 0 THEN NULL ELSE coalesce(%s, segment) END "
    "WHERE job_seq = %s AND n = %s"
)
_FINISH_JOB = (
    "UPDATE jobs SET state = %s, run_at = %s, run_at_relative = 1, exit_code = %s, last_error = %s, "
    "charged = charged + %s, started_at = coalesce(%s, started_at), "
    f"unique_hold = CASE WHEN %s THEN {RELEASED_WHEN_FINAL} "
    f"WHEN %s::double precision IS NOT NULL THEN {RELEASED_AT_START} ELSE unique_hold END, "
    "finished_at = CASE WHEN %s THEN %s ELSE finished_at END, updated_at = %s "
    "WHERE seq = %s AND attempts = %s AND state IN ('assigned', 'processing')"
)


class PgSettle(PgBase):
    def finish_attempt(
        self,
        seq: int,
        attempt: int,
        now: float,
        *,
        exit_code: int | None,
        signal: int | None,
        timed_out: bool,
        error: str | None,
        out_len: int | None,
        err_len: int | None,
        charged: bool,
        new_state: str,
        run_at: float | None,
        last_error: str | None,
        started: bool = True,
        queue: str = "default",
        dropped: int = 0,
    ) -> bool:
        """Close an attempt and move its job to `new_state`; `started`: it ran (processing),
        or never confirmed its start (assigned). A start held from this turn is written here.

        False, and nothing written, if the attempt is not the job's open one any more: this
        daemon's lease lapsed and another daemon rescued the job (its attempt was closed as
        interrupted then, and the job may be running elsewhere now)."""
        start = self._starts.pop(seq, None)
        if start is not None and start[-1] != attempt:
            self._starts[seq] = start  # (another attempt's: cannot be, but never lose it)
            start = None
        started_at, pid, segment, out_off, err_off = start[:5] if start else (None,) * 5
        final = new_state in J.FINAL_STATES or new_state == J.FAILED
        cur = self.db.execute(_FINISH_JOB, (
            new_state, run_at, exit_code, last_error, int(charged), started_at,
            new_state in J.FINAL_STATES, started_at, final, now, now, seq, attempt))  # fmt: skip
        if not cur.rowcount:
            return False
        # An attempt that wrote nothing points into no segment: it must not keep one alive.
        self.db.execute(_FINISH_ATTEMPT, (
            now, exit_code, signal, int(timed_out), int(charged), error, out_len, err_len, dropped,
            started_at, pid, out_off, err_off, out_len, err_len, segment, seq, attempt))  # fmt: skip
        self._move(J.PROCESSING if started else J.ASSIGNED, new_state, queue)
        self.copy_output(seq, attempt, (segment, out_off, err_off) if start else None, out_len, err_len)
        return True

    def shift_relative_waits(self, step: float) -> int:
        """The wall clock stepped by `step` seconds: waits given as durations move with it."""
        cur = self.db.execute("UPDATE jobs SET run_at = run_at + %s "
                              "WHERE state IN ('scheduled', 'failed') AND run_at_relative = 1", (step,))  # fmt: skip
        return cur.rowcount

    def retry(self, seq: int, state: str, now: float, queue: str = "default") -> None:
        """failed/dead -> pending now, with a fresh set of retries."""
        cur = self.db.execute("UPDATE jobs SET state = 'pending', run_at = NULL, charged = 0, updated_at = %s "
                              "WHERE seq = %s AND state = %s", (now, seq, state))  # fmt: skip
        _changed_unless(cur.rowcount, state)
        self._move(state, J.PENDING, queue)

    def cancel(self, seq: int, state: str, now: float, queue: str = "default") -> None:
        cur = self.db.execute(
            "UPDATE jobs SET state = 'cancelled', run_at = NULL, last_error = 'cancelled', "
            f"unique_hold = {RELEASED_WHEN_FINAL}, finished_at = %s, updated_at = %s WHERE seq = %s AND state = %s",
            (now, now, seq, state),
        )
        _changed_unless(cur.rowcount, state)
        self._move(state, J.CANCELLED, queue)

    def delete(self, seq: int, state: str, queue: str = "default") -> set[str]:
        """Remove a job and its attempts; returns the log segments they pointed into."""
        segments = {r[0] for r in self.db.execute(
            "SELECT DISTINCT segment FROM attempts WHERE job_seq = %s AND segment IS NOT NULL", (seq,))}  # fmt: skip
        cur = self.db.execute("DELETE FROM jobs WHERE seq = %s AND state = %s", (seq, state))
        _changed_unless(cur.rowcount, state)
        self.db.execute("DELETE FROM attempts WHERE job_seq = %s", (seq,))
        self.db.execute("UPDATE jobs SET hook_of = NULL WHERE hook_of = %s", (seq,))  # (its hooks stay)
        self.counts[state] -= 1
        self._queue_counts(queue)[state] -= 1
        return segments


def _changed_unless(rowcount: int, state: str) -> None:
    """A request acted on a job it read as `state`, and the row is not in it any more:
    another daemon sharing the database moved it meanwhile. The request is undone (its
    savepoint) and answered; trying again reads the job afresh."""
    if not rowcount:
        raise P.RpcError(P.INVALID_STATE, f"the job changed on another daemon meanwhile (it is no longer "
                         f"{state}); try again", {"state": None})  # fmt: skip
