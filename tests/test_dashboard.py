"""The web dashboard, end to end: a real daemon, a real `queuectl dashboard` subprocess,
and Debian's Chromium driven by Playwright. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Daemon, wait_for
from dashboard_helpers import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, Dashboard, http, stop_all, timed

from queuectl.dashboard import views

try:
    from playwright import sync_api as playwright_sync
except ImportError:  # the non-browser tests below still run
    playwright_sync = None

XSS = "<img src=x onerror=alert(1)>"
if playwright_sync is not None:
    playwright_sync.expect.set_options(timeout=10_000)


def expect(locator: Any) -> Any:
    return playwright_sync.expect(locator)


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if playwright_sync is None:
        pytest.skip("browser tests need playwright: pip install -e '.[dev]'")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"browser tests need {CHROMIUM}: apt-get install chromium")
    with playwright_sync.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.dialogs = []  # any alert/confirm that opens is a failure somewhere
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    yield pg
    context.close()


@pytest.fixture
def make_dashboard() -> Iterator[Callable[..., Dashboard]]:
    pytest.importorskip("starlette", reason="the dashboard extra: pip install -e '.[dev]'")
    started: list[Dashboard] = []

    def make(daemon: Daemon, *args: str, host: str = "127.0.0.1", daemon_up: bool = True) -> Dashboard:
        d = Dashboard(daemon, host, *args)
        started.append(d)
        return d.wait_ready(daemon_up=daemon_up)

    yield make
    stop_all(started)


@pytest.fixture
def setup(make_daemon: Callable[..., Daemon], make_dashboard: Callable[..., Dashboard]) -> Callable[..., Any]:
    def start(workers: int = 2) -> tuple[Daemon, Dashboard]:
        daemon = make_daemon(workers=workers)
        return daemon, make_dashboard(daemon)

    return start


def open_live(page: Any, url: str) -> None:
    """Load a page and wait until its event stream is connected (so no event is missed)."""
    page.goto(url)
    expect(page.locator("#live-indicator")).to_have_class(re.compile(r"\bon\b"))


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def row(page: Any, job_id: str, table: str = "#jobs-table") -> Any:
    # Ids may hold any character: quote them as a CSS string.
    quoted = '"' + job_id.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return page.locator(f"{table} tbody tr[data-job-id={quoted}]")


def confirm_click(button: Any) -> None:
    """Destructive buttons ask for a second click instead of a dialog."""
    button.click()
    expect(button).to_have_class(re.compile(r"\barmed\b"))
    button.click()


# --- pages and live updates ---------------------------------------------------------------------


def test_overview_shows_counts_workers_chart_and_schedule(setup: Callable[..., Any], page: Any) -> None:
    daemon, dash = setup(workers=1)
    for i in range(3):
        daemon.enqueue("true", id=f"ok-{i}")
    daemon.enqueue("exit 4", id="bad", max_retries=0)
    for i in range(2):
        daemon.enqueue("true", id=f"later-{i}", delay=3600 + i)
    daemon.enqueue("true", id="nope", delay=7200)
    daemon.call("job.cancel", {"id": "nope"})
    for job_id in ("ok-0", "ok-1", "ok-2", "bad"):
        daemon.wait_state(job_id)
    daemon.call("workers.scale", {"count": 0})
    for i in range(2):
        daemon.enqueue("true", id=f"waiting-{i}")

    open_live(page, dash.url + "/")
    want = {
        "scheduled": 2,
        "pending": 2,
        "processing": 0,
        "completed": 3,
        "failed": 0,
        "dead": 1,
        "cancelled": 1,
    }
    for state, n in want.items():
        expect(page.locator(f"#count-{state} .n")).to_have_text(str(n))
    expect(page.locator(".badge[data-count=dead]")).to_have_text("1")
    expect(page.locator("[data-workers=target]")).to_have_text("0")
    expect(page.locator("#upcoming tbody tr")).to_have_count(2)
    expect(page.locator("#upcoming tbody tr").first).to_have_attribute("data-job-id", "later-0")
    expect(page.locator("#throughput .legend")).to_contain_text("completed 3")
    assert page.locator("#throughput rect.bar-ok[height]:not([height='0.0'])").count() >= 1

    # Counts and workers follow events without a reload.
    page.evaluate("window.__sameDocument = true")
    daemon.call("workers.scale", {"count": 1})
    expect(page.locator("#count-completed .n")).to_have_text("5")
    expect(page.locator("#count-pending .n")).to_have_text("0")
    expect(page.locator("#workers-table tbody tr")).to_have_count(1)
    assert page.evaluate("window.__sameDocument") is True
    screenshot(page, "overview")
    assert page.dialogs == []


def test_job_enqueued_from_the_form_appears_and_completes_live(setup: Callable[..., Any], page: Any) -> None:
    daemon, dash = setup(workers=1)
    open_live(page, dash.url + "/jobs")
    page.evaluate("window.__sameDocument = true")
    form = page.locator("#enqueue-form")
    form.locator("input[name=command]").fill("sleep 0.5; echo from-the-form")
    form.locator("input[name=id]").fill("form-job")
    form.locator("input[name=priority]").fill("5")
    form.locator("input[name=max_retries]").fill("2")
    form.locator("button[type=submit]").click()
    expect(page.locator("#flash")).to_contain_text("enqueued form-job")

    r = row(page, "form-job")
    expect(r).to_be_visible()
    expect(r.locator("[data-state]")).to_have_text(re.compile("pending|processing"))
    expect(r.locator("[data-state]")).to_have_text("completed")
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
    job = daemon.job("form-job")
    assert (job["state"], job["priority"], job["max_retries"]) == ("completed", 5, 2)
    screenshot(page, "jobs")


def test_jobs_enqueued_over_rpc_and_cli_appear_live(setup: Callable[..., Any], page: Any) -> None:
    daemon, dash = setup(workers=0)
    open_live(page, dash.url + "/jobs")
    daemon.enqueue("echo one", id="from-rpc")
    cli = daemon.cli("enqueue", "--id", "from-cli", "--", "echo", "two")
    assert cli.returncode == 0, cli.stderr
    expect(row(page, "from-rpc")).to_be_visible()
    expect(row(page, "from-cli")).to_be_visible()
    # Newest first: the CLI's job is on top.
    expect(page.locator("#jobs-table tbody tr").first).to_have_attribute("data-job-id", "from-cli")
    expect(page.locator("[data-count=all]")).to_have_text("2")


def test_jobs_page_filters_searches_sorts_and_pages(setup: Callable[..., Any], page: Any) -> None:
    daemon, dash = setup(workers=0)
    daemon.call("job.enqueue_many", {"jobs": [
        {"id": f"j{i:03d}", "command": f"echo {'needle' if i % 10 == 0 else 'hay'} {i}", "priority": i % 5}
        for i in range(120)]})  # fmt: skip
    daemon.enqueue("true", id="sched", delay=600)
    page.goto(dash.url + "/jobs?limit=50")
    expect(page.locator("#jobs-table tbody tr")).to_have_count(50)
    expect(page.locator("#jobs-table tbody tr").first).to_have_attribute("data-job-id", "sched")
    page.locator("a[rel=next]").click()
    expect(page.locator("#jobs-table tbody tr").first).to_have_attribute("data-job-id", "j070")
    page.goto(dash.url + "/jobs?state=scheduled")
    expect(page.locator("#jobs-table tbody tr")).to_have_count(1)
    page.goto(dash.url + "/jobs?search=needle")
    expect(page.locator("#jobs-table tbody tr")).to_have_count(12)
    page.goto(dash.url + "/jobs?sort=priority&state=pending")
    expect(page.locator("#jobs-table tbody tr").first).to_have_attribute("data-job-id", "j004")
    page.goto(dash.url + "/jobs?sort=oldest")
    expect(page.locator("#jobs-table tbody tr").first).to_have_attribute("data-job-id", "j000")


def test_job_detail_shows_attempts_and_follows_output(setup: Callable[..., Any], page: Any) -> None:
    daemon, dash = setup(workers=1)
    daemon.call("config.set", {"key": "backoff_max", "value": 0})  # retry at once
    daemon.enqueue("test -f flag || { touch flag; echo first >&2; exit 3; }; "
                   "for i in 1 2 3 4; do echo line-$i; sleep 0.2; done; echo to-stderr >&2",
                   id="chatty", max_retries=1, cwd=str(daemon.home))  # fmt: skip
    daemon.wait_state("chatty", "processing")
    open_live(page, dash.url + "/job?id=chatty")
    expect(page.locator("#stdout")).to_contain_text("line-4")
    expect(page.locator("#stderr")).to_contain_text("to-stderr")
    expect(page.locator("#job-region [data-state]").first).to_have_text("completed")
    attempts = page.locator("#attempts-table tbody tr")
    expect(attempts).to_have_count(2)
    expect(attempts.nth(0).locator(".exit-code")).to_have_text("3")
    expect(attempts.nth(1).locator(".exit-code")).to_have_text("0")
    expect(page.locator("#log-following")).to_be_hidden()
    stdout = page.locator("#stdout").text_content()
    assert stdout == "".join(f"line-{i}\n" for i in range(1, 5)), stdout  # whole, once, in order
    screenshot(page, "job")
    # The first attempt's output stays reachable.
    page.locator("#attempts-table tbody tr").nth(0).locator("a").click()
    expect(page.locator("#stderr")).to_have_text("first\n")


def test_dead_job_is_retried_from_the_dlq_page(setup: Callable[..., Any], page: Any) -> None:
    daemon, dash = setup(workers=1)
    flaky = "test -f {0} || {{ touch {0}; exit 7; }}"
    for name in ("dead-a", "dead-b", "dead-c"):
        daemon.enqueue(flaky.format(daemon.home / name), id=name, max_retries=0)
    for name in ("dead-a", "dead-b", "dead-c"):
        daemon.wait_state(name, "dead")
    open_live(page, dash.url + "/dlq")
    expect(page.locator("#dlq-table tbody tr")).to_have_count(3)
    expect(row(page, "dead-a", "#dlq-table").locator("td.err")).to_contain_text("7")
    screenshot(page, "dlq")

    row(page, "dead-a", "#dlq-table").locator("button[data-action=dlq-retry]").click()
    expect(row(page, "dead-a", "#dlq-table")).to_have_count(0)
    assert daemon.wait_state("dead-a")["state"] == "completed"
    expect(page.locator(".badge[data-count=dead]")).to_have_text("2")

    confirm_click(page.locator("button[data-action=dlq-retry-all]"))
    expect(page.locator("#dlq-table tbody tr")).to_have_count(0)
    for name in ("dead-b", "dead-c"):
        assert daemon.wait_state(name)["state"] == "completed"
    # A job that dies while the page is open shows up in it.
    daemon.enqueue("exit 9", id="dies-later", max_retries=0)
    expect(row(page, "dies-later", "#dlq-table")).to_be_visible()


def test_running_job_is_cancelled(setup: Callable[..., Any], page: Any) -> None:
    daemon, dash = setup(workers=1)
    daemon.enqueue("echo started; sleep 60", id="long")
    daemon.wait_state("long", "processing")
    open_live(page, dash.url + "/job?id=long")
    expect(page.locator("#stdout")).to_contain_text("started")
    expect(page.locator("#log-following")).to_be_visible()
    start = time.monotonic()
    confirm_click(page.locator("#job-region button[data-action=cancel]"))
    expect(page.locator("#flash")).to_contain_text("cancelled long")
    expect(page.locator("#job-region [data-state]").first).to_have_text("cancelled")
    assert daemon.job("long")["state"] == "cancelled"
    assert time.monotonic() - start < 15


def test_workers_are_scaled_from_one_to_three(setup: Callable[..., Any], page: Any) -> None:
    daemon, dash = setup(workers=1)
    open_live(page, dash.url + "/")
    expect(page.locator("#workers-table tbody tr")).to_have_count(1)
    page.locator("#scale-form input[name=count]").fill("3")
    page.locator("#scale-form button").click()
    expect(page.locator("[data-workers=target]")).to_have_text("3")
    expect(page.locator("[data-workers=running]")).to_have_text("3")
    expect(page.locator("#workers-table tbody tr")).to_have_count(3)
    assert daemon.call("workers.status")["target"] == 3

    # A busy worker shows its job and for how long it has run.
    daemon.enqueue("sleep 30", id="busy-one")
    busy = page.locator("#workers-table tbody tr").filter(has_text="busy-one")
    expect(busy).to_be_visible()
    expect(busy.locator("td.running-for")).to_have_text(re.compile(r"^\d+s$"))

    confirm_click(page.locator("button[data-action=workers-stop]"))
    expect(page.locator("[data-workers=target]")).to_have_text("0")
    daemon.call("job.cancel", {"id": "busy-one"}, timeout=60)


# --- security ---------------------------------------------------------------------------------


def test_markup_in_ids_commands_and_logs_is_shown_as_text(setup: Callable[..., Any], page: Any) -> None:
    daemon, dash = setup(workers=1)
    evil_id = '"><script>alert(2)</script>'
    daemon.enqueue(f"echo '{XSS}'", id=evil_id)
    daemon.wait_state(evil_id)
    open_live(page, dash.url + "/jobs")
    evil = row(page, evil_id)
    expect(evil.locator("td.cmd")).to_contain_text(XSS)
    expect(evil.locator("td.id")).to_have_text(evil_id)
    daemon.enqueue(XSS, id="live-" + XSS)  # a row inserted live goes through the same escaping
    expect(row(page, "live-" + XSS).locator("td.cmd")).to_have_text(XSS)
    evil.locator("td.id a").click()
    expect(page.locator("#stdout")).to_have_text(XSS + "\n")
    expect(page.locator("pre.command")).to_contain_text(XSS)
    page.goto(dash.url + "/")
    page.wait_for_timeout(300)  # give an injected onerror a chance to fire
    assert page.locator("main img, main script").count() == 0
    assert page.dialogs == []


def test_changes_need_a_post_with_the_csrf_token(setup: Callable[..., Any]) -> None:
    daemon, dash = setup(workers=0)
    first = http(dash.url + "/jobs")
    assert first.status == 200
    csp = first.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert first.headers["x-frame-options"] == "DENY"
    cookie = first.headers["set-cookie"].split(";")[0]
    token = re.search(r'name="csrf-token" content="(\w+)"', first.text).group(1)
    job = {"command": "echo hi", "id": "csrf-probe"}

    assert http(dash.url + "/actions/enqueue", job).status == 403  # no session, no token
    assert http(dash.url + "/actions/enqueue", job, {"Cookie": cookie}).status == 403  # no token
    wrong = {**job, "csrf_token": "0" * 64}
    assert http(dash.url + "/actions/enqueue", wrong, {"Cookie": cookie}).status == 403
    other_site = {"Cookie": cookie, "Origin": "http://evil.example"}
    assert http(dash.url + "/actions/enqueue", {**job, "csrf_token": token}, other_site).status == 403
    assert daemon.call("job.list")["total"] == 0

    ok = http(dash.url + "/actions/enqueue", {**job, "csrf_token": token},
              {"Cookie": cookie, "Accept": "application/json"})  # fmt: skip
    assert ok.status == 200 and ok.json()["ok"], ok.text
    assert daemon.job("csrf-probe")["command"] == "echo hi"
    # A GET changes nothing: actions only answer POST.
    assert http(dash.url + "/actions/delete?id=csrf-probe").status == 405
    # DNS rebinding: a loopback dashboard answers only to loopback names.
    assert http(dash.url + "/", headers={"Host": "evil.example"}).status == 400


def test_binding_beyond_loopback_requires_the_token(
    make_daemon: Callable[..., Daemon], make_dashboard: Callable[..., Dashboard], page: Any, tmp_path: Path
) -> None:  # fmt: skip
    daemon = make_daemon(workers=0)
    dash = make_dashboard(daemon, host="0.0.0.0")
    assert dash.token, dash.log()
    for path in ("/", "/jobs", "/static/common.js", "/events", "/healthz", "/fragments/throughput"):
        assert http(dash.url + path).status == 401, path
    assert http(dash.url + "/", headers={"Authorization": "Bearer wrong-token-wrong-token"}).status == 401
    assert http(dash.url + "/?token=nope").status == 401
    assert http(dash.url + "/", headers=dash.auth()).status == 200
    # A browser presents it once in the URL; a cookie keeps it, and the URL drops it.
    open_live(page, f"{dash.url}/jobs?token={dash.token}")
    assert "token" not in page.url
    daemon.enqueue("true", id="seen-remotely")
    expect(row(page, "seen-remotely")).to_be_visible()

    token_file = tmp_path / "token"
    token_file.write_text("a-token-from-a-file-0123456789\n")
    other = make_dashboard(daemon, "--token-file", str(token_file), host="0.0.0.0")
    assert http(other.url + "/").status == 401
    good = {"Authorization": "Bearer a-token-from-a-file-0123456789"}
    assert http(other.url + "/", headers=good).status == 200
    assert "a-token-from-a-file" not in other.log()


# --- the daemon going away ----------------------------------------------------------------------


def test_daemon_down_shows_a_banner_and_the_page_recovers(setup: Callable[..., Any], page: Any) -> None:
    daemon, dash = setup(workers=1)
    daemon.enqueue("true", id="before")
    daemon.wait_state("before")
    open_live(page, dash.url + "/jobs")
    banner = page.locator("#banner")
    expect(banner).to_be_hidden()

    daemon.stop()
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("not answering")
    # A page loaded meanwhile shows the banner, not a stack trace.
    down = http(dash.url + "/jobs")
    assert down.status == 503 and "not answering" in down.text and "Traceback" not in down.text
    second = page.context.new_page()
    second.goto(dash.url + "/")
    expect(second.locator("#banner")).to_be_visible()
    screenshot(second, "daemon-down")

    daemon.start()
    expect(banner).to_be_hidden()
    expect(second.locator("#banner")).to_be_hidden()
    expect(second.locator("#count-completed .n")).to_have_text("1")
    daemon.enqueue("true", id="after")
    expect(row(page, "after").locator("[data-state]")).to_have_text("completed")
    expect(row(page, "before")).to_be_visible()


# --- scale -------------------------------------------------------------------------------------


def test_pages_stay_fast_with_100k_jobs(setup: Callable[..., Any]) -> None:
    daemon, dash = setup(workers=0)
    for batch in range(10):
        daemon.call("job.enqueue_many", {"jobs": [
            {"command": f"echo {batch}-{i}", "priority": i % 9} for i in range(10_000)]}, timeout=60)  # fmt: skip
    wait_for(lambda: http(dash.url + "/healthz").json()["daemon_up"], what="the dashboard")
    for path in ("/", "/jobs", "/jobs?sort=priority", "/jobs?sort=oldest&offset=90000",
                 "/jobs?state=pending&search=7-777", "/dlq", "/fragments/jobs-table?limit=200"):  # fmt: skip
        res, seconds = timed(lambda p=path: http(dash.url + p))
        assert res.status == 200, (path, res.status)
        assert seconds < 1.0, f"{path} took {seconds:.2f}s"
    assert "100000" in http(dash.url + "/jobs").text


# --- without a browser ---------------------------------------------------------------------------


def test_without_the_extra_the_command_says_what_to_install(tmp_path: Path) -> None:
    hide = "import sys; sys.modules['starlette'] = sys.modules['uvicorn'] = None; "
    run = "from queuectl.client.cli import main; sys.argv = ['queuectl', 'dashboard']; main()"
    proc = subprocess.run([sys.executable, "-c", hide + run], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "QUEUECTL_HOME": str(tmp_path)})  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "pip install 'queuectl[dashboard]'" in proc.stderr, proc.stderr


def test_log_chunks_cut_inside_a_character_are_read_again() -> None:
    text = "héllo ✓"
    raw = text.encode()
    cut = raw.index("✓".encode()) + 1  # one byte into the three of the check mark
    first = {"data": base64.b64encode(raw[:cut]).decode(), "encoding": "base64"}
    decoded, pending = views.decode_chunk(first, final=False)
    assert (decoded, pending) == ("héllo ", 1)
    rest = {"data": raw[cut - pending :].decode(), "encoding": "utf-8"}
    assert decoded + views.decode_chunk(rest, final=True)[0] == text


def test_job_query_urls_keep_only_what_differs_from_the_defaults() -> None:
    q = views.JobQuery.from_params(
        {"state": "dead", "search": " x ", "sort": "bogus", "limit": "7", "offset": "-3"}
    )
    assert (q.state, q.search, q.sort, q.limit, q.offset) == ("dead", "x", "newest", 50, 0)
    assert q.url(offset=50) == "/jobs?state=dead&search=x&offset=50"
    assert views.JobQuery().url() == "/jobs" and views.JobQuery().live_head
    assert not views.JobQuery(sort="priority").live_head
