"""A real `queuectl daemon` in a temporary home, and the clients the harness talks to it with."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import zmq

from benchmarks.install import Target
from benchmarks.util import rss_mb
from queuectl import paths as qpaths
from queuectl.client.rpc import RpcClient

FINAL = ("completed", "dead", "cancelled")
BUSY = ("scheduled", "blocked", "pending", "assigned", "processing", "failed")  # (older revisions lack some)


class BenchDaemon:
    """`python -m queuectl --home HOME daemon --workers N`, logging JSON lines to a file
    in HOME (as under journald: the per-job log lines are part of the cost measured).

    `target` is the queuectl to run (its interpreter and environment; default: this tree,
    see benchmarks.install); the harness talks to it with this tree's RPC client. `args`
    are more of the daemon's options (benchmarks/cluster.py: `--name NAME`)."""

    def __init__(self, home: Path, workers: int = 2, target: Target | None = None, args: tuple[str, ...] = ()):
        self.home = home
        self.workers = workers
        self.args = args  # more of `queuectl daemon`'s options (--name NAME)
        self.target = target or Target.current()
        self.paths = qpaths.for_home(home)
        self.env = self.target.env()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = home / "daemon-bench.log"
        self.client = RpcClient(self.paths.socket, timeout=60)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> BenchDaemon:
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [self.target.python, "-m", "queuectl", "--home", str(self.home), "daemon",
                 "--workers", str(self.workers), "--log-format", "json", *self.args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=self.env, cwd=self.target.cwd,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the daemon exited with {self.proc.returncode}; see {self.log_path}")
            if self.paths.socket.exists():
                with contextlib.suppress(Exception):
                    if self.ready_children() >= self.workers:
                        return self
            if time.monotonic() > deadline:
                raise RuntimeError(f"the daemon did not come up within {timeout}s; see {self.log_path}")
            time.sleep(0.02)

    def call(self, method: str, params: Any = None, timeout: float | None = None) -> Any:
        return self.client.call(method, params, timeout)

    def ready_children(self) -> int:
        status = self.call("workers.status", timeout=2)
        return sum(1 for c in status["children"] if c["ready"] and c["state"] != "stopping")

    def counts(self) -> dict[str, int]:
        return self.call("daemon.status")["counts"]

    def scale(self, n: int, wait_ready: bool = False, timeout: float = 30.0) -> None:
        self.call("workers.scale", {"count": n})
        if n == 0:
            # Wait until the old children are gone, so none picks up what comes next.
            self._wait(lambda: not self.call("workers.status")["children"], timeout, "children to exit")
        elif wait_ready:
            self._wait(lambda: self.ready_children() >= n, timeout, "children to be ready")

    def wait_idle(self, timeout: float = 600.0, interval: float = 0.05) -> None:
        """Until no job is scheduled, pending, running or backing off (polls every `interval`)."""
        self._wait(lambda: not any(self.counts().get(s) for s in BUSY), timeout, "the queue to drain",
                   interval)  # fmt: skip

    @staticmethod
    def _wait(pred: Any, timeout: float, what: str, interval: float = 0.02) -> None:
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(interval)

    def rss_mb(self) -> float:
        self.check_alive()
        return rss_mb(self.pid)

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace").splitlines()[-15:]
            raise RuntimeError(f"the daemon exited with {self.proc.returncode}:\n" + "\n".join(tail))

    def child_pids(self) -> list[int]:
        return [c["pid"] for c in self.call("workers.status")["children"]]

    def stop(self, timeout: float = 60.0) -> None:
        self.client.close()
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> BenchDaemon:  # `with BenchDaemon(...).start() as d:`
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Pipeline:
    """A DEALER on the control socket: several requests in flight, replies timed on arrival,
    alongside a SUB on the events socket (both polled in this one thread)."""

    def __init__(self, paths: qpaths.Paths, topics: tuple[str, ...] = ()):
        self.ctx = zmq.Context()
        self.dealer = self.ctx.socket(zmq.DEALER)
        self.dealer.setsockopt(zmq.LINGER, 0)
        self.dealer.connect(paths.endpoint(paths.socket))
        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.RCVHWM, 0)
        for topic in topics:
            self.sub.setsockopt(zmq.SUBSCRIBE, topic.encode())
        self.sub.connect(paths.endpoint(paths.events_socket))
        self.poller = zmq.Poller()
        self.poller.register(self.dealer, zmq.POLLIN)
        self.poller.register(self.sub, zmq.POLLIN)
        self._id = 0

    def send(self, method: str, params: Any) -> int:
        self._id += 1
        doc = {"jsonrpc": "2.0", "id": self._id, "method": method, "params": params}
        self.dealer.send_multipart([b"", json.dumps(doc).encode()])
        return self._id

    def poll(self, timeout_s: float) -> list[tuple[str, dict[str, Any], float]]:
        """What arrived within timeout_s: ("reply" | "event", document, perf_counter at receipt)."""
        got: list[tuple[str, dict[str, Any], float]] = []
        events = dict(self.poller.poll(int(timeout_s * 1000)))
        now = time.perf_counter()
        if self.sub in events:
            while True:
                try:
                    _topic, body = self.sub.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                got.append(("event", json.loads(body), now))
        if self.dealer in events:
            while True:
                try:
                    frames = self.dealer.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                reply = json.loads(frames[-1])
                if "error" in reply:
                    raise RuntimeError(f"RPC error: {reply['error']}")
                got.append(("reply", reply, now))
        return got

    def close(self) -> None:
        self.ctx.destroy(linger=0)
