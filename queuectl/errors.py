"""Error codes of the control protocol and the exceptions a client raises for them.

The one place where codes, their stable names and their exception classes are defined:
queuectl.protocol re-exports the codes for the daemon, queuectl.client.rpc raises the
classes. Imports nothing, so `from queuectl import Client` stays cheap.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any

# Standard JSON-RPC error codes.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# Application errors (the JSON-RPC "server error" range).
JOB_NOT_FOUND = -32001
DUPLICATE_ID = -32002
INVALID_STATE = -32003
REQUEST_TOO_LARGE = -32004
SHUTTING_DOWN = -32005
STORAGE_ERROR = -32006
REQUEST_EXPIRED = -32007
QUEUE_NOT_FOUND = -32008
SCHEDULE_NOT_FOUND = -32010

ERROR_NAMES = {
    PARSE_ERROR: "parse_error",
    INVALID_REQUEST: "invalid_request",
    METHOD_NOT_FOUND: "method_not_found",
    INVALID_PARAMS: "invalid_params",
    INTERNAL_ERROR: "internal_error",
    JOB_NOT_FOUND: "job_not_found",
    DUPLICATE_ID: "duplicate_id",
    INVALID_STATE: "invalid_state",
    REQUEST_TOO_LARGE: "request_too_large",
    SHUTTING_DOWN: "shutting_down",
    STORAGE_ERROR: "storage_error",
    REQUEST_EXPIRED: "request_expired",
    QUEUE_NOT_FOUND: "queue_not_found",
    SCHEDULE_NOT_FOUND: "schedule_not_found",
}


class QueuectlError(Exception):
    """Base of every error queuectl's client raises (and of the path errors it shares)."""


class DaemonUnreachable(QueuectlError):
    """No daemon answered at the socket (none running, a stale socket file, no reply in time)."""

    def __init__(self, socket_path: object, why: str):
        super().__init__(f"no queuectl daemon answers at {socket_path} ({why})")
        self.socket_path = str(socket_path)
        self.why = why


class UntrustedSocket(DaemonUnreachable):
    """The socket (or a directory on its way) is not the expected user's: never talked to."""

    def __init__(self, socket_path: object, problem: Any):
        where = "" if str(getattr(problem, "path", socket_path)) == str(socket_path) else f"{problem.path}: "
        reason = getattr(problem, "reason", str(problem))
        QueuectlError.__init__(self, f"not talking to a daemon at {socket_path}: {where}{reason}")
        self.socket_path = str(socket_path)
        self.why = f"{where}{reason}"


class RemoteError(QueuectlError):
    """The daemon answered with a JSON-RPC error: its `code`, `message` and `data` (a dict
    that always has `name`, and fields such as `id`, `field`, `index`, `state`)."""

    code: int = 0

    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data: dict[str, Any] = (
            data if isinstance(data, dict) else ({} if data is None else {"detail": data})
        )

    @property
    def name(self) -> str:
        name = self.data.get("name")
        return name if isinstance(name, str) else ERROR_NAMES.get(self.code, "error")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code}, {self.message!r}, {self.data!r})"


class ParseError(RemoteError):
    code = PARSE_ERROR


class InvalidRequest(RemoteError):
    code = INVALID_REQUEST


class MethodNotFound(RemoteError):
    code = METHOD_NOT_FOUND


class InvalidParams(RemoteError, ValueError):
    """A param is missing, unknown, of the wrong type or out of range (`data["field"]`)."""

    code = INVALID_PARAMS


class InternalError(RemoteError):
    code = INTERNAL_ERROR


class JobNotFound(RemoteError, LookupError):
    code = JOB_NOT_FOUND


class DuplicateId(RemoteError):
    code = DUPLICATE_ID


class InvalidState(RemoteError):
    """The job's state does not allow this (`data["state"]`)."""

    code = INVALID_STATE


class RequestTooLarge(RemoteError):
    code = REQUEST_TOO_LARGE


class ShuttingDown(RemoteError):
    """The daemon is stopping (for a wait: `data["job"]` is the job as it was then)."""

    code = SHUTTING_DOWN


class StorageError(RemoteError):
    code = STORAGE_ERROR


class RequestExpired(RemoteError):
    """The daemon read the request after its `expires_at`: it was not run."""

    code = REQUEST_EXPIRED


class QueueNotFound(RemoteError, LookupError):
    """No queue has that name (`data["queue"]`)."""

    code = QUEUE_NOT_FOUND


class ScheduleNotFound(RemoteError, LookupError):
    """No schedule has that name (`data["schedule"]`)."""

    code = SCHEDULE_NOT_FOUND


# Every code in ERROR_NAMES has its class (tests/test_client_errors.py checks it).
ERROR_CLASSES: dict[int, type[RemoteError]] = {
    cls.code: cls
    for cls in (ParseError, InvalidRequest, MethodNotFound, InvalidParams, InternalError, JobNotFound,
                DuplicateId, InvalidState, RequestTooLarge, ShuttingDown, StorageError, RequestExpired,
                QueueNotFound, ScheduleNotFound)
}  # fmt: skip


def remote_error(code: Any, message: Any, data: Any = None) -> RemoteError:
    """The exception for an error reply; an unknown code (a newer daemon) gives RemoteError."""
    code = code if isinstance(code, int) and not isinstance(code, bool) else 0
    cls = ERROR_CLASSES.get(code, RemoteError)
    return cls(code, message if isinstance(message, str) else "error", data)


def invalid_params(message: str, field: str) -> InvalidParams:
    """An argument refused before anything is sent, shaped like the daemon's own refusal."""
    return InvalidParams(INVALID_PARAMS, message, {"name": "invalid_params", "field": field})
