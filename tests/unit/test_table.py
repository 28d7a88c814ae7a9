"""Tables, times and durations for people (queuectl.client.table, term, human): no line
wider than the width asked for, whatever the data."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from queuectl.client import human, term
from queuectl.client.table import Col, render

COLS = [Col("id", "ID", shrink=2, min_width=10, soft=18), Col("state", "STATE", colour=True),
        Col("n", "N"), Col("command", "COMMAND", shrink=3, min_width=12, soft=30)]  # fmt: skip
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.fixed_dictionaries({"id": text, "state": st.sampled_from(["pending", "dead", "x"]),
                                            "n": st.integers(), "command": text}), max_size=5),
       width=st.integers(1, 200), colour=st.booleans())  # fmt: skip
def test_no_line_is_wider_than_asked(rows: list[dict[str, object]], width: int, colour: bool) -> None:
    for line in render(rows, COLS, width, colour):
        assert term.visible_width(line) <= width, (line, width)
        assert "\n" not in line and "\x1b" not in term._plain(line)


def test_the_command_keeps_the_room_and_the_id_is_cut_first() -> None:
    rows = [{"id": "x" * 60, "state": "pending", "n": 1, "command": "echo " + "y" * 100}]
    head, row = render(rows, COLS, 80)
    assert len(row) == 80 and row.startswith("x" * 17 + "…") and row.endswith("…")
    assert render(rows, COLS, None)[1].endswith("y" * 100)  # no width: nothing cut


def test_colour_wraps_the_state_only() -> None:
    line = render([{"id": "a", "state": "dead", "n": 1, "command": "c"}], COLS, 80, True)[1]
    assert "\x1b[1;31mdead\x1b[0m" in line and term.visible_width(line) == len(term._plain(line))


def test_values_become_one_printable_line() -> None:
    assert term.one_line("a\nb\tc\x1b[31md") == "a↵b c�[31md"
    assert term.cell_width("日本") == 4 and term.clip("日本語", 4) == "日…"
    assert term.clip("/very/long/home", 8, front=True) == "…ng/home"


def test_durations_and_sizes_for_people() -> None:
    assert [human.span(s) for s in (0.0019, 0.5, 54.2, 530, 7500, 200000)] == \
        ["2ms", "500ms", "54.2s", "8m50s", "2h05m", "2d07h"]  # fmt: skip
    assert [human.setting(s) for s in (2.5, 90, 5400, 600)] == ["2.5s", "1m30s", "1h30m", "10m"]
    assert human.size(512) == "512 B" and human.size(5100) == "5.1 kB"
    assert human.short_time("2001-02-03T04:05:06Z") == "2001-02-03"
