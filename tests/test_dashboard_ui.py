"""The dashboard for people (issue 19), end to end: every page at a desktop and at a phone
viewport with nothing sticking out sideways, a job's output as a terminal shows it (colours,
carriage returns, and no markup from it), the whole output as a download, bulk actions,
times in the browser's zone, the overview's queue latency and no-worker warning, a toast
that moves nothing, the dark theme.

One daemon, one dashboard and one browser serve the module (each test works on jobs of its
own); the test that empties the dead letter queue runs last. Screenshots go to
test-artifacts/screenshots/ (desktop-*, phone-*, dark-*).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import Daemon
from dashboard_helpers import (
    DESKTOP,
    PHONE,
    Dashboard,
    assert_no_overflow,
    confirm_click,
    expect,
    need_browser,
    open_live,
    row,
    screenshot,
)

ZONE = "Europe/Berlin"
COLOUR = (
    r"printf '\033[31mred\033[0m plain \033[1;32mbold green\033[0m \033[38;5;208m256\033[0m "
    r"\033[38;2;10;20;30mrgb\033[0m\n'; "
    r"printf '\033[31m<script>alert(1)</script>\033[0m\n'; "
    r"printf 'progress 10%%\rprogress 50%%\rprogress 100%%\n'; printf 'abcdef\rXY\n'; "
    r"printf 'erase me\r\033[Kgone\n'; printf 'bs\b\bok\n'; printf '\033]0;a title\007title gone\n'; "
    r"echo err-line >&2"
)
COLOUR_TEXT = "red plain bold green 256 rgb\n<script>alert(1)</script>\nprogress 100%\nXYcdef\ngone\nok\ntitle gone\n"
DEAD = "echo 'some context' >&2; echo 'ValueError: bad input {0}' >&2; exit 1"
BINARY_SIZE = 5_000_000  # more than one job.logs chunk (4 MiB)
LONG_ID = "an-id-with-no-place-to-break-" + "z" * 120  # nothing may push a page wider than the screen
LONG_QUEUE = "q-" + "y" * 62  # the longest queue name there may be, with nowhere to break


def populate(daemon: Daemon) -> None:
    daemon.call("config.set", {"key": "backoff_base", "value": 600})  # a failed job waits 10 min
    daemon.call("queue.add", {"name": LONG_QUEUE, "concurrency": 2, "weight": 5})
    jobs = [{"id": f"fill-{i:02d}", "command": "true"} for i in range(45)]
    jobs += [
        {"id": "colour", "command": COLOUR},
        {"id": "binary", "command": f"head -c {BINARY_SIZE} /dev/urandom"},
        {"id": "retrying", "command": "echo 'could not connect' >&2; exit 1", "max_retries": 2},
        *({"id": f"dead-{i}", "command": DEAD.format(i), "max_retries": 0} for i in (1, 2)),
        {"id": "timeout-job", "command": "sleep 5", "timeout": 0.3, "max_retries": 0},
        {"id": "sched", "command": "true", "delay": 3600},
        {"id": LONG_ID, "command": "echo " + "w" * 400, "max_retries": 0},
        {"id": "in-a-queue", "command": "true", "queue": LONG_QUEUE, "slots": 2,
         "tags": {"team": "t" * 200, "kind": "nightly"}},
    ]
    daemon.call("job.enqueue_many", {"jobs": jobs})
    for j in jobs:
        if j["id"] != "sched":
            daemon.wait_state(j["id"], ("completed", "dead", "failed"))
    daemon.enqueue("sleep 600", id="sleeper")  # one worker stays busy; the other is free
    daemon.wait_state("sleeper", "processing")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, Dashboard]]:
    pytest.importorskip("starlette", reason="the dashboard extra: pip install -e '.[dev]'")
    need_browser()
    daemon = Daemon(tmp_path_factory.mktemp("ui") / "home", workers=2).start()
    dash = Dashboard(daemon)
    try:
        dash.wait_ready()
        populate(daemon)
        yield daemon, dash
    finally:
        dash.stop()
        daemon.call("config.set", {"key": "shutdown_grace", "value": 0})
        daemon.stop()


@pytest.fixture
def open_page(browser: Any, site: tuple[Daemon, Dashboard]) -> Iterator[Callable[..., Any]]:
    """A logged-in page at a viewport (in Berlin, so local time is not UTC); any dialog fails."""
    contexts: list[Any] = []

    def make(viewport: dict[str, int] = DESKTOP, dash: Dashboard | None = None, **options: Any) -> Any:
        context = browser.new_context(viewport=viewport, timezone_id=ZONE, accept_downloads=True, **options)
        contexts.append(context)
        page = context.new_page()
        page.dialogs = []
        page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
        (dash or site[1]).login(page)
        return page

    yield make
    for c in contexts:
        c.close()


def settled(page: Any, url: str) -> None:
    """Open a page, with its events connected and its times shown by the script."""
    open_live(page, url)
    page.wait_for_function("() => [...document.querySelectorAll('time')].every((t) => !t.textContent.endsWith('UTC'))")


# --- every page, at both sizes ---------------------------------------------------------------

PAGES = {"overview": "/", "jobs": "/jobs", "jobs-dead": "/jobs?state=dead", "dlq": "/dlq",
         "queues": "/queues", "jobs-queue": "/jobs?queue=" + LONG_QUEUE, "job-queue": "/job?id=in-a-queue",
         "job-output": "/job?id=colour", "job-failed": "/job?id=retrying", "job-running": "/job?id=sleeper",
         "job-missing": "/job?id=no-such-job", "job-long-id": "/job?id=" + LONG_ID}  # fmt: skip


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_every_page_fits_the_screen(site: tuple[Daemon, Dashboard], open_page: Callable[..., Any], size: str) -> None:
    page = open_page(DESKTOP if size == "desktop" else PHONE)
    for name, path in PAGES.items():
        settled(page, site[1].url + path)
        assert_no_overflow(page, f"{size} {path}")
        screenshot(page, f"{size}-{name}")
    if size == "phone":
        check_phone_layout(page, site[1].url)
    assert page.dialogs == []


def check_phone_layout(page: Any, url: str) -> None:
    settled(page, url + "/jobs")
    rows = page.locator("#jobs-table tbody tr")
    assert rows.count() == 50
    # Stacked cards of a few lines each, not 240 px of letters: ids and dates on one line.
    height = page.evaluate("() => document.querySelector('#jobs-table tbody').getBoundingClientRect().height")
    assert height / 50 < 150, height
    lines = page.evaluate("""(long) => [...document.querySelectorAll('#jobs-table td.id a, #jobs-table time .abs')]
        .filter((el) => el.textContent !== long).map((el) => el.getClientRects().length)""", LONG_ID)
    assert len(lines) > 50 and set(lines) == {1}, lines  # (an id longer than the screen wraps, in its card)
    # Every row's actions on screen and usable.
    box = row(page, "fill-10").locator("button[data-action=delete]").bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    # The chart shrinks; its labels keep a readable size and do not run into each other.
    settled(page, url + "/")
    labels = page.evaluate("""() => [...document.querySelectorAll('.chart-x span, .chart-y span')].map((el) => {
        const r = el.getBoundingClientRect();
        return { size: parseFloat(getComputedStyle(el).fontSize), left: r.left, right: r.right, top: r.top, axis: el.parentElement.className };
      })""")
    assert len(labels) == 8 and min(label["size"] for label in labels) >= 11, labels
    xs = [label for label in labels if label["axis"] == "chart-x"]
    assert all(a["right"] <= b["left"] for a, b in zip(xs, xs[1:], strict=False)), xs
    svg, card = page.evaluate("""() => [document.querySelector('#throughput svg').getBoundingClientRect().width,
        document.querySelector('#throughput').getBoundingClientRect().width]""")
    assert svg > 0.8 * card, (svg, card)


# --- output --------------------------------------------------------------------------------------


def test_output_shows_colours_and_carriage_returns_and_runs_no_markup(
    site: tuple[Daemon, Dashboard], open_page: Callable[..., Any]
) -> None:  # fmt: skip
    page = open_page()
    settled(page, site[1].url + "/job?id=colour")
    stdout = page.locator("#stdout")
    expect(stdout).to_have_text(COLOUR_TEXT)
    expect(page.locator("#stderr")).to_have_text("err-line\n")
    red = stdout.locator("span.a-f1").first
    expect(red).to_have_text("red")
    assert red.evaluate("(el) => getComputedStyle(el).color") == "rgb(255, 107, 107)"
    expect(stdout.locator("span.a-bold.a-f2")).to_have_text("bold green")
    colours = stdout.locator("span").evaluate_all("(els) => els.map((el) => [el.textContent, el.style.color])")
    assert ["256", "rgb(255, 135, 0)"] in colours and ["rgb", "rgb(10, 20, 30)"] in colours, colours
    # The markup it printed is red text: no element came of it, and nothing ran.
    expect(stdout.locator("span.a-f1").nth(1)).to_have_text("<script>alert(1)</script>")
    assert stdout.evaluate("(el) => [...el.querySelectorAll('*')].every((c) => c.tagName === 'SPAN')")
    assert page.locator("script:not([src])").count() == 0 and page.dialogs == []


TERMINAL_CASES = """async () => {
  const { Terminal } = await import("/static/terminal.js");
  const run = (chunks, options) => {
    const pre = document.createElement("pre");
    const trims = [];
    const term = new Terminal(pre, { ...options, onTrim: (t) => trims.push({ ...t }) });
    for (const c of chunks) term.write(c);
    return { text: pre.textContent, html: pre.innerHTML, trims };
  };
  return {
    split: run(["\\x1b[3", "1mred\\x1b", "[0m\\n"]),
    overwrite: run(["\\x1b[32mgreen\\x1b[0m\\rG\\n"]),
    crlf: run(["a\\r", "\\nb\\r\\n"]),
    cursor: run(["abc\\x1b[5Gx\\x1b[2D\\x1b[1Ky\\n"]),
    erase: run(["abc\\x1b[2Kz\\n"]),
    controls: run(["a\\x00\\x07b\\x1b[?25lc\\x1bZ\\td\\n"]),
    hostile: run(["\\x1b[38;5;999;48;2;1;2;3m<b onmouseover=alert(1)>x</b>\\x1b[0m\\n"]),
    trim: run(Array.from({ length: 30 }, (_, i) => `line ${String(i).padStart(3, "0")}\\n`), { maxChars: 100 }),
    long: run(["y".repeat(250)], { maxChars: 100 }),
  };
}"""


def test_the_terminal_renderer_handles_cut_sequences_overwrites_and_trimming(
    site: tuple[Daemon, Dashboard], open_page: Callable[..., Any]
) -> None:  # fmt: skip
    page = open_page()
    settled(page, site[1].url + "/job?id=colour")
    got = page.evaluate(TERMINAL_CASES)
    assert got["split"]["text"] == "red\n" and 'class="a-f1">red</span>' in got["split"]["html"]
    assert got["overwrite"]["text"] == "Green\n" and 'class="a-f2">reen</span>' in got["overwrite"]["html"]
    assert got["crlf"]["text"] == "a\nb\n"
    assert got["cursor"]["text"] == "   yx\n"  # to column 5, back two, erase up to the cursor
    assert got["erase"]["text"] == "   z\n"
    assert got["controls"]["text"] == "abc\td\n"
    hostile = got["hostile"]
    assert hostile["text"] == "<b onmouseover=alert(1)>x</b>\n" and "<b " not in hostile["html"]
    assert "&lt;b onmouseover" in hostile["html"]
    trim = got["trim"]
    assert len(trim["text"]) <= 100 and trim["text"].endswith("line 029\n") and trim["text"].startswith("line ")
    assert trim["trims"] and trim["trims"][-1]["lines"] == 30 - trim["text"].count("\n")
    assert got["long"]["text"] == "y" * 100 and got["long"]["trims"][-1]["chars"] == 150


def test_a_followed_log_that_outgrows_the_page_says_so(
    site: tuple[Daemon, Dashboard], open_page: Callable[..., Any]
) -> None:  # fmt: skip
    daemon, dash = site
    chunk = "head -c 9999 /dev/zero | tr '\\0' x; echo"
    daemon.enqueue(f"sleep 2; for i in $(seq 1 40); do {chunk}; sleep 0.05; done; echo last-line", id="big-log")
    page = open_page()
    open_live(page, dash.url + "/job?id=big-log")
    expect(page.locator("#log-following")).to_be_visible()
    expect(page.locator("#stdout-note")).to_contain_text("dropped the first", timeout=20_000)
    expect(page.locator("#stdout-note a")).to_have_attribute("href", re.compile(r"download\?id=big-log"))
    expect(page.locator("#log-following")).to_be_hidden(timeout=20_000)
    text = page.locator("#stdout").text_content()
    assert text.endswith("x\nlast-line\n") and len(text) <= 256 * 1024
    assert text.startswith("x")  # whole lines dropped, not half of one


# --- downloads -----------------------------------------------------------------------------------


def logs_bytes(daemon: Daemon, job_id: str, stream: str = "stdout", attempt: int | None = None) -> bytes:
    data, offset = b"", 0
    while True:
        reply = daemon.call("job.logs", {"id": job_id, "stream": stream, "attempt": attempt,
                                         "offset": offset, "max_bytes": 1 << 20})  # fmt: skip
        raw = reply["data"].encode() if reply["encoding"] == "utf-8" else base64.b64decode(reply["data"])
        data += raw
        if reply["eof"] or not raw:
            return data
        offset = reply["next_offset"]


def test_download_gives_exactly_the_bytes_of_job_logs(
    site: tuple[Daemon, Dashboard], open_page: Callable[..., Any]
) -> None:  # fmt: skip
    daemon, dash = site
    res = dash.http("/api/logs/download?id=binary", headers=dash.auth(), timeout=30)
    assert res.status == 200 and res.headers["content-type"] == "application/octet-stream"
    assert res.headers["content-disposition"].startswith('attachment; filename="binary.attempt-1.stdout.log"')
    assert len(res.body) == BINARY_SIZE and res.body == logs_bytes(daemon, "binary")
    colour = dash.http("/api/logs/download?id=colour&stream=stderr", headers=dash.auth())
    assert colour.body == b"err-line\n"
    first = dash.http("/api/logs/download?id=retrying&attempt=1&stream=stderr", headers=dash.auth())
    assert first.body == logs_bytes(daemon, "retrying", "stderr", 1) == b"could not connect\n"
    assert dash.http("/api/logs/download?id=nope", headers=dash.auth()).status == 404
    assert dash.http("/api/logs/download?id=colour&attempt=9", headers=dash.auth()).status == 404
    assert dash.http("/api/logs/download?id=colour&stream=env", headers=dash.auth()).status == 400
    assert dash.http("/api/logs/download?id=colour").status == 401  # the same token as everything else

    # A person clicks the link on the job page (the browser has only its cookie).
    page = open_page()
    settled(page, dash.url + "/job?id=colour")
    with page.expect_download() as info:
        page.locator("#stdout-download").click()
    download = info.value
    assert download.suggested_filename == "colour.attempt-1.stdout.log"
    with open(download.path(), "rb") as f:
        assert f.read() == logs_bytes(daemon, "colour")


# --- times and numbers -------------------------------------------------------------------------------


def local(iso: str) -> str:
    when = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(ZoneInfo(ZONE))
    return when.strftime("%Y-%m-%d %H:%M:%S")


def test_times_are_local_with_their_zone_and_numbers_are_for_people(
    site: tuple[Daemon, Dashboard], open_page: Callable[..., Any]
) -> None:  # fmt: skip
    daemon, dash = site
    page = open_page()
    settled(page, dash.url + "/job?id=retrying")
    job = daemon.job("retrying")
    created = page.locator("dl.spec dt:text-is('Created') + dd")
    expect(created).to_have_text(re.compile(re.escape(local(job["created_at"])) + r" (GMT\+[12]|CES?T) · (\d+ (s|min) ago|just now)"))
    expect(page.locator("#job-region h2 .now")).to_have_text(re.compile(r"^retry in \d+ min \d\d s$"))
    expect(page.locator("dl.spec dt:text-is('Retry at') + dd")).to_contain_text(local(job["run_at"]))

    settled(page, dash.url + "/job?id=timeout-job")
    attempt = page.locator("#attempts-table tbody tr").first
    expect(attempt.locator("td.signal")).to_have_text("SIGTERM")
    expect(attempt.locator("td.err")).to_have_text("timed out")  # once
    expect(attempt.locator("td.num").nth(1)).to_have_text(re.compile(r"^\d+ ms$"))
    expect(page.locator("dl.spec dt:text-is('Timeout') + dd")).to_have_text("0.3 s")
    settled(page, dash.url + "/job?id=binary")
    expect(page.locator("#attempts-table td[data-label=stdout]")).to_have_text("5.0 MB")

    settled(page, dash.url + "/job?id=sleeper")
    running = page.locator("#job-region h2 .now time")
    first = int(re.match(r"(\d+)", running.text_content()).group(1))
    page.wait_for_timeout(2100)
    assert re.match(r"^\d+ (s|min \d\d s)$", running.text_content())
    assert int(re.match(r"(\d+)", running.text_content()).group(1)) != first or "min" in running.text_content()

    settled(page, dash.url + "/jobs?state=scheduled")
    run_at = row(page, "sched").locator("td[data-label='run at'] time")
    expect(run_at).to_contain_text(re.compile(r"^in (59|60) min"))
    expect(run_at.locator(".abs")).to_have_text(re.compile(re.escape(local(daemon.job("sched")["run_at"])) + " "))


# --- overview ----------------------------------------------------------------------------------------


def test_overview_says_how_long_the_oldest_job_waits_and_warns_without_workers(
    tmp_path_factory: pytest.TempPathFactory, open_page: Callable[..., Any]
) -> None:  # fmt: skip
    daemon = Daemon(tmp_path_factory.mktemp("no-workers") / "home", workers=0).start()
    dash = Dashboard(daemon)
    try:
        dash.wait_ready()
        daemon.enqueue("true", id="first-in-line")
        daemon.enqueue("true", id="second")
        page = open_page(PHONE, dash=dash)
        settled(page, dash.url + "/")
        warning = page.locator("#no-workers")
        expect(warning).to_be_visible()
        expect(warning).to_contain_text("2 job(s) pending and no worker is running")
        expect(page.locator("#latency .latency")).to_contain_text("first-in-line")
        expect(page.locator("#latency .latency strong time")).to_have_text(re.compile(r"^\d+ s$"))
        screenshot(page, "phone-overview-no-workers")
        assert_no_overflow(page, "phone overview with the warning")

        # Messages come as a toast: fixed, over the page, which does not move.
        top = page.locator("main").bounding_box()["y"]
        page.locator("#scale-form input[name=count]").fill("1")
        page.locator("#scale-form button").click()
        toast = page.locator("#flash")
        expect(toast).to_contain_text("scaling to 1 worker")
        assert toast.evaluate("(el) => getComputedStyle(el).position") == "fixed"
        assert page.locator("main").bounding_box()["y"] == top
        assert_no_overflow(page, "phone overview with a toast")

        expect(warning).to_be_hidden()
        expect(page.locator("#latency .latency")).to_contain_text("no job is pending")
    finally:
        dash.stop()
        daemon.stop()


def test_the_dark_theme_follows_the_system_setting(
    site: tuple[Daemon, Dashboard], open_page: Callable[..., Any]
) -> None:  # fmt: skip
    colours = "() => [getComputedStyle(document.body).backgroundColor, getComputedStyle(document.querySelector('.card')).backgroundColor]"
    light = open_page(color_scheme="light")
    settled(light, site[1].url + "/")
    assert light.evaluate(colours) == ["rgb(245, 246, 248)", "rgb(255, 255, 255)"]
    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        dark = open_page(viewport, color_scheme="dark")
        for name, path in (("overview", "/"), ("jobs", "/jobs"), ("job-output", "/job?id=colour")):
            settled(dark, site[1].url + path)
            assert dark.evaluate(colours) == ["rgb(15, 18, 23)", "rgb(23, 27, 34)"], path
            assert_no_overflow(dark, f"dark {size} {path}")
            screenshot(dark, f"dark-{size}-{name}")


# --- bulk actions, the dead letter queue ---------------------------------------------------------------


def session(dash: Dashboard) -> tuple[str, str]:
    """What a browser holds after opening the token URL and a page: (Cookie header, CSRF token)."""
    res = dash.http(f"/jobs?token={dash.token}")
    login = res.headers["set-cookie"].split(";")[0]
    page = dash.http("/jobs", headers={"Cookie": login})
    cookie = login + "; " + page.headers["set-cookie"].split(";")[0]
    return cookie, re.search(r'name="csrf-token" content="(\w+)"', page.text).group(1)


def test_bulk_actions_need_the_csrf_token(site: tuple[Daemon, Dashboard]) -> None:
    daemon, dash = site
    daemon.enqueue("true", id="csrf-bulk", delay=3600)
    cookie, token = session(dash)
    for action in ("bulk-delete", "bulk-cancel", "bulk-retry", "dlq-delete-all"):
        assert dash.http(f"/actions/{action}", {"id": "csrf-bulk"}, {"Cookie": cookie}).status == 403
        wrong = {"id": "csrf-bulk", "csrf_token": "0" * 64}
        assert dash.http(f"/actions/{action}", wrong, {"Cookie": cookie}).status == 403
        other_site = {"Cookie": cookie, "Origin": "http://evil.example"}
        assert dash.http(f"/actions/{action}", {"id": "csrf-bulk", "csrf_token": token}, other_site).status == 403
    assert daemon.job("csrf-bulk")["state"] == "scheduled" and daemon.call("dlq.list")["total"] >= 2
    ok = dash.http("/actions/bulk-delete", {"id": "csrf-bulk", "csrf_token": token},
                   {"Cookie": cookie, "Accept": "application/json"})  # fmt: skip
    assert ok.status == 200 and ok.json() == {"ok": True, "message": "deleted 1 job"}


def test_selected_rows_are_retried_cancelled_and_deleted_on_a_phone(
    site: tuple[Daemon, Dashboard], open_page: Callable[..., Any]
) -> None:  # fmt: skip
    daemon, dash = site
    daemon.call("job.enqueue_many", {"jobs": [
        *({"id": f"bulk-later-{i}", "command": "true", "delay": 3600} for i in range(3)),
        *({"id": f"bulk-dies-{i}", "command": "exit 3", "max_retries": 0} for i in range(2)),
        {"id": "bulk-done", "command": "true"}]})  # fmt: skip
    for job_id in ("bulk-dies-0", "bulk-dies-1", "bulk-done"):
        daemon.wait_state(job_id)
    page = open_page(PHONE)
    settled(page, dash.url + "/jobs?search=bulk-")
    bar = page.locator("#bulk-form")
    expect(bar.locator("button[data-action=bulk-cancel]")).to_be_disabled()

    def select(*ids: str) -> None:
        for job_id in ids:
            row(page, job_id).locator("input[type=checkbox]").check()
        expect(bar.locator("[data-selected]")).to_have_text(str(len(ids)))

    select("bulk-later-0", "bulk-later-1", "bulk-later-2")
    daemon.enqueue("true", id="bulk-arrives", delay=3600)  # a live update does not lose the selection
    expect(row(page, "bulk-arrives")).to_be_visible()
    expect(bar.locator("[data-selected]")).to_have_text("3")
    confirm_click(bar.locator("button[data-action=bulk-cancel]"))
    expect(page.locator("#flash")).to_have_text(re.compile("cancelled 3 jobs"))
    for i in range(3):
        expect(row(page, f"bulk-later-{i}").locator("[data-state]")).to_have_text("cancelled")
    expect(bar.locator("[data-selected]")).to_have_text("0")

    select("bulk-dies-0", "bulk-done")  # one of them cannot be retried: said, and the other is
    bar.locator("button[data-action=bulk-retry]").click()
    expect(page.locator("#flash")).to_contain_text("retried 1 of 2 jobs; not the others: job 'bulk-done' is completed")
    assert daemon.wait_state("bulk-dies-0", ("pending", "processing", "dead"))["attempts"] >= 1

    page.locator("[data-select-all]").check()
    expect(bar.locator("[data-selected]")).to_have_text("7")
    screenshot(page, "phone-jobs-bulk-selected")
    daemon.wait_state("bulk-dies-0", "dead")
    confirm_click(bar.locator("button[data-action=bulk-delete]"))
    expect(page.locator("#flash")).to_contain_text("deleted 7 jobs")
    expect(page.locator("#jobs-table tbody tr")).to_have_count(0)
    expect(page.locator("#jobs-region .empty")).to_contain_text("No jobs matching “bulk-”")
    assert daemon.call("job.list", {"search": "bulk-"})["jobs"] == []


def test_the_dlq_shows_the_last_stderr_line_and_deletes_all_dead_to_an_empty_state(
    site: tuple[Daemon, Dashboard], open_page: Callable[..., Any]
) -> None:  # fmt: skip
    """Last in the module: it empties the dead letter queue."""
    daemon, dash = site
    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = open_page(viewport)
        settled(page, dash.url + "/dlq")
        dead = row(page, "dead-1", "#dlq-table")
        expect(dead.locator(".reason")).to_have_text("exit code 1")
        expect(dead.locator(".stderr-last")).to_have_text("ValueError: bad input 1")
        expect(row(page, "timeout-job", "#dlq-table").locator("td.err")).to_have_text("timed out")
        if size == "phone":
            continue
        # A job that dies while the page is open shows up, with its last line too.
        daemon.enqueue("echo 'fatal: late' >&2; exit 2", id="dies-late", max_retries=0)
        expect(row(page, "dies-late", "#dlq-table").locator(".stderr-last")).to_have_text("fatal: late")
    total = daemon.call("dlq.list")["total"]
    confirm_click(page.locator("button[data-action=dlq-delete-all]"))
    expect(page.locator("#flash")).to_contain_text(f"deleted {total} dead jobs")
    empty = page.locator("#dlq-region .empty")
    expect(empty).to_contain_text("No dead jobs.")
    expect(page.locator("#dlq-table")).to_be_hidden()
    expect(page.locator("#dlq-region [data-if-rows]")).to_be_hidden()
    assert_no_overflow(page, "phone empty dlq")
    screenshot(page, "phone-dlq-empty")
    assert daemon.call("dlq.list")["total"] == 0
    # Still live: the next job to die appears in place of the note.
    daemon.enqueue("exit 4", id="after-empty", max_retries=0)
    expect(row(page, "after-empty", "#dlq-table")).to_be_visible()
    expect(empty).to_have_count(0)
