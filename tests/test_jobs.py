"""The job model without a daemon: validation, time, backoff, retry policy."""

from __future__ import annotations

import os
import random
import re

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
        ({"command": "x", "on": ""}, "on"),
        ({"command": "x", "on": "host a"}, "on"),
        ({"command": "x", "on": "-a"}, "on"),
        ({"command": "x", "on": "a" * 65}, "on"),
        ({"command": "x", "on": 7}, "on"),
        ({"command": "x", "on": ["a"]}, "on"),
    ],
)
def test_invalid_specs_name_their_field(raw: object, field: str | None) -> None:
    with pytest.raises(J.ValidationError) as info:
        J.validate_spec(raw, now=0.0)
    assert info.value.field == field
    assert str(info.value)


def test_on_pins_a_job_to_a_daemon_name() -> None:
    assert J.validate_spec({"command": "x"}, 0).on is None
    assert J.validate_spec({"command": "x", "on": None}, 0).on is None
    for name in ("b", "gpu-host.example.com", "A_1", "9" * 64):
        assert J.validate_spec({"command": "x", "on": name}, 0).on == name
    with pytest.raises(J.ValidationError, match=r"^on 'a b': a daemon name is 1 to 64 letters"):
        J.validate_spec({"command": "x", "on": "a b"}, 0)
    with pytest.raises(J.ValidationError) as info:  # (a long one is cut short in the message)
        J.validate_spec({"command": "x", "on": "x" * 10_000}, 0)
    assert len(str(info.value)) < 250


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


# --- run_at: one rule for every way in; no stored time breaks a reader (issue 12, item 10) ---


@pytest.mark.parametrize(
    "run_at",
    [
        "9999-12-31T23:59:59-14:00",  # year 10000 in UTC
        "9999-12-31T23:59:59.999999Z",  # rounds to year 10000 as a float
        "0001-01-01T00:00:00+14:00",  # year 0 in UTC
    ],
)
def test_run_at_that_cannot_be_shown_in_utc_is_refused(run_at: str) -> None:
    with pytest.raises(J.ValidationError) as info:
        J.validate_spec({"command": "x", "run_at": run_at}, now=0.0)
    assert info.value.field == "run_at"
    assert "9999" in str(info.value)


@pytest.mark.parametrize("run_at", ["9999-12-31T23:59:59Z", "9999-12-31T09:59:59-14:00",
                                    "0001-01-01T00:00:00Z", "1969-07-20T20:17:40Z"])  # fmt: skip
def test_run_at_at_the_edges_is_accepted_and_formats_back(run_at: str) -> None:
    spec = J.validate_spec({"command": "x", "run_at": run_at}, now=0.0)
    assert spec.run_at is not None
    assert J.parse_time(J.format_time(spec.run_at)) == spec.run_at


@pytest.mark.parametrize(
    "value", [1e20, -1e20, float("inf"), float("-inf"), float("nan"), 253402387199.0, 2**63, "junk", b"x"]
)
def test_format_time_never_raises(value: object) -> None:
    text = J.format_time(value)  # type: ignore[arg-type]
    assert text is None or re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", text), text


def test_format_time_clamps_what_it_cannot_show() -> None:
    assert J.format_time(1e20) == "9999-12-31T23:59:59.999999Z"
    assert J.format_time(float("-inf")) == "0001-01-01T00:00:00.000000Z"
    assert J.format_time(float("nan")) is None


@pytest.mark.parametrize("name", ["delay", "timeout"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), 1e308, 10**400,
                                   J.MAX_TIMEOUT + 1, "5", True, -0.5])  # fmt: skip
def test_delay_and_timeout_must_be_finite_and_bounded(name: str, value: object) -> None:
    with pytest.raises(J.ValidationError) as info:
        J.validate_spec({"command": "x", name: value}, now=1000.0)
    assert info.value.field == name
    assert "seconds" in str(info.value)


def test_the_largest_delay_is_accepted() -> None:
    spec = J.validate_spec({"command": "x", "delay": J.MAX_TIMEOUT}, now=1000.0)
    assert spec.run_at == 1000.0 + J.MAX_TIMEOUT


# --- what the kernel lets `sh -c COMMAND` take (issue 12, item 11) ---------------------------


def test_exec_limits_follow_the_kernel() -> None:
    limits = J.exec_limits()
    page = os.sysconf("SC_PAGE_SIZE")
    assert limits.max_string == 32 * page - 1  # MAX_ARG_STRLEN counts the NUL
    arg_max = os.sysconf("SC_ARG_MAX")
    kernel = max(min(arg_max, 6 * 1024 * 1024), 128 * 1024)
    assert limits.max_total == kernel // 2


def test_a_command_one_byte_over_max_arg_strlen_is_refused() -> None:
    limits = J.exec_limits()
    assert J.validate_spec({"command": "x" * limits.max_string}, 0).command
    with pytest.raises(J.ValidationError) as info:
        J.validate_spec({"command": "x" * (limits.max_string + 1)}, 0)
    assert info.value.field == "command"
    assert f"{limits.max_string:,} bytes" in str(info.value)
    # bytes, not characters
    with pytest.raises(J.ValidationError):
        J.validate_spec({"command": "é" * (limits.max_string // 2 + 1)}, 0)


def test_an_env_entry_is_limited_like_a_command() -> None:
    limits = J.exec_limits()
    value = "v" * (limits.max_string - len("K="))
    assert J.validate_spec({"command": "x", "env": {"K": value}}, 0).env
    with pytest.raises(J.ValidationError) as info:
        J.validate_spec({"command": "x", "env": {"K": value + "v"}}, 0)
    assert info.value.field == "env" and "K" in str(info.value)


def test_command_and_env_together_stay_within_a_share_of_arg_max() -> None:
    limits = J.ExecLimits(max_string=1000, max_total=4000)
    env = {f"V{i}": "x" * 900 for i in range(3)}
    J.validate_spec({"command": "c" * 900, "env": env}, 0, limits)  # about 3,700 bytes
    env["V3"] = "x" * 900
    with pytest.raises(J.ValidationError) as info:
        J.validate_spec({"command": "c" * 900, "env": env}, 0, limits)
    assert info.value.field == "env"
    assert "4,000" in str(info.value)
