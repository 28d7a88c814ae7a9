"""JSON for the CLI's fast path (queuectl.client.fast) without the json package: CPython's
own C parts of it, which import nothing. What it sends is byte for byte what
queuectl.client.rpc sends (json.dumps); what it reads is what json.loads reads (checked
by tests/test_cli_fast.py).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any


def request(method: str, params: dict[str, Any] | None, expires_at: float) -> bytes:
    """What RpcClient.call sends (json.dumps of the same document)."""
    doc: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method}
    if params is not None:
        doc["params"] = params
    doc["expires_at"] = expires_at
    return dumps(doc).encode()


def dumps(value: Any) -> str:
    """json.dumps for what a request holds: dicts, str, int, finite float."""
    try:
        from _json import encode_basestring_ascii as quote
    except ImportError:  # not CPython
        import json

        return json.dumps(value)
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{quote(k)}: {dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bool) or value is None:
        raise TypeError(f"not expected in a request: {value!r}")
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return float.__repr__(value)
    raise TypeError(f"not expected in a request: {value!r}")


class _Decoder:
    """The attributes _json.make_scanner reads from a json.JSONDecoder."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}.__getitem__
    memo: dict[str, str] = {}


def loads(text: str) -> Any:
    """json.loads, and its error for what is not one JSON document."""
    try:
        from _json import make_scanner
    except ImportError:  # not CPython
        import json

        return json.loads(text)
    body = text.strip(" \t\n\r")
    try:
        value, end = make_scanner(_Decoder())(body, 0)  # type: ignore[arg-type]  # duck-typed in C
    except StopIteration:
        end = -1
    if end != len(body):
        import json

        return json.loads(text)  # raises, with json's own message
    return value
