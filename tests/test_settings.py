"""Config keys: parsing and validation without a daemon."""

from __future__ import annotations

import pytest

from queuectl import settings
from queuectl.jobs import ValidationError


def test_parse_types() -> None:
    assert settings.parse("max_retries", "5") == 5
    assert settings.parse("backoff_base", "1.5") == 1.5
    assert settings.parse("synchronous", "full") == "FULL"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("nope", "1", "unknown config key"),
        ("max_retries", "three", "must be an integer"),
        ("max_retries", "-1", ">= 0"),
        ("backoff_base", "0.5", ">= 1"),
        ("workers", "1000", "<= 256"),
        ("synchronous", "OFF", "one of NORMAL, FULL"),
    ],
)
def test_bad_values_are_refused(key: str, value: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        settings.parse(key, value)


def test_check_refuses_wrong_json_types() -> None:
    with pytest.raises(ValidationError):
        settings.check("max_retries", 2.5)
    with pytest.raises(ValidationError):
        settings.check("max_retries", True)
    assert settings.check("kill_grace", 2) == 2.0


def test_defaults_cover_every_key() -> None:
    assert set(settings.defaults()) == set(settings.SETTINGS)
    for key, value in settings.defaults().items():
        assert settings.check(key, value) == value
