"""Jobs moving through their states: enqueue, due, claimed, started, settled, given
back, cancelled, retried, deleted. The retry policy is applied here (the policy
itself is pure code in queuectl/jobs.py); the store records each change and the
windows follow it.

Every change happens inside the loop's transaction; what is said about it (log
lines, waiters' answers, throughput) is said after the commit, so nothing is
announced that was rolled back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from operator import attrgetter
from typing import Any

import structlog

from queuectl import hooks as H
from queuectl import jobs as J
from queuectl import queues as Q
from queuectl.daemon import wire
from queuectl.daemon.dependencies import Dependencies
from queuectl.daemon.events import Events
from queuectl.daemon.inflight import InFlight, InFlightTable
from queuectl.daemon.metrics import Metrics
from queuectl.daemon.output import TurnOutput
from queuectl.daemon.rates import RateLimits
from queuectl.daemon.store.interface import Runnable, Storage
from queuectl.daemon.throughput import Throughput
from queuectl.daemon.waits import Waits
from queuectl.daemon.windows import Runnables, TimerWindow
from queuectl.jobs import JobSpec
from queuectl.retention import segment_age

log = structlog.get_logger("queuectl")


class Lifecycle:
    def __init__(self, store: Storage, out: TurnOutput, events: Events, runnable: Runnables,
                 timers: TimerWindow, inflight: InFlightTable, waits: Waits,
                 config: Mapping[str, Any], throughput: Throughput, metrics: Metrics,
                 rates: RateLimits | None = None):  # fmt: skip
        self.store = store
        self.out = out
        self.events = events
        self.runnable = runnable
        self.timers = timers
        self.inflight = inflight
        self.waits = waits
        self.config = config
        self.throughput = throughput
        self.metrics = metrics
        self.deps = Dependencies(store, self)
        self.rates = rates

    def later_log(self, level: str, event: str, **fields: Any) -> None:
        self.out.log(lambda: getattr(log, level)(event, **fields))

    # --- in ---------------------------------------------------------------------------------

    def enqueue(self, specs: list[JobSpec], now: float) -> list[Runnable]:
        """Insert validated jobs (all or none; DuplicateIdError names the first taken id,
        ValidationError a parent in `after` that is not there, or a cycle)."""
        stored = self.deps.resolve(specs)
        self.default_hooks(specs)
        jobs = self.store.insert_jobs(specs, now, self.config["max_retries"],
                                      self.config["default_timeout"] or None)  # fmt: skip
        self._place_new(specs, jobs)
        self.deps.link(specs, jobs, stored, now)
        self.count_enqueued(jobs)
        if len(jobs) == 1:
            self.later_log("info", "job.enqueued", job_id=jobs[0].id,
                           state=J.BLOCKED if specs[0].after else jobs[0].state,
                           priority=jobs[0].priority)  # fmt: skip
        elif jobs:  # one line per batch: a 1,000-job batch is not worth 1,000 log lines
            self.later_log("info", "job.enqueued_many", count=len(jobs), first_id=jobs[0].id,
                           last_id=jobs[-1].id)  # fmt: skip
        return jobs

    def _place_new(self, specs: list[JobSpec], jobs: list[Runnable]) -> None:
        """Jobs just inserted join the runnable or the timer window (a blocked one waits for
        its parents: deps.link; one pinned to another daemon waits for that one, woken by the
        store); one job.enqueued event each, when anyone listens."""
        emit = self.events.emit if self.events.subscriptions else None
        name = self.store.daemon_name
        for job, spec in zip(jobs, specs, strict=True):
            state = job.state
            if spec.after:
                state = J.BLOCKED
            elif state == J.SCHEDULED:
                assert spec.run_at is not None
                self.timers.add(job.seq, spec.run_at)
            elif spec.on is None or spec.on == name:  # (else the daemon it is pinned to runs it)
                self.runnable.add(job)
            if emit is not None:
                emit("job.enqueued", job_id=job.id, state=state)

    def count_enqueued(self, jobs: list[Runnable]) -> None:
        """One callback per batch, whatever its size."""
        per_queue = Counter(map(attrgetter("queue"), jobs))

        def record() -> None:
            for queue, n in per_queue.items():
                self.metrics.count("enqueued", queue, n)

        self.out.later(record)

    def fire_timers(self, now: float) -> None:
        """Scheduled and backed-off jobs whose time has come become pending."""
        for seq in self.timers.pop_due(now):
            if self.store.make_runnable(seq, now):
                job = self.store.runnable(seq)
                if job is not None:
                    self.runnable.add(job)
                    self.events.emit("job.due", job_id=job.id)

    def claim(self, job: Runnable, child: int, now: float, queued: bool = False,
              slot: tuple[int, ...] = (0,), limits: Q.QueueConfig | None = None) -> InFlight:  # fmt: skip
        """pending -> assigned to `child` (the assignment is sent after commit); `queued`:
        behind the job it runs; `slot`: its slot indices within its queue."""
        slot_text = Q.format_slots(slot)
        limit = job.max_output if job.max_output is not None else self.config["max_output_bytes"]
        pool = self.rates.pool if self.rates is not None else None
        attempt = self.store.claim(job, child, now, slot_text, limit, limits, pool.rate if pool else None)
        flight = InFlight(job, attempt, child, queued=queued, slot=slot)
        self.inflight.add(flight)
        stdin = self.store.stdin_of(job.seq) if job.hook is not None else None
        self.out.send(child, wire.Run(job.seq, attempt, job.id, job.command, job.timeout, job.cwd,
                                      job.env, self.config["kill_grace"], job.queue, slot_text,
                                      stdin, job.hook, limit, segment_age(self.config)))  # fmt: skip
        self.events.emit("job.assigned", job_id=job.id, attempt=attempt, child=child)
        return flight

    def revoke(self, flight: InFlight) -> None:
        """Ask a job waiting behind a running one back (it comes back as Returned, unless
        its child started it meanwhile)."""
        self.inflight.set_revoking(flight)
        self.out.send(flight.child, wire.Revoke(flight.job.seq))

    # --- what children report -------------------------------------------------------------

    def started(self, msg: wire.Started) -> bool:
        """The child runs it; False if the report is stale (not the attempt we hold)."""
        flight = self.inflight.get(msg.seq)
        if flight is None or flight.attempt != msg.attempt:
            return False
        self.inflight.mark_started(flight, msg.at, msg.pid or None)
        if self.rates is not None and flight.job.hook is None:
            self.rates.started(flight.job.queue, msg.at)
        queue, pickup = flight.job.queue, msg.at - flight.job.ready_at
        self.out.later(lambda: self.metrics.started(queue, pickup))
        self.store.mark_started(msg.seq, msg.attempt, msg.at, msg.pid, msg.segment, msg.out_off,
                                msg.err_off, queue=flight.job.queue)  # fmt: skip
        self.later_log("info", "job.started", job_id=flight.job.id, attempt=msg.attempt,
                       child=msg.child, pid=msg.pid)  # fmt: skip
        self.events.emit("job.started", job_id=flight.job.id, attempt=msg.attempt, child=msg.child)
        return True

    def finished(self, msg: wire.Finished, now: float) -> None:
        flight = self.inflight.get(msg.seq)
        if flight is None or flight.attempt != msg.attempt:
            return
        self.inflight.remove(msg.seq)
        self.settle(flight, msg, now)

    def returned(self, msg: wire.Returned, now: float) -> None:
        flight = self.inflight.get(msg.seq)
        if flight is None or flight.attempt != msg.attempt:
            return
        self.inflight.remove(msg.seq)
        self.give_back(flight, now)

    def lost(self, flight: InFlight, now: float, ran: bool, shutting_down: bool) -> None:
        """The child holding this job is gone, and whatever its job left running has
        been killed, so a retry never overlaps it. `ran`: something of the job was
        found running (it had started, even if the start was never reported)."""
        self.inflight.remove(flight.job.seq)
        if not flight.started and not ran:
            self.give_back(flight, now, maybe_ran=True)
            return
        # Its output sizes are unknown: the range stays open (`job.logs` reads to the
        # end of the segment, which no child writes any more).
        fin = wire.Finished(flight.child, flight.job.seq, flight.attempt, now, None, None, False,
                            "shutdown" if shutting_down else None, None, None,
                            J.WORKER_LOST)  # fmt: skip
        self.settle(flight, fin, now)

    # --- settling ------------------------------------------------------------------------

    def settle(self, flight: InFlight, fin: wire.Finished, now: float) -> None:
        """Apply the outcome of an attempt: the retry policy lives here. The attempt ends
        when its child says it ended (the child's clock, as its start), so the attempts of
        one child never seem to overlap."""
        job, seq = flight.job, flight.job.seq
        duration_ms = round((fin.ended_at - flight.started_at) * 1000, 3) if flight.started_at else None
        common: dict[str, Any] = dict(exit_code=fin.exit_code, signal=fin.signal, timed_out=fin.timed_out,
                                      out_len=fin.out_len, err_len=fin.err_len, dropped=fin.dropped)  # fmt: skip
        common["queue"] = job.queue
        ident = dict(job_id=job.id, attempt=flight.attempt, child=flight.child)
        if flight.abort == "cancel" or fin.aborted == "cancel":
            if not self.store.finish_attempt(seq, flight.attempt, min(fin.ended_at, now), **common,
                                             error="cancelled", charged=False, new_state=J.CANCELLED,
                                             run_at=None, last_error="cancelled", started=flight.started):  # fmt: skip
                return self.taken_over(flight)
            self.later_log("info", "job.cancelled", **ident)
            self.count("cancelled", now, job.queue, self.ran_for(flight, fin))
            self.settled(seq, job.id, J.CANCELLED, now)
            return
        if fin.aborted in ("shutdown", "pause", wire.FENCED) or flight.abort == wire.FENCED:
            # Not the job's fault: back to pending, the attempt not counted. (A fenced job
            # may have been killed by the watchdog before its child heard of the fence.)
            why = Q.PAUSED_KILL if fin.aborted == "pause" else J.INTERRUPTED
            if not self.store.finish_attempt(seq, flight.attempt, min(fin.ended_at, now), **common, error=why,
                                             charged=False, new_state=J.PENDING, run_at=None,
                                             last_error=why, started=flight.started):  # fmt: skip
                return self.taken_over(flight)
            job_now = self.store.runnable(seq)
            if job_now is not None:
                self.runnable.add(job_now)
            self.later_log("info", "job.interrupted", **ident)
            self.events.emit("job.interrupted", job_id=job.id, attempt=flight.attempt)
            return
        if fin.error is None and fin.exit_code == 0 and not fin.timed_out:
            if not self.store.finish_attempt(seq, flight.attempt, min(fin.ended_at, now), **common, error=None,
                                             charged=True, new_state=J.COMPLETED, run_at=None, last_error=None,
                                             started=flight.started):  # fmt: skip
                return self.taken_over(flight)
            self.count("completed", now, job.queue, self.ran_for(flight, fin))
            self.later_log("info", "job.completed", **ident, exit_code=0, duration_ms=duration_ms)
            self.settled(seq, job.id, J.COMPLETED, now, exit_code=0)
            self.fire_hooks(job, J.COMPLETED, now)
            return
        self.failed(flight, fin, now, common, duration_ms)

    def failed(self, flight: InFlight, fin: wire.Finished, now: float, common: dict[str, Any],
               duration_ms: float | None) -> None:  # fmt: skip
        job, seq = flight.job, flight.job.seq
        error = fin.error or J.describe_failure(fin.exit_code, fin.signal, fin.timed_out)
        charged = job.charged + 1
        outcome = J.after_failure(charged, job.max_retries, now, self.config["backoff_base"],
                                  self.config["backoff_max"], self.config["backoff_jitter"])  # fmt: skip
        if not self.store.finish_attempt(seq, flight.attempt, min(fin.ended_at, now), **common, error=error,
                                         charged=True, new_state=outcome.state, run_at=outcome.run_at,
                                         last_error=error, started=flight.started):  # fmt: skip
            return self.taken_over(flight)
        fields = dict(job_id=job.id, attempt=flight.attempt, child=flight.child,
                      exit_code=fin.exit_code, signal=fin.signal, error=error,
                      duration_ms=duration_ms)  # fmt: skip
        if outcome.state == J.DEAD:
            self.count("dead", now, job.queue, self.ran_for(flight, fin))
            self.later_log("warning", "job.dead", **fields)
            self.settled(seq, job.id, J.DEAD, now, exit_code=fin.exit_code, error=error)
            self.fire_hooks(job, J.DEAD, now)
            return
        assert outcome.run_at is not None
        self.count("failed", now, job.queue, self.ran_for(flight, fin))
        self.later_log("warning", "job.failed", retry_in_s=round(outcome.run_at - now, 3), **fields)
        self.events.emit("job.failed", job_id=job.id, attempt=flight.attempt, error=error,
                         retry_at=J.format_time(outcome.run_at))  # fmt: skip
        self.timers.add(seq, outcome.run_at)

    def taken_over(self, flight: InFlight) -> None:
        """The attempt was closed by another daemon sharing the database: this daemon's lease
        lapsed and its jobs were rescued (docs/postgres.md). Its outcome is not recorded, and
        nothing follows from it here (no hooks, no dependents, no wait released)."""
        self.later_log("warning", "job.taken_over", job_id=flight.job.id, attempt=flight.attempt,
                       child=flight.child)  # fmt: skip

    @staticmethod
    def ran_for(flight: InFlight, fin: wire.Finished) -> float | None:
        return fin.ended_at - flight.started_at if flight.started_at is not None else None

    def count(self, kind: str, now: float, queue: str, duration: float | None = None) -> None:
        """A settled attempt, counted once the turn commits (`cancelled` is not a
        throughput kind: only metrics count it)."""

        def record() -> None:
            if kind != "cancelled":
                self.throughput.record(kind, now)
            self.metrics.finished(kind, queue, duration)

        self.out.later(record)

    def settled(self, seq: int, job_id: str, state: str, now: float, **fields: Any) -> None:
        """A job reached a final state: tell whoever waits for it (after commit), and its
        dependents (now)."""
        self.events.emit("job." + state, job_id=job_id, **fields)
        self.waits.release(seq, self.out.later)
        self.events.released(seq)
        self.deps.parent_final(seq, job_id, state, now)

    # --- completion hooks (queuectl/hooks.py, daemon/hooks.py) -------------------------------

    def default_hooks(self, specs: list[JobSpec]) -> None:
        """The config's default hooks, for the jobs that name none of that kind (never for a
        hook job: a hook has no hooks)."""
        defaults = [(name, self.config.get(name)) for name in H.FIELDS]
        if not any(value for _, value in defaults):
            return
        for spec in specs:
            if spec.hook is None:
                for name, value in defaults:
                    if value and getattr(spec, name) is None:
                        setattr(spec, name, value)

    def fire_hooks(self, job: Runnable, state: str, now: float) -> None:
        """A job completed or went dead: its hooks for that become jobs, in this transaction."""
        if job.hooks and job.hook is None:
            from queuectl.daemon.hooks import make_hooks

            specs = make_hooks(self.store, job.seq, state, self.config)
            if specs:
                self.enqueue(specs, now)

    def give_back(self, flight: InFlight, now: float, maybe_ran: bool = False) -> None:
        """An assigned job that never started: pending again as if never assigned (or
        cancelled, if that was asked for meanwhile).

        `maybe_ran`: its child died before confirming the start, and nothing of the job
        was found running. It most likely never started, but it may have run and exited:
        the attempt is kept, not counted, and says so."""
        seq = flight.job.seq
        cancel = flight.abort == "cancel"
        if maybe_ran:
            if not self.store.finish_attempt(
                seq, flight.attempt, now, exit_code=None, signal=None, timed_out=False,
                error=J.LOST_UNCONFIRMED, out_len=None, err_len=None, charged=False,
                new_state=J.CANCELLED if cancel else J.PENDING, run_at=None,
                last_error="cancelled" if cancel else J.LOST_UNCONFIRMED, started=False,
                queue=flight.job.queue,
            ):  # fmt: skip
                return self.taken_over(flight)
            self.later_log("warning", "job.lost_unconfirmed", job_id=flight.job.id,
                           attempt=flight.attempt, child=flight.child)  # fmt: skip
        else:
            self.store.return_unstarted(seq, flight.attempt, now, flight.job.queue)
            if cancel:
                self.store.cancel(seq, J.PENDING, now, flight.job.queue)
        if cancel:
            self.count("cancelled", now, flight.job.queue)
            self.settled(seq, flight.job.id, J.CANCELLED, now)
            return
        self.events.emit("job.returned", job_id=flight.job.id, attempt=flight.attempt)
        job = self.store.runnable(seq)
        if job is not None:
            self.runnable.add(job)

    # --- what clients ask ------------------------------------------------------------------

    def cancel(self, job: dict[str, Any], now: float) -> InFlight | None:
        """Cancel a job that is not final. One a worker holds is only asked to stop (or
        to hand it back): its flight is returned, and it settles as cancelled when its
        child reports."""
        seq, state = job["seq"], job["state"]
        if state in J.HELD_STATES:
            flight = self.inflight.get(seq)
            if flight is None:  # (another daemon sharing the database runs it)
                self.events.ask_cancel(seq)
                return None
            self.abort_flight(flight, "cancel")
            return flight
        self.runnable.drop(seq, job["queue"])
        self.timers.drop(seq)
        self.store.cancel(seq, state, now, job["queue"])
        self.later_log("info", "job.cancelled", job_id=job["id"], previous_state=state)
        self.count("cancelled", now, job["queue"])
        self.settled(seq, job["id"], J.CANCELLED, now)
        return None

    def abort_flight(self, flight: InFlight, reason: str) -> None:
        """Ask the child to kill this job (or to hand it back, if it has not started it)."""
        self.inflight.set_abort(flight, reason)
        self.out.send(flight.child, wire.Abort(flight.job.seq, reason))

    def retry(self, job: dict[str, Any], now: float) -> None:
        """failed/dead -> pending now, with a fresh set of retries."""
        seq, state = job["seq"], job["state"]
        self.timers.drop(seq)
        self.store.retry(seq, state, now, job["queue"])
        runnable = self.store.runnable(seq)
        if runnable is not None:
            self.runnable.add(runnable)
        if state == J.DEAD:
            self.deps.parent_revived(seq, now)
        self.events.emit("job.retried", job_id=job["id"])
        self.later_log("info", "job.retried", job_id=job["id"], previous_state=state)

    def delete(self, job: dict[str, Any], now: float) -> set[str]:
        """Remove a job that is not running; returns the log segments it pointed into.
        A wait on it ends with job: null; dependents still waiting for it learn it is gone."""
        seq, state = job["seq"], job["state"]
        self.runnable.drop(seq, job["queue"])
        self.timers.drop(seq)
        if state not in J.FINAL_STATES:
            self.deps.parent_final(seq, job["id"], "deleted", now)
        self.store.unlink(seq)
        segments = self.store.delete(seq, state, job["queue"])
        self.waits.release(seq, self.out.later)
        self.events.released(seq)
        self.events.emit("job.deleted", job_id=job["id"])
        self.later_log("info", "job.deleted", job_id=job["id"], previous_state=state)
        return segments

    def abort_all(self, reason: str) -> None:
        """Kill every running job (shutdown grace is over)."""
        for flight in self.inflight:
            self.out.send(flight.child, wire.Abort(flight.job.seq, reason))
