"""The dashboard's pure helpers, without a daemon or a browser: words and numbers for people,
the chart's scale, log summaries, download names, form input."""

from __future__ import annotations

import base64

import pytest

pytest.importorskip("starlette", reason="the dashboard extra: pip install -e '.[dev]'")

from starlette.datastructures import FormData  # noqa: E402

from queuectl.dashboard import chart, humane, logs, views  # noqa: E402
from queuectl.dashboard.routes.api import download_name  # noqa: E402


def test_durations_sizes_and_signals_read_as_people_write_them() -> None:
    assert [humane.duration(ms) for ms in (None, 0.4, 340, 2000, 2049, 59_999, 192_000, 7_500_000)] == [
        "", "0 ms", "340 ms", "2.0 s", "2.0 s", "60.0 s", "3 min 12 s", "2 h 05 min"]  # fmt: skip
    assert [humane.span(s) for s in (0, 42.9, 60, 3599, 3600, 90_061)] == [
        "0 s", "42 s", "1 min 00 s", "59 min 59 s", "1 h 00 min", "1 d 1 h"]  # fmt: skip
    assert [humane.setting_seconds(s) for s in (None, 0, 1.5, 30, 60, 5400, 3600, 86400, 90000)] == [
        "", "", "1.5 s", "30 s", "1 min", "1 h 30 min", "1 h", "1 d", "1 d 1 h"]  # fmt: skip
    assert [humane.size(n) for n in (None, 0, 999, 1000, 5_100_000, 999_960, 3 * 10**12)] == [
        "", "0 B", "999 B", "1.0 kB", "5.1 MB", "1.0 MB", "3.0 TB"]  # fmt: skip
    assert (humane.signal_name(15), humane.signal_name(9), humane.signal_name(None)) == ("SIGTERM", "SIGKILL", "")
    assert humane.signal_name(77) == "signal 77"
    assert humane.error_text("killed by signal 9") == "killed by SIGKILL"
    assert humane.error_text("exit code 9") == "exit code 9" and humane.error_text(None) == ""


def test_timed_out_is_said_once() -> None:
    assert humane.attempt_error({"error": "timed out", "timed_out": True}) == "timed out"
    assert humane.attempt_error({"error": None, "timed_out": True}) == "timed out"
    assert humane.attempt_error({"error": "killed by signal 15", "timed_out": True}) == "killed by SIGTERM, timed out"
    assert humane.attempt_error({"error": "exit code 1", "timed_out": False}) == "exit code 1"


def test_the_chart_scale_has_round_ticks_and_stacks_what_it_counts() -> None:
    assert [chart.nice_top(p) for p in (0, 1, 2, 3, 7, 11, 99, 101)] == [2, 2, 2, 4, 10, 20, 100, 200]
    minutes = [{"minute": f"2026-01-01T10:{i:02d}:00.000000Z", "completed": 0, "failed": 0, "dead": 0}
               for i in range(60)]  # fmt: skip
    minutes[-1] = {**minutes[-1], "completed": 5, "failed": 2, "dead": 1}
    got = chart.throughput_chart(minutes)
    assert (got["peak"], got["top"]) == (8, 10)
    assert [t["value"] for t in got["y_ticks"]] == [0, 5, 10]
    assert [t["label"] for t in got["x_ticks"]] == ["−60 min", "−45 min", "−30 min", "−15 min", "now"]
    assert got["totals"] == {"completed": 5, "failed": 2, "dead": 1}
    parts = {p["kind"]: p for p in got["bars"][-1]["parts"]}
    assert parts["completed"]["y"] + parts["completed"]["h"] == chart.HEIGHT  # from the axis up
    assert parts["failed"]["y"] + parts["failed"]["h"] == parts["completed"]["y"]  # stacked
    assert round(parts["completed"]["h"] + parts["failed"]["h"] + parts["dead"]["h"]) == chart.HEIGHT * 8 // 10


