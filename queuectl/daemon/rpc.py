"""The RPC method table: declaring handlers, checking their params, `rpc.discover`.

A handler is a function `handler(api, send, **params)` declared with `@method(...)`,
which attaches its description (params, result, errors) to it; nothing is
registered by importing a module. queuectl/daemon/methods/__init__.py lists every
handler in one `Registry`. A handler that answers later (job.wait) returns
`DEFERRED` and calls `send(result)` or `send(error=RpcError)` when it can.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from queuectl import protocol as P

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


class _Deferred:
    """The answer comes later, through `send`."""

    def __repr__(self) -> str:
        return "DEFERRED"


DEFERRED = _Deferred()

# send(result) or send(error=RpcError): a deferred answer.
Send = Callable[..., None]


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
    # Answered from memory when the database cannot be reached (its reads fall back):
    # `status` must still say what is going on while the database is away.
    memory_only: bool = False
    # Writes nothing (database or memory): run without a savepoint, as there is nothing
    # to undo if it fails.
    read_only: bool = False
    names: frozenset[str] = field(init=False)  # of its params, for bind_params

    def __post_init__(self) -> None:
        self.names = frozenset(p.name for p in self.params)


def method(
    name: str,
    *params: Param,
    description: str,
    result: str,
    errors: tuple[int, ...] = (),
    memory_only: bool = False,
    read_only: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a handler (it is served once listed in a Registry)."""

    def declare(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.rpc_method = Method(name, fn, params, description, result, errors,  # type: ignore[attr-defined]
                               memory_only, read_only)  # fmt: skip
        return fn

    return declare


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
            raise P.invalid_params(f"{spec.name} takes at most {len(spec.params)} positional params")
        params = {p.name: v for p, v in zip(spec.params, params, strict=False)}
    known = spec.names
    unknown = sorted(params.keys() - known)
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


class Registry:
    """Every method the daemon serves, by name."""

    def __init__(self, handlers: Iterable[Callable[..., Any]]):
        self.methods: dict[str, Method] = {}
        for fn in handlers:
            spec: Method = fn.rpc_method  # type: ignore[attr-defined]
            if spec.name in self.methods:
                raise ValueError(f"method {spec.name} declared twice")
            self.methods[spec.name] = spec

    def call(self, api: Any, name: str, params: Any, send: Send) -> Any:
        spec = self.methods.get(name)
        if spec is None:
            raise P.RpcError(P.METHOD_NOT_FOUND, f"no such method: {name!r} (see rpc.discover)")
        bound = bind_params(spec, params)
        return spec.handler(api, send, **bound)

    def describe(self) -> dict[str, Any]:
        """An OpenRPC-style description of every method."""
        methods = []
        for spec in sorted(self.methods.values(), key=lambda m: m.name):
            methods.append({
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
            })  # fmt: skip
        return {
            "openrpc": "1.2.6",
            "info": {"title": "queuectl control protocol", "version": "1"},
            "methods": methods,
            "errors": [{"code": c, "name": n} for c, n in sorted(P.ERROR_NAMES.items())],
        }
