from queuectl.daemon.throughput import Throughput


def test_counts_per_minute_and_forgets_after_an_hour() -> None:
    t = Throughput(minutes=60)
    t.record("completed", 60 * 100 + 1)
    t.record("completed", 60 * 100 + 59)
    t.record("failed", 60 * 101)
    series = t.series(60 * 101 + 5)
    assert len(series) == 60
    assert series[-1] == (101, {"completed": 0, "failed": 1, "dead": 0})
    assert series[-2] == (100, {"completed": 2, "failed": 0, "dead": 0})
    t.record("dead", 60 * 170)
    assert all(m > 110 for m, _ in t.buckets)
    assert t.totals == {"completed": 2, "failed": 1, "dead": 1}
