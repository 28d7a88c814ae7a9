"""Wire formats: JSON-RPC 2.0 on the control socket, msgpack between daemon and children.

Pure code: encoding, decoding and error values, no sockets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# The error codes and their names are defined once, in queuectl.errors (with the client's
# exception classes); re-exported here for the daemon.
from queuectl.errors import DUPLICATE_ID as DUPLICATE_ID
from queuectl.errors import ERROR_NAMES as ERROR_NAMES
from queuectl.errors import INTERNAL_ERROR as INTERNAL_ERROR
from queuectl.errors import INVALID_PARAMS as INVALID_PARAMS
from queuectl.errors import INVALID_REQUEST as INVALID_REQUEST
from queuectl.errors import INVALID_STATE as INVALID_STATE
from queuectl.errors import JOB_NOT_FOUND as JOB_NOT_FOUND
from queuectl.errors import METHOD_NOT_FOUND as METHOD_NOT_FOUND
from queuectl.errors import PARSE_ERROR as PARSE_ERROR
from queuectl.errors import QUEUE_NOT_FOUND as QUEUE_NOT_FOUND
from queuectl.errors import REQUEST_EXPIRED as REQUEST_EXPIRED
from queuectl.errors import REQUEST_TOO_LARGE as REQUEST_TOO_LARGE
from queuectl.errors import SCHEDULE_NOT_FOUND as SCHEDULE_NOT_FOUND
from queuectl.errors import SHUTTING_DOWN as SHUTTING_DOWN
from queuectl.errors import STORAGE_ERROR as STORAGE_ERROR

# Requests above this size get an RPC error; ZeroMQ's MAXMSGSIZE (a multiple of
# it) drops the connection of anything larger still, before it is even read.
MAX_REQUEST_BYTES = 8 * 1024 * 1024
HARD_MAX_MESSAGE_BYTES = 4 * MAX_REQUEST_BYTES
MAX_BATCH = 1000
MAX_DEPTH = 1000  # nesting json.loads takes (the recursion limit, less the stack in use)


class RpcError(Exception):
    """An error answered to a client: a code, a human message and machine `data`."""

    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_dict(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        data = {"name": ERROR_NAMES.get(self.code, "error")}
        if isinstance(self.data, dict):
            data.update(self.data)
        elif self.data is not None:
            data["detail"] = self.data
        err["data"] = data
        return err


def invalid_params(message: str, field: str | None = None, **extra: Any) -> RpcError:
    data = {"field": field} if field else {}
    data.update(extra)
    return RpcError(INVALID_PARAMS, message, data)


@dataclass(slots=True)
class Request:
    method: str
    params: Any  # dict, list or None
    id: Any  # None for a notification
    is_notification: bool
    # Unix time after which the client no longer waits for the answer (an optional
    # member beside the JSON-RPC ones): a request read later is refused, not run.
    expires_at: float | None = None


def decode_payload(payload: bytes) -> Any:
    """Bytes -> parsed JSON, or RpcError(PARSE_ERROR / REQUEST_TOO_LARGE)."""
    if len(payload) > MAX_REQUEST_BYTES:
        raise RpcError(
            REQUEST_TOO_LARGE,
            f"request of {len(payload)} bytes is larger than the limit of {MAX_REQUEST_BYTES}",
            {"limit": MAX_REQUEST_BYTES, "size": len(payload)},
        )
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RpcError(PARSE_ERROR, f"request is not valid UTF-8 (byte {exc.start})") from None
    try:
        doc = json.loads(text)
    except RecursionError:
        # Valid JSON perhaps, but deeper than json.loads goes (Python's recursion limit,
        # about 1,000 levels): not a request we take.
        raise RpcError(
            INVALID_REQUEST, f"request is nested too deeply (more than about {MAX_DEPTH:,} levels)"
        ) from None
    except ValueError as exc:
        raise RpcError(PARSE_ERROR, f"request is not valid JSON: {exc}") from None
    # Every handler checks the shape of what it takes, so deep values that did parse are
    # refused there without walking the whole document here.
    return doc


def parse_request(obj: Any) -> Request:
    """One JSON-RPC request object -> Request, or RpcError(INVALID_REQUEST)."""
    if not isinstance(obj, dict):
        raise RpcError(INVALID_REQUEST, "a request must be a JSON object")
    if obj.get("jsonrpc") != "2.0":
        raise RpcError(INVALID_REQUEST, 'a request needs "jsonrpc": "2.0"')
    method = obj.get("method")
    if not isinstance(method, str) or not method:
        raise RpcError(INVALID_REQUEST, "a request needs a method name (a string)")
    params = obj.get("params")
    if params is not None and not isinstance(params, dict | list):
        raise RpcError(INVALID_REQUEST, "params must be an object or an array")
    has_id = "id" in obj
    req_id = obj.get("id")
    if has_id and req_id is not None and not isinstance(req_id, str | int | float):
        raise RpcError(INVALID_REQUEST, "id must be a string, a number or null")
    if isinstance(req_id, bool):
        raise RpcError(INVALID_REQUEST, "id must be a string, a number or null")
    expires_at = obj.get("expires_at")
    if expires_at is not None and (
        not isinstance(expires_at, int | float) or isinstance(expires_at, bool) or expires_at != expires_at
    ):
        raise RpcError(INVALID_REQUEST, "expires_at must be a number (unix seconds)")
    return Request(method, params, req_id, not has_id, expires_at)


def request_id_of(obj: Any) -> Any:
    """The id to answer an invalid request with (null when it has no usable one)."""
    if isinstance(obj, dict):
        rid = obj.get("id")
        if isinstance(rid, str | int | float) and not isinstance(rid, bool):
            return rid
    return None


def result_response(req_id: Any, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req_id, "result": result}


def error_response(req_id: Any, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req_id, "error": error.to_dict()}


def encode(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# --- daemon <-> child messages (msgpack arrays; the first item names the kind) -----
# daemon -> child
RUN = "run"  # [RUN, job_seq, attempt, job_id, command, timeout|None, cwd|None, env|None, kill_grace]
ABORT = "abort"  # [ABORT, job_seq, reason]  kill the job (cancel, shutdown) and report it
EXIT = "exit"  # [EXIT]  finish what you hold, then exit
# child -> daemon
HELLO = "hello"  # [HELLO, child_id, pid]
STARTED = "started"  # [STARTED, child_id, job_seq, attempt, t, pid, segment, out_off, err_off]
FINISHED = "finished"  # see Finished below
HEARTBEAT = "heartbeat"  # [HEARTBEAT, child_id]
RETURNED = "returned"  # [RETURNED, child_id, job_seq, attempt]  not started, give it back
BYE = "bye"  # [BYE, child_id]


@dataclass(slots=True)
class Finished:
    child_id: int
    job_seq: int
    attempt: int
    ended_at: float
    exit_code: int | None
    signal: int | None
    timed_out: bool
    aborted: str | None  # why the daemon asked to kill it ("cancel", "shutdown"), or None
    out_len: int | None  # None: unknown (the child died)
    err_len: int | None
    error: str | None  # the job could not be started at all (bad cwd, ...)

    def to_msg(self) -> list[Any]:
        return [
            FINISHED, self.child_id, self.job_seq, self.attempt, self.ended_at, self.exit_code,
            self.signal, self.timed_out, self.aborted, self.out_len, self.err_len, self.error,
        ]  # fmt: skip

    @classmethod
    def from_msg(cls, msg: list[Any]) -> Finished:
        return cls(*msg[1:12])
