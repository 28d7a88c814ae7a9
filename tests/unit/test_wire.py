"""Every daemon<->child message survives the trip through msgpack, and nothing else
is taken for one."""

from __future__ import annotations

import msgpack
import pytest

from queuectl.daemon import wire

SAMPLES: list[wire.Message] = [
    wire.Run(7, 2, "job-1", "echo hi", 30.0, "/tmp", {"A": "1"}, 5.0),
    wire.Run(8, 1, "j", "true", None, None, None, 0.0),
    wire.Abort(7, "cancel"),
    wire.Exit(),
    wire.Hello(3, 4242, "cgroup"),
    wire.Started(3, 7, 2, 1700000000.25, 999, "1-3-1", 0, 12),
    wire.Finished(3, 7, 2, 1700000001.5, 0, None, False, None, 3, 0, None),
    wire.Finished(3, 7, 2, 1700000001.5, None, 9, True, "cancel", None, None, "could not start: x"),
    wire.Heartbeat(3),
    wire.Returned(3, 7, 2),
    wire.Bye(3),
]


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips(msg: wire.Message) -> None:
    assert wire.decode(wire.encode(msg)) == msg


def test_the_tag_names_the_kind_and_fields_follow_in_order() -> None:
    assert msgpack.unpackb(wire.encode(wire.Returned(3, 7, 2))) == ["returned", 3, 7, 2]


@pytest.mark.parametrize("raw", [
    b"", b"\xc1", msgpack.packb("run"), msgpack.packb([]), msgpack.packb(["nope", 1]),
    msgpack.packb(["returned", 3, 7]),  # a field short
    msgpack.packb(["bye", 3, 4]),  # a field too many
    msgpack.packb({"kind": "bye"}),
])  # fmt: skip
def test_anything_else_is_refused(raw: bytes) -> None:
    with pytest.raises(wire.WireError):
        wire.decode(raw)
