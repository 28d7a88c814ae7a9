"""queuectl: a background job queue for shell commands.

`from queuectl import Client` (or AsyncClient) for the Python client (docs/python.md).
The names below are imported on first use, so `import queuectl` (which every worker
child and every CLI call does) costs nothing more.
"""

__version__ = "0.1.0"

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from queuectl.client.aio import AsyncClient
    from queuectl.client.library import Client
    from queuectl.client.models import (
        Attempt,
        EventName,
        FollowNote,
        Job,
        JobPage,
        JobState,
        LogChunk,
        WaitResult,
    )
    from queuectl.errors import (
        DaemonUnreachable,
        DuplicateId,
        InternalError,
        InvalidParams,
        InvalidRequest,
        InvalidState,
        JobNotFound,
        MethodNotFound,
        ParseError,
        QueuectlError,
        QueueNotFound,
        RemoteError,
        RequestExpired,
        RequestTooLarge,
        ScheduleNotFound,
        ShuttingDown,
        StorageError,
        UntrustedSocket,
    )

__all__ = [
    "__version__", "Client", "AsyncClient",
    "Attempt", "FollowNote", "Job", "JobPage", "LogChunk", "WaitResult", "JobState", "EventName",
    "QueuectlError", "DaemonUnreachable", "UntrustedSocket", "RemoteError", "ParseError", "InvalidRequest",
    "MethodNotFound", "InvalidParams", "InternalError", "JobNotFound", "DuplicateId", "InvalidState",
    "RequestTooLarge", "ShuttingDown", "StorageError", "RequestExpired",
    "QueueNotFound", "ScheduleNotFound",
]  # fmt: skip

# name -> the module it lives in
_LAZY = {"Client": "queuectl.client.library", "AsyncClient": "queuectl.client.aio"}
_LAZY.update(dict.fromkeys(__all__[3:11], "queuectl.client.models"))
_LAZY.update(dict.fromkeys(__all__[11:], "queuectl.errors"))


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'queuectl' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
