"""`queuectl daemon`: set up logging, run the supervisor, map failures to exit codes."""

from __future__ import annotations

import sys

from queuectl.client.output import UNSAFE
from queuectl.fsguard import UnsafePath
from queuectl.paths import PathError, Paths


def run(paths: Paths, workers: int | None, log_level: str, log_format: str | None) -> int:
    from queuectl.daemon.logsetup import configure_logging

    configure_logging(log_level, log_format, buffered=True)
    import structlog

    from queuectl.daemon.supervisor import StartupError, Supervisor

    log = structlog.get_logger("queuectl")
    try:
        return Supervisor(paths, workers).run()
    except StartupError as exc:
        log.error("daemon.refused", error=str(exc))
        print(f"queuectl daemon: {exc}", file=sys.stderr)
        return 3
    except (UnsafePath, PathError) as exc:
        log.error("daemon.refused", error=str(exc), path=getattr(exc, "path", None))
        print(f"queuectl daemon: {exc}", file=sys.stderr)
        return UNSAFE
