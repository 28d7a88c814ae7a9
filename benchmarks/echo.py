"""The floor under an RPC round trip: a ZeroMQ ROUTER that echoes each message back,
in a process of its own, and a REQ client, over an ipc socket as the daemon's. No JSON,
no daemon: what two processes and their ZeroMQ I/O threads cost, warm or from idle.

Usage: python -m benchmarks.echo ENDPOINT (the server; the harness starts it).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import zmq


def serve(endpoint: str) -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.bind(endpoint)
    print("ready", flush=True)
    while True:
        frames = sock.recv_multipart()
        sock.send_multipart(frames)
        if frames[-1] == b"stop":
            break
    sock.close(linger=1000)
    ctx.term()


class Echo:
    """An echo server process and a client for it: `with Echo() as echo: echo.round_trip_ms()`."""

    def __enter__(self) -> Echo:
        self.dir = tempfile.TemporaryDirectory(prefix="qbench-echo-")
        endpoint = f"ipc://{Path(self.dir.name) / 'echo.sock'}"
        self.proc = subprocess.Popen([sys.executable, "-m", "benchmarks.echo", endpoint],
                                     stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the echo server did not start")
        self.ctx: zmq.Context[Any] = zmq.Context()
        self.sock = self.ctx.socket(zmq.REQ)
        self.sock.connect(endpoint)
        for _ in range(20):  # connected, and the first messages' set-up done
            self.round_trip_ms()
        return self

    def round_trip_ms(self) -> float:
        t0 = time.perf_counter()
        self.sock.send(b"x")
        if not self.sock.poll(5000):
            raise RuntimeError("the echo server did not answer within 5 s")
        self.sock.recv()
        return (time.perf_counter() - t0) * 1000.0

    def __exit__(self, *exc: object) -> None:
        try:
            self.sock.send(b"stop")
            self.sock.poll(2000)
        finally:
            self.sock.close(linger=0)
            self.ctx.term()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.dir.cleanup()


if __name__ == "__main__":
    serve(sys.argv[1])
