from __future__ import annotations

from queuectl.daemon.journal import Journal


def test_undo_runs_in_reverse_back_to_a_mark() -> None:
    j = Journal()
    state: list[int] = []
    j.begin()
    for n in (1, 2, 3):
        state.append(n)
        j.record(state.pop)
    mark = j.mark()
    state.append(4)
    j.record(state.pop)
    j.rollback_to(mark)
    assert state == [1, 2, 3]
    j.abort()
    assert state == [] and not j.open


def test_nothing_is_recorded_outside_a_transaction_and_commit_forgets() -> None:
    j = Journal()
    j.record(lambda: (_ for _ in ()).throw(AssertionError("must not run")))
    assert len(j) == 0
    j.begin()
    j.record(lambda: (_ for _ in ()).throw(AssertionError("must not run")))
    j.commit()
    j.abort()  # nothing left to undo
