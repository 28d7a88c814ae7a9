"""The daemon's parts, made and wired together: what the loop runs, and what the RPC
methods see (it implements api.Api).

Start-up order matters: the directories are checked, the lock taken, the database
opened and repaired after a crash, and jobs contained, before a socket is bound
or a child spawned.
"""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path
from typing import Any, cast

import structlog

from queuectl import jobs as J
from queuectl import settings
from queuectl.daemon import clients, containment, fastjson, segments, startup
from queuectl.daemon.clock import Clock, SystemClock
from queuectl.daemon.cluster import Cluster
from queuectl.daemon.diskfloor import DiskFloor
from queuectl.daemon.events import Events
from queuectl.daemon.inflight import InFlightTable
from queuectl.daemon.journal import Journal
from queuectl.daemon.lifecycle import Lifecycle
from queuectl.daemon.methods import REGISTRY
from queuectl.daemon.metrics import Metrics
from queuectl.daemon.notify import Notifier, scrub_environ
from queuectl.daemon.output import TurnOutput
from queuectl.daemon.pool import ChildHandle, Pool
from queuectl.daemon.pruner import Pruner
from queuectl.daemon.queueset import QueueSet
from queuectl.daemon.rates import RateLimits
from queuectl.daemon.requests import Requests
from queuectl.daemon.reserve import SpaceReserve
from queuectl.daemon.scheduler import Scheduler
from queuectl.daemon.sockets import Channels, Sockets
from queuectl.daemon.store import open_store
from queuectl.daemon.store.interface import SharedStorage, Storage
from queuectl.daemon.throughput import Throughput
from queuectl.daemon.waits import Waits
from queuectl.daemon.windows import Runnables, TimerWindow
from queuectl.daemon.workers import Workers
from queuectl.database import DatabaseChoice, choose
from queuectl.identity import default_name
from queuectl.paths import Paths
from queuectl.ratelimit import parse_rate

log = structlog.get_logger("queuectl")

CLOCK_STEP = 1.0  # seconds the wall clock must jump (against the boot clock) to count as a step

SEGMENT_SIZE = 64 * 1024 * 1024