def test_the_last_line_of_stderr_is_what_a_terminal_would_show_last() -> None:
    assert logs.last_line(b"Traceback...\n  File x\nValueError: bad\n\n") == "ValueError: bad"
    assert logs.last_line(b"\x1b[31merror:\x1b[0m \x1b]0;title\x07disk full\r\n") == "error: disk full"
    assert logs.last_line(b"progress 10%\rprogress 100%\n") == "progress 100%"
    assert logs.last_line(b"\xff\xfe broken utf-8 \x00\n") == "\ufffd\ufffd broken utf-8"
    assert logs.last_line(b"") == "" and logs.last_line(b"\n \n") == ""
    assert logs.last_line(b"x" * 1000) == "x" * 299 + "…"


def test_log_chunks_cut_inside_a_character_are_read_again() -> None:
    text = "héllo ✓"
    raw = text.encode()
    cut = raw.index("✓".encode()) + 1  # one byte into the three of the check mark
    first = {"data": base64.b64encode(raw[:cut]).decode(), "encoding": "base64"}
    decoded, pending = logs.decode_chunk(first, final=False)
    assert (decoded, pending) == ("héllo ", 1)
    rest = {"data": raw[cut - pending :].decode(), "encoding": "utf-8"}
    assert decoded + logs.decode_chunk(rest, final=True)[0] == text


def test_download_names_carry_no_piece_of_the_id_unescaped() -> None:
    value = download_name('../"a b"\r\nX: y/é', 2, "stderr")
    assert value.startswith('attachment; filename="a_b_X_y.attempt-2.stderr.log"; filename*=UTF-8\'\'')
    assert "\r" not in value and "\n" not in value and "/" not in value.split("filename*=")[1]
    assert value.endswith("%C3%A9.attempt-2.stderr.log")
    assert 'filename="job.attempt-1.stdout.log"' in download_name("...", 1, "stdout")


def test_bulk_actions_take_each_id_once_and_within_the_batch_limit() -> None:
    assert views.ids_of(FormData([("id", "b"), ("id", "a"), ("id", "b"), ("id", ""), ("csrf_token", "x")])) == ["b", "a"]
    with pytest.raises(views.FormError, match="select one or more jobs"):
        views.ids_of(FormData([("csrf_token", "x")]))
    with pytest.raises(views.FormError, match="at most 1000"):
        views.ids_of(FormData([("id", str(i)) for i in range(1001)]))


def test_job_query_urls_keep_only_what_differs_from_the_defaults() -> None:
    q = views.JobQuery.from_params({"state": "dead", "search": " x ", "sort": "bogus", "limit": "7", "offset": "-3"})
    assert (q.state, q.search, q.sort, q.limit, q.offset) == ("dead", "x", "newest", 50, 0)
    assert q.url(offset=50) == "/jobs?state=dead&search=x&offset=50"
    assert views.JobQuery().url() == "/jobs" and views.JobQuery().live_head
    assert not views.JobQuery(sort="priority").live_head


def test_a_queues_concurrency_is_a_whole_number_from_0_to_10000() -> None:
    for given, expected in (("0", 0), (" 7 ", 7), ("10000", 10000)):
        assert views.concurrency_of(FormData({"concurrency": given})) == expected
    for bad, said in (("-1", "not -1"), ("10001", "not 10001"), ("x", "not 'x'"), ("1e3", "not '1e3'"),
                      ("", "empty"), (None, "empty")):  # fmt: skip
        with pytest.raises(views.FormError, match="concurrency must be a whole number from 0 to 10,000") as err:
            views.concurrency_of(FormData({} if bad is None else {"concurrency": bad}))
        assert said in str(err.value)


def test_the_jobs_query_keeps_its_queue_and_rows_match_it() -> None:
    query = views.JobQuery.from_params({"queue": " gpu ", "state": "pending"})
    assert query.queue == "gpu" and query.rpc_params()["queue"] == "gpu"
    assert query.url() == "/jobs?state=pending&queue=gpu" and query.url(offset=50).endswith("&offset=50")
    assert views.JobQuery.from_params({}).rpc_params()["queue"] is None
    job = {"id": "a", "command": "true", "state": "pending", "queue": "gpu"}
    assert views.matches(job, "pending", None, "gpu") and views.matches(job, None, None, None)
    assert not views.matches(job, None, None, "default")
