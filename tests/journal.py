"""Reading journald's native protocol, for tests that stand in for journald."""

from __future__ import annotations

import struct


def parse_entry(data: bytes) -> list[tuple[str, bytes]]:
    """NAME=value\\n, or NAME\\n <u64 LE length> <bytes> \\n, in the order sent."""
    fields = []
    i = 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            name, value = line.split(b"=", 1)
            i = nl + 1
        else:
            name = line
            (size,) = struct.unpack("<Q", data[nl + 1 : nl + 9])
            value = data[nl + 9 : nl + 9 + size]
            assert data[nl + 9 + size : nl + 10 + size] == b"\n"
            i = nl + 10 + size
        fields.append((name.decode(), value))
    return fields


def entry_dict(data: bytes) -> dict[str, str]:
    """The entry as a dict of text, asserting no field was sent twice."""
    fields: dict[str, str] = {}
    for name, value in parse_entry(data):
        assert name not in fields, f"field {name!r} twice"
        fields[name] = value.decode()
    return fields