class Daemon:
    def __init__(self, paths: Paths, workers: int | None = None, clock: Clock | None = None,
                 database: str | None = None, name: str | None = None):  # fmt: skip
        self.paths = paths
        self.name = name or default_name()  # recorded on each attempt this daemon runs
        self.database_flag = database  # --database; chosen at start (queuectl/database.py)
        self.database = DatabaseChoice(None, "default")
        # The database failing: (since when, the last error), until a turn commits again.
        self.store_failing: tuple[float, str] | None = None
        self.workers_override = workers
        self.clock: Clock = clock or SystemClock()
        self.notifier = Notifier()
        self.journal = Journal()
        self.out = TurnOutput(self.journal)
        self.events = Events(self.out, self.clock)
        self.throughput = Throughput()
        self.metrics = Metrics()
        self.registry = REGISTRY
        self.started_at = self.clock.wall()
        self.now = self.started_at  # this turn's wall time (what requests see as "now")
        self.mono = self.clock.mono()
        self.shutting_down = False
        self.shutdown_deadline: float | None = None  # monotonic
        self.kill_deadline: float | None = None  # monotonic: SIGKILL whatever still runs
        self.config: dict[str, Any] = settings.defaults()
        self.disk = DiskFloor(str(paths.state_dir))
        self.epoch = 0  # this run's number (names its log segments), from the database at start
        self.cluster: Cluster | None = None  # other daemons share the database (PostgreSQL)

    # --- start-up ---------------------------------------------------------------------------

    def start(self, watch_child: Any, unwatch_child: Any) -> None:
        """Everything before the loop. `watch_child`/`unwatch_child`: the loop's poller
        takes each child's pidfd."""
        scrub_environ(os.environ)  # jobs must not talk to systemd in our name
        # Our own files (database, logs, sockets) are private whatever the directory's
        # mode; jobs get the umask we were started with (children restore it).
        self.job_umask = os.umask(0o077)
        socket_group = startup.prepare_dirs(self.paths)
        self.lock_fd = startup.take_lock(self.paths)
        self.database = choose(self.database_flag, os.environ, self.paths.state_dir)
        self.store: Storage = open_store(self.database.url, self.paths.db, self.name)
        self.store.daemon_name = self.name
        self.config.update({k: v for k, v in self.store.config_load().items() if k in settings.SETTINGS})
        self.store.set_synchronous(self.config["synchronous"])
        self.store.start_checkpointer()
        self.reserve = SpaceReserve(self.paths.state_dir / "reserve")
        self.reserve.ensure()
        self.epoch = self.store.next_epoch()
        startup.wait_for_old_children(self.paths)
        self.containment, self.cgroup_base = startup.choose_containment(self.paths.state_dir)
        recovered = self.store.requeue_interrupted(self.clock.wall())
        for _seq, job_id, attempt in recovered:
            log.warning("job.recovered", job_id=job_id, attempt=attempt,
                        reason="the daemon stopped while it ran")  # fmt: skip
        self.guard = clients.ConnectionGuard(clients.raise_fd_limit())
        self.sockets = Sockets(self.paths, socket_group, self.guard)
        self.signals = startup.Signals()
        self.signals.install()
        self.pool = Pool(self.sockets.ctx, self.paths, self.epoch, SEGMENT_SIZE, self.job_umask,
                         self.cgroup_base)  # fmt: skip
        self.channels = Channels(self.sockets, self.pool, self.events)
        self.build_core(watch_child, unwatch_child)
        self.runnable.reload()
        self.timers.reload()
        target = self.workers_override if self.workers_override is not None else self.config["workers"]
        self.workers.scale(target)
        shared = cast("SharedStorage", self.store) if self.store.shared else None
        self.cluster = Cluster(self, shared, self.clock.mono()) if shared is not None else None
        if self.cluster is not None:
            self.cluster.register()
        log.info("daemon.started", name=self.name, pid=os.getpid(), home=str(self.paths.state_dir),
                 socket=str(self.paths.socket), database=self.database.describe(), workers=target,
                 containment=self.containment,
                 recovered=len(recovered), counts=self.store.counts)  # fmt: skip
        from queuectl import fsguard

        fsguard.write_file(self.paths.pidfile, f"{os.getpid()}\n".encode())

    def build_core(self, watch_child: Any, unwatch_child: Any) -> None:
        """The parts that make decisions, given a store (also what unit tests build)."""
        self.runnable = Runnables(self.store, self.journal)
        self.timers = TimerWindow(self.store, self.journal)
        self.inflight = InFlightTable(self.journal)
        self.waits = Waits(self.journal, self.store.get_by_seq)
        self.rates = RateLimits(self.journal)
        self.lifecycle = Lifecycle(self.store, self.out, self.events, self.runnable, self.timers,
                                   self.inflight, self.waits, self.config, self.throughput, self.metrics,
                                   self.rates)  # fmt: skip
        self.workers = Workers(self.pool, self.journal, self.out, self.events, self.inflight,
                               self.lifecycle, self.config, watch_child, unwatch_child)  # fmt: skip
        self.queues = QueueSet(self.store, self.journal, self.events, self.out, self.inflight, self.runnable,
                               self.rates)  # fmt: skip
        self.queues.load()
        self.rates.load(self.store, self.queues, parse_rate(self.config["rate_limit"]), self.clock.wall())
        self.requests = Requests(self.registry, self, self.store, self.journal, self.queue_reply)
        self.scheduler = Scheduler(self.store, self.lifecycle, self.journal)
        self.scheduler.load(self.clock.wall())
        self.logs_bytes = 0
        self._file_sizes: tuple[float, dict[str, int]] | None = None  # (when, sizes): storage()
        self.held_segments: set[str] = set()
        self.pruner = Pruner(self.store, self.journal, self.out, self.events, self.config,
                             self.collect_segments, lambda: self.storage(fresh=True),
                             self.clock.mono())  # fmt: skip

    def queue_reply(self, routing: list[bytes], doc: Any) -> None:
        self.out.reply(routing, b"" if doc is None else fastjson.dumps(doc))

    # --- what RPC methods may ask (api.Api) --------------------------------------------------

    def set_config(self, key: str, value: Any) -> None:
        """A validated setting: saved now, in force once that commits."""
        self.store.config_save(key, value)
        self.out.later(lambda: self.apply_setting(key, value))
        if key == "workers":
            self.workers.scale(value)

    def follow_clock_steps(self, now: float, known_offset: float) -> float:
        """Notice a step of the wall clock (`date -s`, a VM restored from a snapshot, NTP
        correcting a large error): a job's run_at is a wall-clock time, right for a time
        of day the user gave, but a wait given as a duration (a delay, a backoff) must
        stay as long as it was; those move with the step. The boot clock counts suspend
        too, so a laptop's sleep is not a step. Returns the wall clock's offset now."""
        offset = now - self.clock.boot()  # follows slewing too, a few ms a turn at most
        step = offset - known_offset
        if abs(step) < CLOCK_STEP:
            return offset
        moved = self.store.shift_relative_waits(step)
        log.warning("clock.stepped", seconds=round(step, 3), waits_moved=moved)
        self.timers.reload()
        return offset

    def reload_config(self) -> None:
        """SIGHUP: read the settings again from the database."""
        self.notifier.reloading()
        for key, value in self.store.config_load().items():
            try:
                value = settings.check(key, value)
            except J.ValidationError as exc:  # edited by hand into something invalid
                log.warning("config.invalid", key=key, error=str(exc))
                continue
            self.apply_setting(key, value)
            if key == "workers":
                self.workers.scale(value)
        log.info("daemon.reloaded", config=self.config)
        self.notifier.ready()

    def follow_setting(self, key: str) -> None:
        """Another daemon sharing the database changed a setting (`config set`): take it
        (`workers` too, unless this daemon was started with --workers)."""
        value = self.store.config_load().get(key)
        try:
            value = settings.check(key, value)
        except J.ValidationError:
            return  # (unset, unknown to this version, or invalid: left as it is)
        if self.config.get(key) == value:
            return
        log.info("config.followed", key=key, value=value)
        self.out.later(lambda: self.apply_setting(key, value))
        if key == "workers" and self.workers_override is None:
            self.workers.scale(value)

    def housekeeping(self, mono: float) -> None:
        """Every few seconds: the space reserve, idle reply routes, paused connection
        checks, silent or overdue children, systemd's status line, held segments."""
        self.reserve.ensure()
        self.sockets.replies.forget_idle()
        if self.guard.paused:
            self.sockets.guard_connections()
        self.workers.kill_silent(mono)
        if self.kill_deadline is not None and mono > self.kill_deadline:
            self.workers.kill_all()
        self.notifier.status(self.status_line())
        self.collect_held()

    def apply_setting(self, key: str, value: Any) -> None:
        self.config[key] = value
        if key == "synchronous":
            self.store.set_synchronous(value)
        elif key == "rate_limit" and hasattr(self, "rates"):
            self.rates.set_pool(parse_rate(value), self.store, self.clock.wall())
        if key.startswith("disk_free_"):
            self.disk.recheck_soon()
        if key.startswith("retain_"):
            self.pruner.rearm()
        if key in ("lease", "lease_renew", "cluster_poll") and self.cluster is not None:
            self.cluster.apply_config(self.config)

    def may_start_jobs(self, mono: float) -> bool:
        """Dispatch may start jobs: the disk is above its floor, and the daemon is not fenced."""
        return self.disk_allows_starts(mono) and (self.cluster is None or self.cluster.may_start())

    def disk_allows_starts(self, mono: float) -> bool:
        """False while free space is under the floor (diskfloor.py): no new job starts.
        One log line on crossing it, either way."""
        change = self.disk.check(mono, self.config["disk_free_min_bytes"], self.config["disk_free_min_percent"])
        if change is not None and change.low:
            log.warning("disk.low", free_bytes=change.free, floor_bytes=change.floor, path=self.disk.path,
                        action="no new job starts until space returns")  # fmt: skip
        elif change is not None:
            log.info("disk.ok", free_bytes=change.free, floor_bytes=change.floor, action="starting jobs again")
        return not self.disk.low

    def begin_shutdown(self, why: str) -> None:
        """Stop dispatching; running jobs get shutdown_grace to finish, then are killed
        and re-queued without using up an attempt."""
        if self.shutting_down:
            return
        self.shutting_down = True
        grace = self.config["shutdown_grace"]
        self.shutdown_deadline = self.clock.mono() + (grace if len(self.inflight) else 0.0)

        def undo() -> None:
            self.shutting_down, self.shutdown_deadline = False, None

        self.journal.record(undo)
        running = len(self.inflight)
        self.out.later(self.notifier.stopping)
        self.out.log(lambda: log.info("daemon.stopping", reason=why, grace_s=grace, running=running))
        for child in list(self.pool.children.values()):
            self.workers.retire(child)

    def live_writers(self) -> dict[str, int | None]:
        """epoch-child of each living child -> the number of the segment it writes."""
        live: dict[str, int | None] = {}
        for c in self.pool.children.values():
            parsed = segments.parse(c.segment) if c.segment else None
            live[f"{self.epoch}-{c.id}"] = parsed[1] if parsed else None
        return live

    def collect_segments(self, names: set[str]) -> tuple[int, int]:
        """Remove log segments no attempt points into any more (and no child writes);
        returns how many, and the bytes freed."""
        live = self.live_writers()
        self.held_segments |= {n for n in names if segments.writable(n, live)}
        try:
            return segments.remove(self.paths.logs_dir, names, self.store.segments_in_use, live)
        except self.store.errors as exc:  # the database is gone for now: keep them for later
            self.held_segments |= names
            log.warning("store.error", error=str(exc), during="removing log segments")
            return 0, 0

    def collect_held(self) -> None:
        """Segments that were still being written when their last job went: once their
        child has moved on (or died), they go too (every housekeeping)."""
        held, self.held_segments = self.held_segments, set()
        removed, freed = self.collect_segments(held)
        self.pruner.totals["segments"] += removed
        self.pruner.totals["bytes"] += freed

    def sweep_logs(self) -> None:
        """Remove every segment nothing needs (a dead child's, one emptied without a
        delete), and measure the logs directory (status)."""
        names, _ = segments.scan(self.paths.logs_dir)
        self.collect_segments(names)
        self.logs_bytes = segments.scan(self.paths.logs_dir)[1]

    def store_failed(self, exc: BaseException) -> None:
        since = self.store_failing[0] if self.store_failing else self.clock.wall()
        self.store_failing = (since, str(exc))

    def database_view(self) -> dict[str, Any]:
        """daemon.status's `database`: which, and whether it is failing now."""
        failing = self.store_failing
        return {"kind": self.database.kind, "url": self.database.describe(), "source": self.database.source,
                "error": failing[1] if failing else None,
                "failing_since": J.format_time(failing[0]) if failing else None}  # fmt: skip

    def storage(self, fresh: bool = False) -> dict[str, int]:
        """What the daemon keeps on disk, in bytes (a stat of each database file, at most a
        second old unless `fresh`: status is polled; the logs directory as last measured, at
        most a minute ago)."""
        mono = self.clock.mono()
        if fresh or self._file_sizes is None or mono - self._file_sizes[0] >= 1.0:
            try:
                self._file_sizes = (mono, self.store.file_sizes())
            except self.store.errors:  # (the database is away: the last sizes known)
                if self._file_sizes is None:
                    self._file_sizes = (mono, {"db_bytes": 0, "db_free_bytes": 0, "wal_bytes": 0})
        return {**self._file_sizes[1], "logs_bytes": self.logs_bytes}

    @functools.cached_property
    def fixed_facts(self) -> dict[str, Any]:
        """The part of daemon.status that never changes (built once: status is polled)."""
        from queuectl import __version__

        return {
            "name": self.name,
            "pid": os.getpid(),
            "version": __version__,
            "home": str(self.paths.state_dir),
            "socket": str(self.paths.socket),
            "started_at": J.format_time(self.started_at),
        }

    def facts(self) -> dict[str, Any]:
        """daemon.status's `daemon` part."""
        return {
            **self.fixed_facts,
            "uptime_s": round(self.clock.wall() - self.started_at, 3),
            "database": self.database_view(),
            "shutting_down": self.shutting_down,
            "waiting_clients": len(self.waits),
            "containment": self.containment,
            "fd_limit": self.guard.limit,
            "accepting": not self.guard.paused,
            "disk": self.disk.view(),
            "storage": self.storage(),
            "pruned": dict(self.pruner.totals),
            "cluster": self.cluster.view() if self.cluster is not None else None,
        }

    # --- the end ----------------------------------------------------------------------------

    def child_of(self, child_id: int) -> ChildHandle | None:
        return self.pool.children.get(child_id) or self.pool.departed.get(child_id)

    def close(self) -> None:
        log.info("daemon.stopped", counts=self.store.counts)
        if self.cluster is not None:
            self.cluster.watchdog.stop()
            with contextlib.suppress(*self.store.errors):
                self.cluster.store.resign()
        self.store.close()
        self.sockets.close()
        with contextlib.suppress(FileNotFoundError):
            Path(self.paths.pidfile).unlink()
        containment.remove_cgroup_base(self.cgroup_base)
        os.close(self.lock_fd)

    def status_line(self) -> str:
        c = self.store.counts
        return (f"{len(self.pool.active())} workers ({self.workers.busy()} busy), {c[J.PENDING]} pending, "
                f"{c[J.ASSIGNED]} assigned, {c[J.PROCESSING]} running, {c[J.SCHEDULED] + c[J.FAILED]} waiting, {c[J.DEAD]} dead")
