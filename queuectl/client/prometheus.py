"""daemon.metrics in the Prometheus text format, written by prometheus_client (the reference
implementation of the format): a Collector turning one daemon.metrics answer into metric
families, `render` the exposition itself. Names start with `queuectl_` and carry their
unit (`_seconds`, `_bytes`, `_total`). See docs/operations.md, "Metrics"."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

if TYPE_CHECKING:
    from queuectl.client.records import DaemonMetrics, Histogram, QueueMetrics, WorkerMetrics

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

COUNTERS = (  # daemon.metrics' counts -> (name without _total, help)
    ("enqueued", "queuectl_jobs_enqueued", "Jobs enqueued since the daemon started."),
    ("started", "queuectl_jobs_started", "Attempts started since the daemon started."),
    ("completed", "queuectl_jobs_completed", "Jobs completed (exit 0) since the daemon started."),
    ("failed", "queuectl_jobs_failed_attempts", "Failed attempts that will be retried, since the daemon started."),
    ("dead", "queuectl_jobs_dead", "Jobs that failed their last attempt (dead), since the daemon started."),
    ("cancelled", "queuectl_jobs_cancelled", "Jobs cancelled since the daemon started."),
)


def buckets(hist: Histogram) -> list[tuple[str, float]]:
    """Cumulative (le, count) pairs, +Inf last, from the daemon's per-bucket counts."""
    out, total = [], 0
    for bound, count in zip([*hist["bounds"], float("inf")], hist["counts"], strict=True):
        total += count
        out.append(("+Inf" if bound == float("inf") else repr(float(bound)), float(total)))
    return out


class DaemonCollector:
    """One scrape: the families made from one daemon.metrics answer."""

    def __init__(self, data: DaemonMetrics):
        self.data = data

    def collect(self) -> Iterator[Metric]:
        queues, workers, facts = self.data["queues"], self.data["workers"], self.data["daemon"]
        for kind, name, text in COUNTERS:
            family = CounterMetricFamily(name, text, labels=["queue"])
            for q, m in queues.items():
                family.add_metric([q], m["counts"][kind])
            yield family
        jobs = GaugeMetricFamily("queuectl_jobs", "Jobs per state now.", labels=["queue", "state"])
        oldest = GaugeMetricFamily("queuectl_oldest_pending_job_age_seconds",
                                   "Age of the oldest pending job (0 when none is pending).", labels=["queue"])  # fmt: skip
        for q, m in queues.items():
            for state, n in m["states"].items():
                jobs.add_metric([q, state], n)
            oldest.add_metric([q], m["oldest_pending_age_seconds"] or 0.0)
        yield jobs
        yield GaugeMetricFamily("queuectl_jobs_running", "Jobs running now (all queues).",
                                value=sum(m["states"].get("processing", 0) for m in queues.values()))  # fmt: skip
        yield oldest
        yield from self.histograms(queues)
        yield from self.workers(workers)
        yield GaugeMetricFamily("queuectl_daemon_uptime_seconds", "Seconds since the daemon started.",
                                value=facts["uptime_seconds"])  # fmt: skip
        yield GaugeMetricFamily("queuectl_daemon_start_time_seconds", "When the daemon started (Unix time).",
                                value=facts["started_at"])  # fmt: skip
        if facts["rss_bytes"] is not None:
            yield GaugeMetricFamily("queuectl_daemon_resident_memory_bytes", "The daemon's resident memory.",
                                    value=facts["rss_bytes"])  # fmt: skip
        turn = facts["loop_turn_seconds"]
        yield HistogramMetricFamily("queuectl_daemon_loop_turn_seconds", "Time the daemon's loop took per turn.",
                                    buckets=buckets(turn), sum_value=turn["sum"])  # fmt: skip

    def histograms(self, queues: dict[str, QueueMetrics]) -> Iterator[Metric]:
        duration = HistogramMetricFamily("queuectl_job_duration_seconds", "How long attempts ran (start to end).",
                                         labels=["queue"])  # fmt: skip
        pickup = HistogramMetricFamily("queuectl_job_pickup_latency_seconds",
                                       "From a job becoming pending (enqueued, due, retried) to its attempt's start.",
                                       labels=["queue"])  # fmt: skip
        for q, m in queues.items():
            duration.add_metric([q], buckets(m["duration_seconds"]), m["duration_seconds"]["sum"])
            pickup.add_metric([q], buckets(m["pickup_seconds"]), m["pickup_seconds"]["sum"])
        yield duration
        yield pickup

    def workers(self, workers: WorkerMetrics) -> Iterator[Metric]:
        yield GaugeMetricFamily("queuectl_workers", "Worker children running.", value=workers["running"])
        yield GaugeMetricFamily("queuectl_workers_target", "Worker children wanted (config workers).",
                                value=workers["target"])  # fmt: skip
        yield GaugeMetricFamily("queuectl_workers_busy", "Workers running a job.", value=workers["busy"])
        yield GaugeMetricFamily("queuectl_workers_idle", "Workers running no job.", value=workers["idle"])


def render(data: DaemonMetrics) -> bytes:
    """The exposition of one daemon.metrics answer, as Prometheus scrapes it."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DaemonCollector(data))
    return generate_latest(registry)
