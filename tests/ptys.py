"""Running a command with its output on a pseudo-terminal, as a person's shell would."""

from __future__ import annotations

import os
import pty
import subprocess
import threading


def run_on_pty(argv: list[str], env: dict[str, str], *, stdout_on_pty: bool = True,
               timeout: float = 60) -> tuple[subprocess.CompletedProcess[bytes], bytes]:  # fmt: skip
    """(the finished process, every byte the terminal got): stderr always goes to the
    terminal, stdout too unless `stdout_on_pty` is False (then it is captured)."""
    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:  # (a full pty would block the command)
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        proc = subprocess.run(argv, stdout=slave if stdout_on_pty else subprocess.PIPE, stderr=slave,
                              stdin=subprocess.DEVNULL, env=env, timeout=timeout)  # fmt: skip
    finally:
        os.close(slave)
        reader.join(10)
        os.close(master)
    return proc, b"".join(chunks)
