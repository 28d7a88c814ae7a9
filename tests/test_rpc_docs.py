"""docs/rpc.md and rpc.discover agree: every method, every param (name, order, type,
required), every error code; no documented method that does not exist."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from queuectl import protocol as P
from queuectl.daemon.methods import REGISTRY

DOC = Path(__file__).resolve().parent.parent / "docs" / "rpc.md"


def _sections() -> dict[str, str]:
    text = DOC.read_text()
    methods_part = text.split("\n## Methods\n", 1)[1].split("\n## ", 1)[0]
    parts = re.split(r"^### `([a-z_]+\.[a-z_]+)`\s*$", methods_part, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def _param_rows(section: str) -> list[list[str]]:
    rows = []
    for line in section.splitlines():
        m = re.match(r"^\| `([a-z_]+)` \|(.*)\|\s*$", line)
        if m:
            rows.append([m.group(1), *(c.strip() for c in m.group(2).split("|"))])
    return rows


def _doc_type(schema_type: Any) -> str:
    if isinstance(schema_type, list):
        return " or ".join(schema_type)
    return schema_type


@pytest.fixture(scope="module")
def described() -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in REGISTRY.describe()["methods"]}


def test_every_method_is_documented_and_nothing_else(described: dict[str, Any]) -> None:
    documented = set(_sections())
    assert documented == set(described), (
        f"missing from docs/rpc.md: {sorted(set(described) - documented)}; "
        f"documented but not a method: {sorted(documented - set(described))}"
    )


def test_every_param_is_documented_in_order_with_its_type(described: dict[str, Any]) -> None:
    sections = _sections()
    for name, spec in described.items():
        rows = _param_rows(sections[name])
        assert [r[0] for r in rows] == [p["name"] for p in spec["params"]], name
        for row, param in zip(rows, spec["params"], strict=True):
            _, doc_type, required = row[:3]
            assert doc_type == _doc_type(param["schema"]["type"]), (name, param["name"])
            assert required == ("yes" if param["required"] else "no"), (name, param["name"])
        if not spec["params"]:
            assert "No params" in sections[name], f"{name}: say 'No params'"


def test_each_method_has_an_example_request_and_reply(described: dict[str, Any]) -> None:
    for name, section in _sections().items():
        blocks = re.findall(r"```json\n(.*?)```", section, flags=re.S)
        assert len(blocks) >= 2, f"{name}: an example request and reply"
        request, reply = json.loads(blocks[0]), json.loads(blocks[1])
        assert request["jsonrpc"] == "2.0" and request["method"] == name
        assert reply["id"] == request["id"] and ("result" in reply or "error" in reply)
        for error in described[name]["errors"]:
            assert error["name"] in section, f"{name}: error {error['name']} undocumented"


def test_every_error_code_is_in_the_table() -> None:
    text = DOC.read_text()
    for code, name in P.ERROR_NAMES.items():
        assert re.search(rf"^\| {code} \| `{name}` \|", text, flags=re.M), (code, name)


def test_a_running_daemon_discovers_the_same_methods(daemon) -> None:
    doc = daemon.call("rpc.discover")
    assert doc == json.loads(json.dumps(REGISTRY.describe()))
    assert {m["name"] for m in doc["methods"]} == set(_sections())


def test_times_are_documented_as_they_are_sent() -> None:
    """Microseconds, as format_time sends them (issue 12: the page said milliseconds)."""
    from queuectl import jobs as J

    text = DOC.read_text()
    shape = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
    assert shape.match(J.format_time(1.5) or "")
    transport = text.split("## Transport", 1)[1].split("\n## ", 1)[0]
    times = transport.split("- **Times**", 1)[1].split("\n- ", 1)[0]
    assert "microseconds" in times and "with milliseconds" not in times
    documented = re.findall(r"`(\d{4}-[^`]*Z)`", times)
    assert documented and all(shape.match(t) for t in documented), documented
    # Every time in an example request or reply has that shape too.
    examples = re.findall(r'"(\d{4}-\d\d-\d\dT[0-9:.]+Z)"', text)
    assert examples and [t for t in examples if not shape.match(t)] == []
