"""queue.* handlers: named queues, their limits, shares, pausing and resuming."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from queuectl import protocol as P
from queuectl import queues as Q
from queuectl import ratelimit as R
from queuectl.daemon.rpc import Param, Send, method

if TYPE_CHECKING:
    from queuectl.daemon.api import Api

QUEUE_RESULT = ('{"name", "concurrency", "weight", "paused", "pending", "running", "assigned", '
                '"slots_in_use", "slot_indices", "oldest_pending_age_s", "counts", "created_at", "rate", '
                '"rate_limited", "rate_free_at"}')  # fmt: skip
RATE = ("at most N job starts in any PERIOD: N/PERIOD, e.g. 10/m, 2/s, 5/10s, 100/hour "
        "(units s, m, h, d or second, minute, hour, day); none: no limit")
NAME = Param("name", "string", required=True, description="the queue's name")


def _checked(fn: Any, value: Any) -> Any:
    try:
        return fn(value)
    except Q.ValidationError as exc:
        raise P.invalid_params(str(exc), exc.field) from None


def find_queue(api: Api, name: Any) -> Q.QueueConfig:
    config = api.queues.get(name) if isinstance(name, str) else None
    if config is None:
        raise P.RpcError(P.QUEUE_NOT_FOUND, f"no queue named {name!r} (queuectl queue list shows them)",
                         {"queue": name})  # fmt: skip
    return config


@method(
    "queue.add", NAME,
    Param("concurrency", "integer", Q.DEFAULT_CONCURRENCY,
          f"slots its running jobs may hold at once, 0 to {Q.MAX_CONCURRENCY:,} (0: none start)"),
    Param("weight", "integer", 1, f"its share of the pool against other busy queues, 1 to {Q.MAX_WEIGHT}"),
    Param("rate", "string", description=RATE + " (the default)", nullable=True),
    description="Create a queue (saved; it survives restarts). A queue that exists already is an error.",
    result=QUEUE_RESULT,
    errors=(P.INVALID_PARAMS, P.INVALID_STATE),
)  # fmt: skip
def add(api: Api, send: Send, name: str, concurrency: int, weight: int, rate: str | None) -> dict[str, Any]:
    _checked(lambda v: Q.validate_name(v, "name"), name)
    _checked(Q.validate_concurrency, concurrency)
    _checked(Q.validate_weight, weight)
    limit = None if rate is None else _checked(R.parse_rate, rate)
    if api.queues.get(name) is not None:
        raise P.RpcError(P.INVALID_STATE, f"queue {name!r} exists already (queue set changes it)",
                         {"queue": name})  # fmt: skip
    config = Q.QueueConfig(name, concurrency, weight, False, api.now, limit)
    api.queues.save(config, api.now)
    api.events.emit("queue.added", queue=name, concurrency=concurrency, weight=weight, rate=R.rate_text(limit))
    return api.queues.view(config, api.now)


@method("queue.list", description="Every queue, by name, with its counts.", result=f"[{QUEUE_RESULT}, ...]")
def list_(api: Api, send: Send) -> list[dict[str, Any]]:
    return api.queues.views(api.now)


@method("queue.get", NAME, description="One queue, with its counts.", result=QUEUE_RESULT,
        errors=(P.QUEUE_NOT_FOUND,))  # fmt: skip
def get(api: Api, send: Send, name: str) -> dict[str, Any]:
    return api.queues.view(find_queue(api, name), api.now)


@method(
    "queue.set", NAME,
    Param("concurrency", "integer", description=f"0 to {Q.MAX_CONCURRENCY:,}", nullable=True),
    Param("weight", "integer", description=f"1 to {Q.MAX_WEIGHT}", nullable=True),
    Param("rate", "string", description=RATE, nullable=True),
    description="Change a queue's concurrency, weight or rate limit, at once. Lowering the concurrency "
    "stops nothing that runs: no job of the queue starts until its running jobs hold fewer slots than the "
    "new limit. A new rate counts the starts of the last period already made.",
    result=QUEUE_RESULT,
    errors=(P.INVALID_PARAMS, P.QUEUE_NOT_FOUND),
)  # fmt: skip
def set_(api: Api, send: Send, name: str, concurrency: int | None, weight: int | None,
         rate: str | None) -> dict[str, Any]:  # fmt: skip
    config = find_queue(api, name)
    if concurrency is None and weight is None and rate is None:
        raise P.invalid_params("give concurrency, weight or rate", "concurrency")
    changed = replace(config)
    if concurrency is not None:
        changed.concurrency = _checked(Q.validate_concurrency, concurrency)
    if weight is not None:
        changed.weight = _checked(Q.validate_weight, weight)
    if rate is not None:
        changed.rate = _checked(R.parse_rate, rate)
    api.queues.save(changed, api.now)
    api.events.emit("queue.changed", queue=name, concurrency=changed.concurrency, weight=changed.weight,
                    rate=R.rate_text(changed.rate))  # fmt: skip
    return api.queues.view(changed, api.now)


@method(
    "queue.pause", NAME,
    Param("kill", "boolean", False, "also stop its running jobs: they go back to pending, the attempt "
          "not counted against max_retries"),
    description="No job of the queue starts until it is resumed (saved: it survives restarts). Running "
    "jobs go on, unless kill. Pausing a paused queue changes nothing (changed: false), but kill still "
    "stops what runs.",
    result=f'{{"changed": bool, "queue": {QUEUE_RESULT}}}',
    errors=(P.QUEUE_NOT_FOUND,),
)  # fmt: skip
def pause(api: Api, send: Send, name: str, kill: bool) -> dict[str, Any]:
    config = find_queue(api, name)
    changed = api.queues.set_paused(config.name, True, kill)
    return {"changed": changed, "queue": api.queues.view(api.queues.get(name) or config, api.now)}


@method(
    "queue.resume", NAME,
    description="Its jobs start again. Resuming a queue that is not paused changes nothing (changed: false).",
    result=f'{{"changed": bool, "queue": {QUEUE_RESULT}}}',
    errors=(P.QUEUE_NOT_FOUND,),
)  # fmt: skip
def resume(api: Api, send: Send, name: str) -> dict[str, Any]:
    config = find_queue(api, name)
    changed = api.queues.set_paused(config.name, False)
    return {"changed": changed, "queue": api.queues.view(api.queues.get(name) or config, api.now)}


@method(
    "queue.remove", NAME,
    description="Remove a queue. Refused for `default`, and while the queue holds jobs that may still run "
    "(scheduled, pending, assigned, processing, failed, or dead: `dlq retry` brings those back), and while "
    "a schedule puts its runs there; delete or cancel them (change the schedule) first. Its completed and "
    "cancelled jobs stay.",
    result='{"removed": name}',
    errors=(P.QUEUE_NOT_FOUND, P.INVALID_STATE, P.INVALID_PARAMS),
)  # fmt: skip
def remove(api: Api, send: Send, name: str) -> dict[str, Any]:
    config = find_queue(api, name)
    if config.name == Q.DEFAULT:
        raise P.invalid_params("the default queue cannot be removed", "name")
    feeding = sorted(s["name"] for s in api.store.schedule_list() if s["job"].get("queue") == name)
    if feeding:
        raise P.RpcError(P.INVALID_STATE, f"queue {name!r} is where schedule {feeding[0]!r} puts its runs; "
                         "change or remove the schedule first", {"queue": name, "schedules": feeding})  # fmt: skip
    held = api.queues.in_use(name)
    if held:
        what = ", ".join(f"{n} {state}" for state, n in held.items())
        raise P.RpcError(P.INVALID_STATE, f"queue {name!r} holds jobs that may still run ({what}); "
                         "cancel or delete them first", {"queue": name, "counts": held})  # fmt: skip
    api.queues.remove(name)
    return {"removed": name}


METHODS = [add, list_, get, set_, pause, resume, remove]
