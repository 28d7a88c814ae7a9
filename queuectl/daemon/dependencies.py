"""Jobs that wait for other jobs (`after`): linking a batch, releasing dependents when a
parent becomes final, cancelling them when it ended the wrong way (and their own
dependents after them), and bringing them back when a dead parent is retried.

Releasing a parent's dependents reads that parent's edges only (O(its dependents));
each blocked job counts its parents not final yet (`waiting_on`), so the last one
to end releases it without looking at the others. A cascade (a chain cancelled
link by link) is worked off a queue, never by recursion, so a 10,000-job chain
does not overflow the stack. All of it happens in the caller's transaction.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from queuectl import after as A
from queuectl import jobs as J
from queuectl.daemon.store.interface import DepState, Runnable, Storage

if TYPE_CHECKING:
    from queuectl.daemon.lifecycle import Lifecycle

# (parent seq, parent id, how it ended, only this child or None for all of them)
_Ended = tuple[int, str, str, int | None]


class Dependencies:
    def __init__(self, store: Storage, lifecycle: Lifecycle):
        self.store = store
        self.lc = lifecycle
        self._queue: deque[_Ended] = deque()
        self._busy = False

    # --- enqueue ------------------------------------------------------------------------

    def resolve(self, specs: list[J.JobSpec]) -> dict[str, tuple[int, str]]:
        """Check every `after` of a batch before anything is written: each parent exists or
        is in the batch, and the batch has no cycle. Returns the stored parents
        (id -> (seq, state)). Raises ValidationError(field 'after') with `index`."""
        wanted = {p for spec in specs for p in spec.after}
        if not wanted:
            return {}
        batch = {spec.id for spec in specs if spec.id is not None}
        stored = self.store.job_refs(sorted(wanted - batch))
        for index, spec in enumerate(specs):
            for parent in spec.after:
                if parent not in batch and parent not in stored:
                    raise _invalid(index, f"after: no job with id {parent!r} (nor in this batch)")
                if parent == spec.id:
                    raise _invalid(index, f"after: job {parent!r} cannot wait for itself")
        cycle = A.find_cycle([s.id for s in specs], [s.after for s in specs])
        if cycle:
            index = next(i for i, s in enumerate(specs) if s.id == cycle[0])
            raise _invalid(index, "after: these jobs wait for each other in a cycle: " + ", ".join(cycle[:10]))
        return stored

    def link(self, specs: list[J.JobSpec], jobs: list[Runnable], stored: dict[str, tuple[int, str]],
             now: float) -> None:  # fmt: skip
        """Jobs just inserted with parents become blocked; parents already final count at once."""
        if not any(spec.after for spec in specs):
            return
        seqs = {job.id: job.seq for job in jobs}
        rows, edges = [], []
        ended: list[_Ended] = []
        for spec, job in zip(specs, jobs, strict=True):
            if not spec.after:
                continue
            rows.append((job.seq, job.state, spec.after_condition, len(spec.after)))
            for parent in spec.after:
                if parent in seqs:
                    edges.append((seqs[parent], job.seq))
                    continue
                p_seq, p_state = stored[parent]
                edges.append((p_seq, job.seq))
                if p_state in J.FINAL_STATES:
                    ended.append((p_seq, parent, p_state, job.seq))
        if rows:
            self.store.block(rows, edges)
            self._run(ended, now)

    # --- a parent ended --------------------------------------------------------------------

    def parent_final(self, seq: int, job_id: str, state: str, now: float) -> None:
        """A job became final (or was deleted: state 'deleted'): its dependents learn it."""
        self._run([(seq, job_id, state, None)], now)

    def _run(self, ended: list[_Ended], now: float) -> None:
        self._queue.extend(ended)
        if self._busy:
            return  # (a cascade under way takes it from the queue)
        self._busy = True
        try:
            while self._queue:
                p_seq, p_id, p_state, only = self._queue.popleft()
                for child in [only] if only is not None else self.store.dependents(p_seq):
                    self._one(child, p_seq, p_id, p_state, now)
        finally:
            self._busy = False
            self._queue.clear()

    def _one(self, seq: int, p_seq: int, p_id: str, p_state: str, now: float) -> None:
        dep = self.store.dep_state(seq, lock=True)  # (another daemon may end another parent now)
        if dep is None or dep.state != J.BLOCKED:
            return
        condition = dep.condition or A.SUCCESS
        if not A.holds(condition, p_state):
            error = A.why_not(condition, p_id, p_state)
            queue = self.store.cancel_dependent(seq, now, error, p_seq if p_state != "deleted" else None)
            self.lc.count("cancelled", now, queue)
            self.lc.later_log("info", "job.cancelled", job_id=dep.id, previous_state=J.BLOCKED, error=error)
            self.lc.settled(seq, dep.id, J.CANCELLED, now, error=error)  # (its dependents: queued)
            return
        if dep.waiting_on > 1:
            self.store.set_waiting(seq, dep.waiting_on - 1)
            return
        self._release(dep, now)

    def _release(self, dep: DepState, now: float) -> None:
        state = self.store.unblock(dep.seq, dep.run_at, now)
        if state == J.SCHEDULED:
            assert dep.run_at is not None
            self.lc.timers.add(dep.seq, dep.run_at)
        else:
            job = self.store.runnable(dep.seq)
            if job is not None:
                self.lc.runnable.add(job)
        self.lc.events.emit("job.unblocked", job_id=dep.id, state=state)

    # --- a parent runs again -----------------------------------------------------------------

    def parent_revived(self, seq: int, now: float) -> None:
        """A dead parent was retried: the dependents its end cancelled are blocked again (and
        theirs after them), unless another parent of theirs ended the wrong way too."""
        todo = deque([seq])
        while todo:
            parent = todo.popleft()
            for child in self.store.dependents(parent):
                dep = self.store.dep_state(child, lock=True)
                if dep is None or dep.state != J.CANCELLED or dep.cancelled_by != parent:
                    continue
                waiting = self._still_waiting(dep)
                if waiting is None:
                    continue
                self.store.reblock(child, waiting, now)
                self.lc.events.emit("job.blocked", job_id=dep.id)
                self.lc.later_log("info", "job.blocked_again", job_id=dep.id)
                todo.append(child)

    def _still_waiting(self, dep: DepState) -> int | None:
        """Parents of `dep` not final (None: one of them ended in a way that cancels it)."""
        waiting = 0
        condition = dep.condition or A.SUCCESS
        for p_seq in self.store.parents(dep.seq):
            parent = self.store.dep_state(p_seq)
            if parent is None:
                continue
            if parent.state not in J.FINAL_STATES:
                waiting += 1
            elif not A.holds(condition, parent.state):
                return None
        return waiting

    def descendants(self, seq: int, limit: int = 100_000) -> list[int]:
        """Every job downstream of `seq` (breadth first), to cancel with it."""
        seen: set[int] = {seq}
        order: list[int] = []
        todo = deque([seq])
        while todo and len(order) < limit:
            for child in self.store.dependents(todo.popleft()):
                if child not in seen:
                    seen.add(child)
                    order.append(child)
                    todo.append(child)
        return order


def _invalid(index: int, message: str) -> J.ValidationError:
    exc = J.ValidationError(message, "after")
    exc.index = index  # type: ignore[attr-defined]
    return exc

