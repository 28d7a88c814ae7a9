"""queuectl.durations: what `--delay`, `--timeout`, `--wait-timeout` and `wait --timeout`
accept, on the click path and the fast path alike."""

from __future__ import annotations

import math

import pytest

from queuectl.durations import DurationError, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("2.5", 2.5), ("0", 0.0), (" 2e1 ", 20.0), ("60", 60.0),
    ("90s", 90.0), ("10m", 600.0), ("1h30m", 5400.0), ("2d", 172800.0), ("500ms", 0.5),
    ("1.5h", 5400.0), ("2m30s", 150.0), ("1h 30m", 5400.0), ("1H30M", 5400.0), ("1w", 604800.0),
    ("1d2h3m4s", 93784.0), ("0.25s", 0.25), ("1s500ms", 1.5),
])  # fmt: skip
def test_seconds_and_units(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_plain_numbers_are_floats_for_the_range_check() -> None:
    assert math.isnan(parse_duration("nan"))
    assert parse_duration("-1") == -1.0
    assert parse_duration("inf") == math.inf


@pytest.mark.parametrize("text", ["", " ", "abc", "10x", "m", "1h1h", "30m1h", "1..5s", "-5m", "1h30",
                                  "h1", "1.2.3m", "5 minutes", "1e3m", "ms"])  # fmt: skip
def test_bad_durations_say_what_to_write(text: str) -> None:
    with pytest.raises(DurationError) as info:
        parse_duration(text)
    message = str(info.value)
    assert repr(text) in message and "10m" in message and "\n" not in message


def test_the_module_imports_nothing() -> None:
    import ast
    from pathlib import Path

    import queuectl.durations as d

    tree = ast.parse(Path(d.__file__).read_text())
    imported = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    assert all(isinstance(n, ast.ImportFrom) and n.module == "__future__" for n in imported)


def test_config_settings_in_seconds_take_units() -> None:
    from queuectl import settings
    from queuectl.jobs import ValidationError

    assert settings.parse("default_timeout", "1h30m") == 5400.0
    assert settings.parse("kill_grace", "2.5") == 2.5
    with pytest.raises(ValidationError, match="invalid duration '1x'"):
        settings.parse("shutdown_grace", "1x")
    with pytest.raises(ValidationError, match="<= 3600"):
        settings.parse("kill_grace", "2h")
    with pytest.raises(ValidationError, match="integer"):
        settings.parse("max_retries", "1m")
