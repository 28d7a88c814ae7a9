"""The daemon's metrics (pure): counters per queue, fixed-bucket histograms, and their
Prometheus rendering read back by prometheus_client's own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from queuectl.client.prometheus import buckets, render
from queuectl.daemon.metrics import DURATION_BUCKETS, Histogram, Metrics


def test_a_value_on_a_bound_falls_in_that_bound_bucket() -> None:
    h = Histogram((0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 1.0, 7.0):
        h.observe(value)
    assert h.counts == [2, 2, 1]  # le 0.1: 0.05, 0.1; le 1: 0.5, 1.0; above: 7
    assert h.view()["count"] == 5 and abs(h.sum - 8.65) < 1e-9
    assert buckets(h.view()) == [("0.1", 2.0), ("1.0", 4.0), ("+Inf", 5.0)]  # cumulative


def test_counts_per_queue_and_negative_times_clamped() -> None:
    m = Metrics()
    m.count("enqueued", "default", 3)
    m.count("enqueued", "gpu")
    m.started("default", -0.001)  # a child's clock a hair behind the daemon's
    m.finished("completed", "default", 0.2)
    m.finished("cancelled", "gpu", None)  # never ran: no duration
    view = m.view()["queues"]
    assert view["default"]["counts"]["enqueued"] == 3 and view["gpu"]["counts"]["enqueued"] == 1
    assert view["default"]["pickup_seconds"]["counts"][0] == 1
    assert view["default"]["pickup_seconds"]["sum"] == 0.0
    assert view["default"]["duration_seconds"]["count"] == 1
    assert view["gpu"]["counts"]["cancelled"] == 1 and view["gpu"]["duration_seconds"]["count"] == 0
    assert len(view["default"]["duration_seconds"]["counts"]) == len(DURATION_BUCKETS) + 1


def test_render_reads_back_with_the_reference_parser() -> None:
    m = Metrics()
    m.count("enqueued", "default", 2)
    m.started("default", 0.003)
    m.finished("dead", "default", 1.5)
    m.turn.observe(0.0002)
    rec = m.view()
    data = {
        "queues": {"default": {**rec["queues"]["default"], "states": {"pending": 1, "dead": 1},
                               "oldest_pending_age_seconds": 4.5}},
        "workers": {"target": 2, "running": 2, "busy": 1, "idle": 1},
        "daemon": {"uptime_seconds": 10.0, "rss_bytes": 123456, "started_at": 1.7e9,
                   "loop_turn_seconds": rec["loop_turn_seconds"]},
    }  # fmt: skip
    families = {f.name: f for f in text_string_to_metric_families(render(data).decode())}  # type: ignore[arg-type]
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert families["queuectl_jobs_enqueued"].type == "counter"
    assert samples[("queuectl_jobs_enqueued_total", (("queue", "default"),))] == 2
    assert samples[("queuectl_jobs_dead_total", (("queue", "default"),))] == 1
    assert samples[("queuectl_jobs", (("queue", "default"), ("state", "pending")))] == 1
    assert samples[("queuectl_oldest_pending_job_age_seconds", (("queue", "default"),))] == 4.5
    assert families["queuectl_job_duration_seconds"].type == "histogram"
    assert samples[("queuectl_job_duration_seconds_bucket", (("le", "2.5"), ("queue", "default")))] == 1
    assert samples[("queuectl_job_duration_seconds_bucket", (("le", "1.0"), ("queue", "default")))] == 0
    assert samples[("queuectl_job_pickup_latency_seconds_count", (("queue", "default"),))] == 1
    assert samples[("queuectl_daemon_resident_memory_bytes", ())] == 123456
    assert samples[("queuectl_daemon_loop_turn_seconds_count", ())] == 1
    assert samples[("queuectl_workers_idle", ())] == 1
