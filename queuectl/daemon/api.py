"""What the RPC methods may use of the daemon: this interface, not the daemon itself.

Handlers (queuectl/daemon/methods/) read through the store and the views here,
and change things only through intention-named operations (the lifecycle's
enqueue/cancel/retry/delete, the workers' scale, a setting, a shutdown). They run
inside the loop's transaction, within a savepoint of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from queuectl.daemon.events import Events
from queuectl.daemon.lifecycle import Lifecycle
from queuectl.daemon.metrics import Metrics
from queuectl.daemon.output import TurnOutput
from queuectl.daemon.pruner import Pruner
from queuectl.daemon.queueset import QueueSet
from queuectl.daemon.rpc import Registry
from queuectl.daemon.scheduler import Scheduler
from queuectl.daemon.store.interface import Storage
from queuectl.daemon.throughput import Throughput
from queuectl.daemon.waits import Waits
from queuectl.daemon.workers import Workers
from queuectl.paths import Paths


class Api(Protocol):
    paths: Paths
    store: Storage
    config: Mapping[str, Any]
    lifecycle: Lifecycle
    scheduler: Scheduler
    workers: Workers
    queues: QueueSet
    pruner: Pruner
    waits: Waits
    events: Events
    out: TurnOutput
    throughput: Throughput
    metrics: Metrics
    started_at: float  # wall-clock time the daemon started
    registry: Registry
    now: float  # this turn's wall-clock time
    mono: float  # and its monotonic time
    shutting_down: bool

    def set_config(self, key: str, value: Any) -> None: ...
    def begin_shutdown(self, why: str) -> None: ...
    def collect_segments(self, segments: set[str]) -> tuple[int, int]: ...
    def facts(self) -> dict[str, Any]: ...
