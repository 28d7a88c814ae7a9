"""daemon.metrics as methods of Client (MetricsCalls) and of AsyncClient (AsyncMetricsCalls):
the raw numbers, and the same in the Prometheus text format (client/prometheus.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from queuectl.client.records import DaemonMetrics


class MetricsCalls:
    if TYPE_CHECKING:

        def call(self, method: str, params: Any = None, timeout: float | None = None) -> Any: ...

    def metrics(self) -> DaemonMetrics:
        """Counters since the daemon started, histograms, jobs per state, workers and the
        daemon's facts, as numbers (daemon.metrics)."""
        result: DaemonMetrics = self.call("daemon.metrics")
        return result

    def metrics_text(self) -> bytes:
        """One Prometheus scrape (text format 0.0.4) of daemon.metrics."""
        from queuectl.client.prometheus import render

        return render(self.metrics())


class AsyncMetricsCalls:
    if TYPE_CHECKING:

        def call(self, method: str, params: Any = None, timeout: float | None = None) -> Awaitable[Any]: ...

    async def metrics(self) -> DaemonMetrics:
        result: DaemonMetrics = await self.call("daemon.metrics")
        return result

    async def metrics_text(self) -> bytes:
        from queuectl.client.prometheus import render

        return render(await self.metrics())
