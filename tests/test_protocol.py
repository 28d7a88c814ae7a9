"""The JSON-RPC codec without a daemon."""

from __future__ import annotations

import json

import pytest

from queuectl import protocol as P


def test_decode_and_parse_a_request() -> None:
    doc = P.decode_payload(b'{"jsonrpc":"2.0","id":1,"method":"job.get","params":{"id":"a"}}')
    req = P.parse_request(doc)
    assert (req.method, req.params, req.id, req.is_notification) == ("job.get", {"id": "a"}, 1, False)
    assert P.parse_request({"jsonrpc": "2.0", "method": "x"}).is_notification


@pytest.mark.parametrize("payload", [b"{", b"\xff\xfe", b"nul", b'{"a": }'])
def test_parse_errors(payload: bytes) -> None:
    with pytest.raises(P.RpcError) as info:
        P.decode_payload(payload)
    assert info.value.code == P.PARSE_ERROR


def test_too_large_and_too_deep() -> None:
    with pytest.raises(P.RpcError) as info:
        P.decode_payload(b" " * (P.MAX_REQUEST_BYTES + 1))
    assert info.value.code == P.REQUEST_TOO_LARGE
    # Valid JSON, too deep to take: invalid_request (as docs/rpc.md lists it), and a message
    # that says so, not "not valid UTF-8".
    for deep in (b"[" * 5000 + b"]" * 5000, b'{"a":' * 5000 + b"1" + b"}" * 5000):
        with pytest.raises(P.RpcError) as info:
            P.decode_payload(deep)
        assert info.value.code == P.INVALID_REQUEST
        assert "nested too deeply" in info.value.message and "UTF-8" not in info.value.message


def test_parse_error_messages_say_what_is_wrong() -> None:
    with pytest.raises(P.RpcError) as info:
        P.decode_payload(b'{"a": "\xff"}')
    assert info.value.code == P.PARSE_ERROR and "not valid UTF-8" in info.value.message
    with pytest.raises(P.RpcError) as info:
        P.decode_payload(b'{"a": }')
    assert info.value.code == P.PARSE_ERROR
    assert "not valid JSON" in info.value.message and "UTF-8" not in info.value.message


@pytest.mark.parametrize(
    "obj",
    [
        [],
        "x",
        {"method": "a"},
        {"jsonrpc": "1.0", "method": "a"},
        {"jsonrpc": "2.0"},
        {"jsonrpc": "2.0", "method": 5},
        {"jsonrpc": "2.0", "method": "a", "params": "x"},
        {"jsonrpc": "2.0", "method": "a", "id": {"x": 1}},
        {"jsonrpc": "2.0", "method": "a", "id": True},
    ],
)
def test_invalid_requests(obj: object) -> None:
    with pytest.raises(P.RpcError) as info:
        P.parse_request(obj)
    assert info.value.code == P.INVALID_REQUEST


def test_error_response_shape() -> None:
    err = P.RpcError(P.JOB_NOT_FOUND, "no job", {"id": "x"})
    doc = json.loads(P.encode(P.error_response(3, err)))
    assert doc == {"jsonrpc": "2.0", "id": 3,
                   "error": {"code": -32001, "message": "no job", "data": {"name": "job_not_found", "id": "x"}}}


def test_finished_message_round_trip() -> None:
    fin = P.Finished(1, 2, 3, 4.5, 0, None, False, None, 10, 0, None)
    assert P.Finished.from_msg(fin.to_msg()) == fin
