"""Recurring schedules in the daemon: each slot whose time has come becomes an ordinary job,
id NAME@<slot>, in the turn's transaction together with the schedule's next slot.
So a crash either made the run and moved on, or did neither: a slot is never run
twice (the id would clash anyway) nor lost beyond what --catch-up allows.

Memory holds only each active schedule's next slot (`due`), journaled like the
windows, so the loop knows how long it may sleep without a query per turn.

Slots found due are of two kinds. The latest one, if it came while the daemon ran,
is simply run. The others were missed (the daemon was down, stopped, or the
clock stepped): --catch-up says what becomes of them: none (skipped, logged),
latest (one run, for the latest slot), all (one run per slot, at most 100).
"""

from __future__ import annotations

from typing import Any

import structlog

from queuectl import jobs as J
from queuectl import schedules as S
from queuectl.daemon.journal import Journal
from queuectl.daemon.lifecycle import Lifecycle
from queuectl.daemon.store.interface import DuplicateIdError, Storage

log = structlog.get_logger("queuectl")
BUSY_RETRY_S = 0.5


class Scheduler:
    def __init__(self, store: Storage, lifecycle: Lifecycle, journal: Journal):
        self.store = store
        self.lc = lifecycle
        self.journal = journal
        self.due: dict[str, float] = {}  # active schedule -> its next slot
        self.loaded_at = 0.0  # slots up to this time were missed while no daemon ran

    def load(self, now: float) -> None:
        self.due = {s["name"]: s["next_at"] for s in self.store.schedule_list()
                    if not s["paused"] and s["next_at"] is not None}  # fmt: skip
        self.loaded_at = now

    def follow(self, name: str) -> None:
        """Another daemon sharing the database added, changed or removed this schedule."""
        sched = self.store.schedule_get(name)
        active = sched is not None and not sched["paused"] and sched["next_at"] is not None
        self.set_due(name, sched["next_at"] if active and sched else None)

    def set_due(self, name: str, next_at: float | None) -> None:
        previous = self.due.get(name)
        if next_at is None:
            self.due.pop(name, None)
        else:
            self.due[name] = next_at

        def undo() -> None:
            if previous is None:
                self.due.pop(name, None)
            else:
                self.due[name] = previous

        self.journal.record(undo)

    def next_due(self) -> float | None:
        return min(self.due.values()) if self.due else None

    # --- firing ------------------------------------------------------------------------

    def fire(self, now: float) -> None:
        """Make the runs of every slot whose time has come (inside the turn's transaction)."""
        soonest = self.next_due()
        if soonest is None or soonest > now:
            return
        for name in sorted(n for n, at in self.due.items() if at <= now):
            sched, busy = self.store.schedule_to_fire(name)
            if busy:  # (another daemon sharing the database fires it now: look again in a moment)
                self.set_due(name, now + BUSY_RETRY_S)
                continue
            if sched is None or sched["paused"] or sched["next_at"] is None:
                self.set_due(name, None)
                continue
            mark = self.journal.mark()
            try:
                with self.store.savepoint():
                    self.fire_one(sched, now)
            except self.store.errors:
                raise  # the turn fails as a whole: nothing of it happened
            except Exception as exc:  # a bad stored spec must not stop the loop: skip the slot
                self.journal.rollback_to(mark)
                log.error("schedule.failed", schedule=name, error=str(exc))
                nxt = S.next_slot(sched["cron"], sched["every"], sched["tz"], now)
                self.store.schedule_advance(name, nxt, None, now)
                self.set_due(name, nxt)

    def fire_one(self, sched: dict[str, Any], now: float) -> None:
        name, cron, every, tz = sched["name"], sched["cron"], sched["every"], sched["tz"]
        due = S.slots(cron, every, tz, sched["next_at"], now, 10_000)
        current = due[-1] if due and due[-1] > self.loaded_at else None
        missed = [s for s in due if s != current]
        runs = self.catch_up(sched, missed, now)
        if current is not None:
            runs.append(current)
        last = self.make_runs(sched, runs, now)
        nxt = S.next_slot(cron, every, tz, now)
        self.store.schedule_advance(name, nxt, last, now)
        self.set_due(name, nxt)

    def catch_up(self, sched: dict[str, Any], missed: list[float], now: float) -> list[float]:
        if not missed:
            return []
        policy, name = sched["catch_up"], sched["name"]
        total = len(missed) if len(missed) < 10_000 else S.count_after(
            sched["cron"], sched["every"], sched["tz"], missed[0], now)  # fmt: skip
        if policy == "none":
            runs: list[float] = []
        elif policy == "latest":
            runs = missed[-1:]
        else:
            runs = missed[-S.MAX_CATCH_UP:]
        self.lc.later_log("warning" if len(runs) < total else "info", "schedule.missed", schedule=name,
                          missed=total, catch_up=policy, running=len(runs),
                          first=S.slot_text(missed[0], sched["tz"]),
                          capped=policy == "all" and total > S.MAX_CATCH_UP)  # fmt: skip
        return runs

    def make_runs(self, sched: dict[str, Any], runs: list[float], now: float) -> str | None:
        """Enqueue the runs of these slots, by --overlap; returns the last one's id."""
        last: str | None = sched["last_job"]
        made: str | None = None
        for slot in runs:
            after = self.overlap(sched, last, burst=made is not None)
            if after is False:
                self.lc.later_log("info", "schedule.skipped", schedule=sched["name"],
                                  slot=S.slot_text(slot, sched["tz"]), running=last)  # fmt: skip
                continue
            job_id = S.run_id(sched["name"], slot, sched["tz"])
            if self.enqueue(sched, job_id, after if isinstance(after, str) else None, now):
                last = made = job_id
        return made

    def overlap(self, sched: dict[str, Any], last: str | None, burst: bool) -> str | bool:
        """True: run freely; False: skip this slot; an id: run after that job. Runs made in
        one go (caught-up slots) wait for each other unless --overlap allow."""
        if last is None or sched["overlap"] == "allow":
            return True
        job = self.store.get(last)
        if job is None or job["state"] in J.FINAL_STATES:
            return True
        return last if sched["overlap"] == "queue" or burst else False

    def enqueue(self, sched: dict[str, Any], job_id: str, after: str | None, now: float) -> bool:
        raw = {**sched["job"], "id": job_id}
        if after is not None:
            raw.update(after=[after], after_condition="always")
        spec = J.validate_spec(raw, now)
        try:
            self.lc.enqueue([spec], now)
        except DuplicateIdError:  # made already (by hand, in the same second): not twice
            return False
        self.lc.events.emit("schedule.fired", schedule=sched["name"], job_id=job_id)
        return True

    def run_now(self, sched: dict[str, Any], now: float) -> str:
        """`schedule run`: one run now, by hand (whatever --overlap says)."""
        job_id = S.run_id(sched["name"], now, sched["tz"])
        spec = J.validate_spec({**sched["job"], "id": job_id}, now)
        self.lc.enqueue([spec], now)
        self.store.schedule_advance(sched["name"], sched["next_at"], job_id, now)
        return job_id
