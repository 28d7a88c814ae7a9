"""The RPC method table: registration, parameter checking and `rpc.discover`.

Handlers live in queuectl/daemon/methods/<namespace>.py, one module per RPC
namespace. Each is registered with `@method(...)`, declaring its parameters so
that type checks happen here once, and `rpc.discover` can describe them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from queuectl import protocol as P

if TYPE_CHECKING:
    from queuectl.daemon.supervisor import Supervisor

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: str  # a JSON type name, or "any"
    default: Any = None
    description: str = ""
    required: bool = False
    nullable: bool = False


@dataclass(slots=True)
class Method:
    name: str
    handler: Callable[..., Any]
    params: tuple[Param, ...]
    description: str
    result: str
    errors: tuple[int, ...] = field(default_factory=tuple)


METHODS: dict[str, Method] = {}


class Deferred:
    """Returned by a handler whose answer comes later (e.g. job.wait): the supervisor
    keeps the request's routing and the handler calls `resolve` / `reject` when ready."""

    __slots__ = ("send", "done")

    def __init__(self, send: Callable[[dict[str, Any]], None]):
        self.send = send
        self.done = False


def method(
    name: str,
    *params: Param,
    description: str,
    result: str,
    errors: tuple[int, ...] = (),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        METHODS[name] = Method(name, fn, params, description, result, errors)
        return fn

    return register


def _type_ok(value: Any, param: Param) -> bool:
    if value is None:
        return param.nullable
    if param.type == "any":
        return True
    if isinstance(value, bool) and param.type != "boolean":
        return False
    if param.type == "number" and isinstance(value, float) and value != value:
        return False
    return isinstance(value, _JSON_TYPES[param.type])


def bind_params(spec: Method, params: Any) -> dict[str, Any]:
    """Check params against the method's declaration; by-name or by-position."""
    if params is None:
        params = {}
    if isinstance(params, list):
        if len(params) > len(spec.params):
            raise P.invalid_params(
                f"{spec.name} takes at most {len(spec.params)} positional params"
            )
        params = {p.name: v for p, v in zip(spec.params, params, strict=False)}
    known = {p.name for p in spec.params}
    unknown = sorted(set(params) - known)
    if unknown:
        raise P.invalid_params(
            f"{spec.name} has no parameter {unknown[0]!r} (it takes: {', '.join(sorted(known)) or 'none'})",
            unknown[0],
        )
    bound: dict[str, Any] = {}
    for p in spec.params:
        if p.name not in params:
            if p.required:
                raise P.invalid_params(f"{spec.name} needs parameter {p.name!r}", p.name)
            bound[p.name] = p.default
            continue
        value = params[p.name]
        if not _type_ok(value, p):
            raise P.invalid_params(
                f"parameter {p.name!r} of {spec.name} must be of type {p.type}"
                + (" or null" if p.nullable else ""),
                p.name,
            )
        bound[p.name] = value
    return bound


def call(sup: Supervisor, name: str, params: Any, send: Callable[[dict[str, Any]], None]) -> Any:
    spec = METHODS.get(name)
    if spec is None:
        raise P.RpcError(P.METHOD_NOT_FOUND, f"no such method: {name!r} (see rpc.discover)")
    bound = bind_params(spec, params)
    return spec.handler(sup, send=send, **bound)


def describe() -> dict[str, Any]:
    """An OpenRPC-style description of every method."""
    methods = []
    for spec in sorted(METHODS.values(), key=lambda m: m.name):
        methods.append(
            {
                "name": spec.name,
                "description": spec.description,
                "params": [
                    {
                        "name": p.name,
                        "required": p.required,
                        "schema": {"type": [p.type, "null"] if p.nullable else p.type},
                        "description": p.description,
                        **({"default": p.default} if not p.required and p.default is not None else {}),
                    }
                    for p in spec.params
                ],
                "result": {"description": spec.result},
                "errors": [{"code": c, "name": P.ERROR_NAMES[c]} for c in spec.errors],
            }
        )
    return {
        "openrpc": "1.2.6",
        "info": {"title": "queuectl control protocol", "version": "1"},
        "methods": methods,
        "errors": [{"code": c, "name": n} for c, n in sorted(P.ERROR_NAMES.items())],
    }
