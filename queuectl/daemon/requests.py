"""Control requests: envelopes, batches, and running each request against the method
table, one reply message per request message.

The answers of a request (or of every request in a batch) are collected and sent
together once every one of them is in: a handler may answer later (`job.wait`,
`job.cancel` of a running job), and the reply to its message then waits for it.
A notification is answered with nothing at once, whatever its method does
afterwards, so a REQ client never reads a stale reply.

Each request runs inside a SAVEPOINT and a journal mark: a request that fails
(an error it answers with, or a bug) leaves neither the database nor memory
changed. A request read after its `expires_at` is refused, not run.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import structlog

from queuectl import protocol as P
from queuectl.daemon import rpc
from queuectl.daemon.journal import Journal
from queuectl.daemon.store.interface import Storage

log = structlog.get_logger("queuectl")

# Methods that free disk space: on a full disk they may use the space held in reserve.
FREES_SPACE = frozenset({"job.delete"})

# Queues (routing envelope, JSON document or None for an empty frame) to send.
SendReply = Callable[[list[bytes], Any], None]


def split_envelope(frames: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """ROUTER frames -> (routing envelope, body). A REQ client's message is
    [identity, b"", payload]; a DEALER may send anything."""
    try:
        split = frames.index(b"", 1)
    except ValueError:
        return frames[:1], frames[1:]
    return frames[: split + 1], frames[split + 1 :]


def frees_space(frames: list[bytes]) -> bool:
    """Whether a request message only asks for methods that free space."""
    try:
        doc = json.loads(frames[-1])
    except (ValueError, IndexError, RecursionError):
        return False
    items = doc if isinstance(doc, list) else [doc]
    return bool(items) and all(isinstance(i, dict) and i.get("method") in FREES_SPACE for i in items)


class PendingReply:
    """The answers owed for one request message (a single request or a batch)."""

    __slots__ = ("routing", "send", "batch", "answers", "answered", "missing")

    def __init__(self, routing: list[bytes], send: SendReply, size: int, batch: bool):
        self.routing = routing
        self.send = send
        self.batch = batch
        self.answers: list[dict[str, Any] | None] = [None] * size
        self.answered = [False] * size
        self.missing = size

    def answer(self, index: int, doc: dict[str, Any] | None) -> None:
        """The answer of request `index` (None: a notification, which gets none)."""
        if self.answered[index]:
            return  # answered once already (a deferred answer racing its deadline)
        self.answered[index] = True
        self.answers[index] = doc
        self.missing -= 1
        if self.missing:
            return
        if self.batch:
            docs = [a for a in self.answers if a is not None]
            self.send(self.routing, docs or None)
        else:
            self.send(self.routing, self.answers[0])


class Requests:
    def __init__(self, registry: rpc.Registry, api: Any, store: Storage, journal: Journal,
                 reply: SendReply):  # fmt: skip
        self.registry = registry
        self.api = api
        self.store = store
        self.journal = journal
        self.reply = reply
        # How a request for a memory-only method is spelt (a quick look before decoding).
        self.memory_names = [f'"{m.name}"'.encode() for m in registry.methods.values() if m.memory_only]

    def memory_request(self, frames: list[bytes]) -> tuple[list[bytes], Any] | None:
        """(routing, decoded request) when the message is a lone request for a memory-only
        method (`daemon.status`: it writes nothing and reads what memory holds), which may
        be answered without a transaction (answer_alone); None for any other message."""
        if not any(name in frames[-1] for name in self.memory_names):
            return None
        routing, body = split_envelope(frames)
        if len(body) != 1:
            return None
        try:
            doc = P.decode_payload(body[0])
        except P.RpcError:
            return None
        name = doc.get("method") if isinstance(doc, dict) else None
        spec = self.registry.methods.get(name) if isinstance(name, str) else None
        if spec is None or not spec.memory_only:
            return None
        return routing, doc

    def answer_alone(self, routing: list[bytes], doc: Any, now: float) -> None:
        """Run what memory_request found; its reads' store errors propagate."""
        self.call_one(doc, PendingReply(routing, self.reply, 1, batch=False), 0, now, use_store=False)

    def handle(self, frames: list[bytes], now: float) -> None:
        """One request message from the control socket."""
        routing, body = split_envelope(frames)
        if len(body) != 1:
            frames_err = P.RpcError(P.INVALID_REQUEST, "send one JSON-RPC request per ZeroMQ message (one frame)")
            self.reply(routing, P.error_response(None, frames_err))
            return
        try:
            doc = P.decode_payload(body[0])
        except P.RpcError as err:
            self.reply(routing, P.error_response(None, err))
            return
        if not isinstance(doc, list):
            self.call_one(doc, PendingReply(routing, self.reply, 1, batch=False), 0, now)
            return
        if not doc:
            self.reply(routing, P.error_response(None, P.RpcError(P.INVALID_REQUEST, "empty batch")))
            return
        if len(doc) > P.MAX_BATCH:
            too_many = P.RpcError(P.INVALID_REQUEST, f"a batch may hold at most {P.MAX_BATCH} requests")
            self.reply(routing, P.error_response(None, too_many))
            return
        pending = PendingReply(routing, self.reply, len(doc), batch=True)
        for index, item in enumerate(doc):
            self.call_one(item, pending, index, now)

    def call_one(self, obj: Any, pending: PendingReply, index: int, now: float, use_store: bool = True) -> None:
        """Run one request; its answer goes to `pending` now, or later if deferred."""
        try:
            req = P.parse_request(obj)
        except P.RpcError as err:
            pending.answer(index, P.error_response(P.request_id_of(obj), err))
            return
        if req.expires_at is not None and now > req.expires_at:
            # Its client has given up (or this daemon was paused): running it now would
            # do what the client was told had failed.
            expired = P.RpcError(P.REQUEST_EXPIRED, "the request expired before the daemon read it",
                                 {"expires_at": req.expires_at})  # fmt: skip
            pending.answer(index, None if req.is_notification else P.error_response(req.id, expired))
            return

        def deferred(result: Any = None, error: P.RpcError | None = None) -> None:
            if not req.is_notification:
                doc = P.error_response(req.id, error) if error else P.result_response(req.id, result)
                pending.answer(index, doc)

        mark = self.journal.mark()
        spec = self.registry.methods.get(req.method)
        savepoint = use_store and not (spec is not None and spec.read_only)
        try:
            with self.store.savepoint() if savepoint else contextlib.nullcontext():
                result = self.registry.call(self.api, req.method, req.params, deferred)
        except P.RpcError as err:
            self.journal.rollback_to(mark)
            pending.answer(index, None if req.is_notification else P.error_response(req.id, err))
            return
        except self.store.errors:
            raise  # the whole turn fails; the loop runs each of its requests again alone
        except Exception as exc:  # a bug: undo it, answer it, keep serving
            self.journal.rollback_to(mark)
            log.exception("rpc.internal_error", method=req.method)
            bug = P.RpcError(P.INTERNAL_ERROR, f"internal error in {req.method}: {exc}")
            pending.answer(index, None if req.is_notification else P.error_response(req.id, bug))
            return
        if req.is_notification:
            pending.answer(index, None)
        elif result is not rpc.DEFERRED:
            pending.answer(index, P.result_response(req.id, result))

    def storage_error(self, frames: list[bytes], exc: BaseException, now: float) -> None:
        """Answer a request whose own commit failed: from memory if its method can be
        (daemon.status), else with storage_error."""
        routing, body = split_envelope(frames)
        req_id = None
        doc = None
        try:
            doc = json.loads(body[0]) if body else None
            req_id = P.request_id_of(doc)
        except (ValueError, RecursionError):
            pass
        name = doc.get("method") if isinstance(doc, dict) else None
        spec = self.registry.methods.get(name) if isinstance(name, str) else None
        if spec is not None and spec.memory_only:
            self.call_one(doc, PendingReply(routing, self.reply, 1, batch=False), 0, now, use_store=False)
            return
        err = P.RpcError(P.STORAGE_ERROR, f"the daemon could not write its database: {exc}")
        self.reply(routing, P.error_response(req_id, err))
