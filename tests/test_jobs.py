"""The job model without a daemon: validation, time, backoff, retry policy."""

from __future__ import annotations

import random

import pytest

from queuectl import jobs as J


def test_minimal_spec_gets_defaults() -> None:
    spec = J.validate_spec({"command": "echo hi"}, now=100.0)
    assert spec.command == "echo hi"
    assert spec.id is None and spec.priority == 0 and spec.timeout is None
    assert spec.max_retries is None and spec.run_at is None and spec.env == {}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("echo", None),
        ([], None),
        ({}, "command"),
        ({"command": ""}, "command"),
        ({"command": "   "}, "command"),
        ({"command": 5}, "command"),
        ({"command": "a\x00b"}, "command"),
        ({"command": "x", "id": ""}, "id"),
        ({"command": "x", "id": 7}, "id"),
        ({"command": "x", "id": "a\nb"}, "id"),
        ({"command": "x", "id": "a" * 201}, "id"),
        ({"command": "x", "priority": "high"}, "priority"),
        ({"command": "x", "priority": 1.5}, "priority"),
        ({"command": "x", "priority": True}, "priority"),
        ({"command": "x", "timeout": -1}, "timeout"),
        ({"command": "x", "timeout": "10"}, "timeout"),
        ({"command": "x", "max_retries": -1}, "max_retries"),
        ({"command": "x", "max_retries": "3"}, "max_retries"),
        ({"command": "x", "run_at": "tomorrow"}, "run_at"),
        ({"command": "x", "run_at": 5}, "run_at"),
        ({"command": "x", "delay": -3}, "delay"),
        ({"command": "x", "delay": 1, "run_at": "2030-01-01T00:00:00Z"}, "delay"),
        ({"command": "x", "cwd": "relative/dir"}, "cwd"),
        ({"command": "x", "env": {"A": 1}}, "env"),
        ({"command": "x", "env": {"A=B": "1"}}, "env"),
        ({"command": "x", "priorty": 3}, "priorty"),
    ],
)
def test_invalid_specs_name_their_field(raw: object, field: str | None) -> None:
    with pytest.raises(J.ValidationError) as info:
        J.validate_spec(raw, now=0.0)
    assert info.value.field == field
    assert str(info.value)


def test_unicode_ids_and_commands_are_fine() -> None:
    spec = J.validate_spec({"id": "jöb-✓-日本", "command": "echo 'héllo ✓'"}, now=0)
    assert spec.id == "jöb-✓-日本"


def test_timeout_zero_means_none_explicitly() -> None:
    assert J.validate_spec({"command": "x", "timeout": 0}, 0).timeout == 0.0
    assert J.validate_spec({"command": "x", "timeout": 2.5}, 0).timeout == 2.5


def test_time_round_trip_and_naive_is_utc() -> None:
    ts = J.parse_time("2030-01-02T03:04:05.250Z")
    assert J.format_time(ts) == "2030-01-02T03:04:05.250000Z"
    assert J.parse_time("2030-01-02T03:04:05") == J.parse_time("2030-01-02T03:04:05+00:00")
    assert J.parse_time("2030-01-02T05:04:05+02:00") == J.parse_time("2030-01-02T03:04:05Z")
    assert J.format_time(None) is None


def test_delay_sets_run_at_and_initial_state() -> None:
    spec = J.validate_spec({"command": "x", "delay": 30}, now=1000.0)
    assert spec.run_at == 1030.0
    assert J.initial_state(spec.run_at, 1000.0) == J.SCHEDULED
    assert J.initial_state(999.0, 1000.0) == J.PENDING
    assert J.initial_state(None, 1000.0) == J.PENDING


def test_backoff_is_base_to_the_attempts_capped() -> None:
    assert J.backoff_delay(1, 2, 3600) == 2
    assert J.backoff_delay(2, 2, 3600) == 4
    assert J.backoff_delay(3, 3, 3600) == 27
    assert J.backoff_delay(20, 2, 60) == 60
    assert J.backoff_delay(10_000, 10, 60) == 60  # no overflow


def test_backoff_jitter_only_shortens_within_the_fraction() -> None:
    rng = random.Random(1)
    delays = [J.backoff_delay(3, 2, 3600, jitter=0.5, rng=rng) for _ in range(200)]
    assert all(4.0 <= d <= 8.0 for d in delays)
    assert len(set(delays)) > 100


def test_retry_policy_runs_max_retries_plus_one_times() -> None:
    # attempts counts charged attempts so far, including the one that just failed
    out = J.after_failure(1, 3, now=100.0, base=2, cap=3600)
    assert out == J.FailureOutcome(J.FAILED, 102.0)
    assert J.after_failure(3, 3, 100.0, 2, 3600) == J.FailureOutcome(J.FAILED, 108.0)
    assert J.after_failure(4, 3, 100.0, 2, 3600).state == J.DEAD
    assert J.after_failure(1, 0, 100.0, 2, 3600).state == J.DEAD


def test_describe_failure() -> None:
    assert J.describe_failure(3, None, False) == "exit code 3"
    assert J.describe_failure(None, 9, False) == "killed by signal 9"
    assert J.describe_failure(None, 15, True) == "timed out"
