"""`queuectl daemon`: set up logging, run the loop, map failures to exit codes."""

from __future__ import annotations

import gc
import sys

from queuectl.client import output as out
from queuectl.fsguard import UnsafePath
from queuectl.paths import PathError, Paths

# Container allocations between two young-generation collections. A request of 1,000 jobs
# makes some 6,000 containers (decoded objects, specs, rows, Runnables): with Python's 700
# the collector ran about nine times inside it. The daemon makes few reference cycles.
GC_YOUNG_THRESHOLD = 20_000


def _tune_gc() -> None:
    """Once started: what start-up made (modules, config, sockets) is never garbage, so the
    collector stops walking it (gc.freeze), and collects young objects less often."""
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def run(paths: Paths, workers: int | None, log_level: str, log_format: str | None,
        database: str | None = None, name: str | None = None) -> int:  # fmt: skip
    """`database`: the --database flag (queuectl/database.py chooses, by precedence);
    `name`: --name (default: the host name)."""
    from queuectl.daemon.logsetup import configure_logging

    configure_logging(log_level, log_format, buffered=True)
    import structlog

    from queuectl.daemon.daemon import Daemon
    from queuectl.daemon.loop import Loop
    from queuectl.daemon.startup import AlreadyRunning, StartupError
    from queuectl.daemon.store import UnusableDatabase
    from queuectl.database import DatabaseChoiceError

    log = structlog.get_logger("queuectl")
    error: Exception
    try:
        loop = Loop(Daemon(paths, workers, database=database, name=name))
        _tune_gc()
        return loop.run()
    except DatabaseChoiceError as exc:
        code, error = out.USAGE, exc
    except AlreadyRunning as exc:
        code, error = out.ALREADY_RUNNING, exc
    except UnusableDatabase as exc:
        code, error = out.BAD_DATABASE, exc
    except (UnsafePath, PathError) as exc:
        code, error = out.UNSAFE, exc
    except StartupError as exc:
        code, error = out.UNREACHABLE, exc
    log.error("daemon.refused", error=str(error), exit_code=code, path=getattr(error, "path", None))
    print(f"queuectl daemon: {error}", file=sys.stderr)
    return code
