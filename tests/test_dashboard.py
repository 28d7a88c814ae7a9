"""The web dashboard, end to end: a real daemon, a real `queuectl dashboard` subprocess,
and Debian's Chromium driven by Playwright. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import grp
import html
import os
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Daemon, wait_for
from dashboard_helpers import (
    Dashboard,
    confirm_click,
    expect,
    http,
    open_live,
    row,
    screenshot,
    stop_all,
    timed,
)

from tests import users

XSS = "<img src=x onerror=alert(1)>"


# --- fixtures -------------------------------------------------------------------------------


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

    def make(daemon: Daemon, *args: str, host: str = "127.0.0.1", daemon_up: bool = True,
             env: dict[str, str] | None = None) -> Dashboard:  # fmt: skip
        d = Dashboard(daemon, host, *args, env=env)
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


# --- pages and live updates ---------------------------------------------------------------------


def test_overview_shows_counts_workers_chart_and_schedule(setup: Callable[..., Any], page: Any) -> None:
    daemon, dash = setup(workers=1)
    dash.login(page)
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
    expect(page.locator("#throughput [data-total=completed]")).to_have_text("3")
    assert page.locator("#throughput rect.bar-completed").count() >= 1

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
    dash.login(page)
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
    dash.login(page)
    open_live(page, dash.url + "/jobs")
    daemon.enqueue("echo one", id="from-rpc")
    cli = daemon.cli("enqueue", "--id", "from-cli", "--", "echo", "two")
    assert cli.returncode == 0, cli.stderr
    expect(row(page, "from-rpc")).to_be_visible()
    expect(row(page, "from-cli")).to_be_visible()
    # Newest first: the CLI's job is on top.
    expect(page.locator("#jobs-table tbody tr").first).to_have_attribute("data-job-id", "from-cli")
    expect(page.locator("[data-count=all]")).to_have_text("2")


def test_a_job_enqueued_while_the_page_connects_its_event_stream_still_appears(
    setup: Callable[..., Any], page: Any
) -> None:  # fmt: skip
    """The page is rendered, then its event stream connects: an event in between must not
    be lost. Here the job is enqueued exactly then, while the browser's /events request waits."""
    daemon, dash = setup(workers=0)
    dash.login(page)
    held: list[str] = []

    def enqueue_then_connect(route: Any) -> None:
        if not held:  # the first connection only; a reconnect resyncs anyway
            held.append(route.request.url)
            daemon.enqueue("true", id="between-render-and-stream")
            daemon.call("job.get", {"id": "between-render-and-stream"})  # committed, event sent
            time.sleep(0.3)  # the dashboard's feed has it before the browser subscribes
        route.continue_()

    page.route("**/events*", enqueue_then_connect)
    open_live(page, dash.url + "/jobs")
    assert held, "the page never opened its event stream"
    expect(row(page, "between-render-and-stream")).to_be_visible()
    expect(page.locator("[data-count=all]")).to_have_text("1")
    # A later event is not missed either, and nothing reloaded the page to get there.
    page.evaluate("window.__sameDocument = true")
    daemon.enqueue("true", id="after-the-stream")
    expect(row(page, "after-the-stream")).to_be_visible()
    assert page.evaluate("window.__sameDocument") is True


def test_jobs_page_filters_searches_sorts_and_pages(setup: Callable[..., Any], page: Any) -> None:
    daemon, dash = setup(workers=0)
    dash.login(page)
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
    dash.login(page)
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
    dash.login(page)
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
    dash.login(page)
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
    dash.login(page)
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
    expect(busy.locator("td.running-for")).to_have_text(re.compile(r"^\d+ s$"))

    confirm_click(page.locator("button[data-action=workers-stop]"))
    expect(page.locator("[data-workers=target]")).to_have_text("0")
    daemon.call("job.cancel", {"id": "busy-one"}, timeout=60)


# --- security ---------------------------------------------------------------------------------


def test_markup_in_ids_commands_and_logs_is_shown_as_text(setup: Callable[..., Any], page: Any) -> None:
    daemon, dash = setup(workers=1)
    dash.login(page)
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


def exchange(dash: Dashboard, path: str) -> tuple[str, str]:
    """Open path?token=...: (the Cookie header a browser then holds, where its page moves on to)."""
    res = dash.http(f"{path}{'&' if '?' in path else '?'}token={dash.token}")
    assert res.status == 200, (res.status, res.text)
    target = re.search(r'http-equiv="refresh" content="0;url=([^"]*)"', res.text).group(1)
    return res.headers["set-cookie"].split(";")[0], html.unescape(target)


def login_cookie(dash: Dashboard) -> str:
    cookie, target = exchange(dash, "/")
    assert target == "/"
    return cookie


def test_changes_need_a_post_with_the_csrf_token(setup: Callable[..., Any]) -> None:
    daemon, dash = setup(workers=0)
    login = login_cookie(dash)
    first = dash.http("/jobs", headers={"Cookie": login})
    assert first.status == 200
    csp = first.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert first.headers["x-frame-options"] == "DENY"
    cookie = login + "; " + first.headers["set-cookie"].split(";")[0]
    token = re.search(r'name="csrf-token" content="(\w+)"', first.text).group(1)
    job = {"command": "echo hi", "id": "csrf-probe"}

    assert dash.http("/actions/enqueue", job, {"Cookie": login}).status == 403  # no session, no token
    assert dash.http("/actions/enqueue", job, {"Cookie": cookie}).status == 403  # no token
    wrong = {**job, "csrf_token": "0" * 64}
    assert dash.http("/actions/enqueue", wrong, {"Cookie": cookie}).status == 403
    other_site = {"Cookie": cookie, "Origin": "http://evil.example"}
    assert dash.http("/actions/enqueue", {**job, "csrf_token": token}, other_site).status == 403
    assert daemon.call("job.list")["total"] == 0

    ok = dash.http("/actions/enqueue", {**job, "csrf_token": token},
                   {"Cookie": cookie, "Accept": "application/json"})  # fmt: skip
    assert ok.status == 200 and ok.json()["ok"], ok.text
    assert daemon.job("csrf-probe")["command"] == "echo hi"
    # A script sending the token in its Authorization header needs no CSRF token: a browser
    # never adds that header by itself, so a cross-site form cannot carry it.
    scripted = dash.http("/actions/enqueue", {"command": "echo script", "id": "scripted"},
                         {**dash.auth(), "Accept": "application/json"})  # fmt: skip
    assert scripted.status == 200 and daemon.job("scripted")["command"] == "echo script"
    # A GET changes nothing: actions only answer POST.
    assert dash.http("/actions/delete?id=csrf-probe", headers={"Cookie": cookie}).status == 405
    # DNS rebinding: a loopback dashboard answers only to loopback names, token or not.
    assert dash.http("/", headers={**dash.auth(), "Host": "evil.example"}).status == 400


# Everything that shows a job, its output or the queue, and things that show nothing.
PROTECTED = ("/", "/jobs", "/dlq", "/job?id=secret", "/fragments/throughput", "/fragments/upcoming",
             "/fragments/latency", "/fragments/jobs-table", "/fragments/dlq-table", "/fragments/job?id=secret",
             "/fragments/job-rows?id=secret", "/api/logs?id=secret", "/api/logs/download?id=secret",
             "/queues", "/fragments/queues", "/jobs?queue=default",
             "/events", "/healthz",
             "/static/common.js", "/static/style.css", "/no-such-page")  # fmt: skip
ACTIONS = ("enqueue", "retry", "cancel", "delete", "dlq-retry", "dlq-retry-all", "dlq-delete-all", "bulk-retry",
           "bulk-cancel", "bulk-delete", "workers-scale", "workers-stop",
           "queue-pause", "queue-pause-kill", "queue-resume", "queue-set")


def test_without_the_token_every_page_and_action_is_refused(
    make_daemon: Callable[..., Daemon], make_dashboard: Callable[..., Dashboard], page: Any, tmp_path: Path
) -> None:  # fmt: skip
    daemon = make_daemon(workers=1)
    daemon.enqueue("echo secret-output", id="secret")
    daemon.wait_state("secret")
    dash = make_dashboard(daemon)  # loopback, the default: other local users are the attacker
    assert dash.token and dash.token in dash.log()
    for path in PROTECTED:
        res = page.goto(dash.url + path)
        assert res.status == 401, path
        text = page.content()
        assert "needs its access token" in text and "secret" not in text, (path, text)
        assert res.headers["www-authenticate"].startswith("Bearer")
    screenshot(page, "token-required")
    marker = tmp_path / "ran"
    form = {"command": f"touch {marker}", "id": "secret", "count": "0", "name": "default", "concurrency": "0",
            "csrf_token": "0" * 64}  # fmt: skip
    for name in ACTIONS:
        assert page.request.post(f"{dash.url}/actions/{name}", form=form).status == 401, name
    for headers in ({"Authorization": "Bearer " + "x" * 43}, {"Authorization": "Basic " + dash.token},
                    {"Cookie": "queuectl_token=" + dash.token},  # the cookie holds no raw token
                    {"Cookie": "queuectl_token=" + "0" * 64}, {"X-Token": dash.token}):  # fmt: skip
        assert dash.http("/", headers=headers).status == 401, headers
        assert dash.http("/actions/enqueue", form, headers).status == 401, headers
    assert page.goto(f"{dash.url}/?token={'x' * 43}").status == 401
    assert page.context.cookies() == []  # no session either: nothing to scrape a CSRF token for
    assert daemon.call("job.list")["total"] == 1 and daemon.call("workers.status")["target"] == 1
    default = daemon.call("queue.get", {"name": "default"})
    assert (default["paused"], default["concurrency"]) == (False, 10000)
    assert not marker.exists()


def test_the_token_in_the_url_becomes_a_cookie_and_everything_works(
    make_daemon: Callable[..., Daemon], make_dashboard: Callable[..., Dashboard], page: Any
) -> None:  # fmt: skip
    daemon = make_daemon(workers=1)
    dash = make_dashboard(daemon)
    # A click on the printed URL from another site (a chat, a mail): that navigation is
    # cross-site, and the SameSite=Strict cookie must still reach the page it moves on to.
    link = f'<a href="{dash.url}/jobs?state=completed&amp;token={dash.token}">dashboard</a>'
    page.route("http://elsewhere.test/", lambda route: route.fulfill(body=link, content_type="text/html"))
    page.goto("http://elsewhere.test/")
    page.locator("a").click()
    page.wait_for_url(f"{dash.url}/jobs?state=completed")  # out of the address bar, the rest kept
    expect(page.locator("#jobs-table")).to_be_attached()  # empty: hidden behind its note
    cookie = {c["name"]: c for c in page.context.cookies()}["queuectl_token"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict", cookie
    assert dash.token not in cookie["value"]
    assert "queuectl_token" not in page.evaluate("document.cookie")  # no script can read it

    # Pages, the event stream, fragments, log data and actions all work with the cookie.
    open_live(page, dash.url + "/jobs")
    form = page.locator("#enqueue-form")
    form.locator("input[name=command]").fill("echo with-the-cookie")
    form.locator("input[name=id]").fill("cookie-job")
    form.locator("button[type=submit]").click()
    expect(page.locator("#flash")).to_contain_text("enqueued cookie-job")
    expect(row(page, "cookie-job").locator("[data-state]")).to_have_text("completed")
    assert page.request.get(dash.url + "/fragments/job?id=cookie-job").status == 200
    assert page.request.get(dash.url + "/api/logs?id=cookie-job").json()["stdout"]["text"] == "with-the-cookie\n"
    open_live(page, dash.url + "/job?id=cookie-job")
    expect(page.locator("#stdout")).to_have_text("with-the-cookie\n")

    # Another dashboard (another token) refuses this cookie, though the browser sends it
    # there too (cookies do not care about ports).
    other = make_dashboard(daemon)
    assert page.goto(other.url + "/").status == 401


def test_non_ascii_tokens_and_csrf_values_get_401_or_403_and_no_traceback(
    make_daemon: Callable[..., Daemon], make_dashboard: Callable[..., Dashboard], page: Any
) -> None:  # fmt: skip
    daemon = make_daemon(workers=0)
    dash = make_dashboard(daemon)

    def raw(text: str) -> str:  # a header value carrying text's UTF-8 bytes as they are
        return text.encode().decode("latin-1")

    for value in ("jeton-é-ü-✓-0123456789", "%FF%FE%00", "é" * 43):
        assert page.goto(f"{dash.url}/?token={value}").status == 401, value
    for headers in ({"Authorization": "Bearer " + raw("jeton-é-ü-✓-0123456789")},
                    {"Authorization": "Bearer " + "é" * 43},  # a latin-1 byte, not UTF-8 at all
                    {"Cookie": "queuectl_token=" + raw("é" * 64)},
                    {"Cookie": raw("é=ü")}):  # fmt: skip
        assert dash.http("/", headers=headers).status == 401, headers
    # A stray cookie with odd characters (another site on this host) does not hide ours.
    login = login_cookie(dash)
    assert dash.http("/", headers={"Cookie": raw("jé=ü; ") + login}).status == 200

    dash.login(page)
    page.goto(dash.url + "/jobs")
    jar = "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())
    job = {"command": "echo nope"}
    assert page.request.post(dash.url + "/actions/enqueue", form={**job, "csrf_token": "é" * 64}).status == 403
    assert dash.http("/actions/enqueue", {**job, "csrf_token": "✓" * 64}, {"Cookie": jar}).status == 403
    assert dash.http("/actions/enqueue", job, {"Cookie": jar, "X-CSRF-Token": raw("é" * 32)}).status == 403
    assert dash.http("/actions/enqueue", job, {"Cookie": jar, "X-CSRF-Token": "é" * 64}).status == 403
    odd_session = f"{login}; queuectl_session={raw('sé')}"
    assert dash.http("/actions/enqueue", {**job, "csrf_token": "0" * 64}, {"Cookie": odd_session}).status == 403
    assert daemon.call("job.list")["total"] == 0
    assert dash.proc.poll() is None
    log = dash.log()
    assert "Traceback" not in log and "Exception" not in log and "ERROR" not in log, log


def test_binding_beyond_loopback_and_tokens_from_a_file_or_the_environment(
    make_daemon: Callable[..., Daemon], make_dashboard: Callable[..., Dashboard], page: Any, tmp_path: Path
) -> None:  # fmt: skip
    daemon = make_daemon(workers=0)
    dash = make_dashboard(daemon, host="0.0.0.0")
    assert dash.token, dash.log()
    for path in ("/", "/jobs", "/static/common.js", "/events", "/healthz", "/fragments/throughput"):
        assert dash.http(path).status == 401, path
    assert dash.http("/", headers={"Authorization": "Bearer wrong-token-wrong-token"}).status == 401
    assert dash.http("/?token=nope").status == 401
    assert dash.http("/", headers=dash.auth()).status == 200
    # A browser presents it once in the URL; a cookie keeps it, and the URL drops it.
    open_live(page, f"{dash.url}/jobs?token={dash.token}")
    assert "token" not in page.url
    daemon.enqueue("true", id="seen-remotely")
    expect(row(page, "seen-remotely")).to_be_visible()

    token_file = tmp_path / "token"
    token_file.write_text("a-token-from-a-file-0123456789\n")
    token_file.chmod(0o600)
    other = make_dashboard(daemon, "--token-file", str(token_file), host="0.0.0.0")
    assert other.http("/").status == 401
    good = {"Authorization": "Bearer a-token-from-a-file-0123456789"}
    assert other.http("/", headers=good).status == 200
    assert "a-token-from-a-file" not in other.log() and f"<the token in {token_file}>" in other.log()

    env = {"QUEUECTL_DASHBOARD_TOKEN": "a-token-from-the-environment"}
    service = make_dashboard(daemon, env=env)
    assert service.http("/").status == 401
    assert service.http("/", headers={"Authorization": f"Bearer {env['QUEUECTL_DASHBOARD_TOKEN']}"}).status == 200
    assert "a-token-from-the-environment" not in service.log(), service.log()
    # --token-file wins over the environment.
    both = make_dashboard(daemon, "--token-file", str(token_file), env=env)
    assert both.http("/", headers=good).status == 200


def test_unusable_tokens_and_unsafe_binds_are_refused_with_one_line(
    make_daemon: Callable[..., Daemon], make_dashboard: Callable[..., Dashboard], tmp_path: Path
) -> None:  # fmt: skip
    daemon = make_daemon(workers=0, start=False)
    files = tmp_path / "files"
    files.mkdir(mode=0o700)

    def token_file(name: str, text: str, mode: int = 0o600) -> str:
        path = files / name
        path.write_bytes(text.encode())
        path.chmod(mode)
        return str(path)

    fifo = files / "fifo"
    os.mkfifo(fifo, 0o600)
    sockets = tmp_path / "s"
    sockets.mkdir(mode=0o700)
    (sockets / "link").symlink_to(sockets)
    (sockets / "open").mkdir(mode=0o700)
    (sockets / "open").chmod(0o777)  # writable by anyone, no sticky bit
    (sockets / "open" / "mine").mkdir(mode=0o700)
    (sockets / "file.sock").write_text("")
    busy = make_dashboard(daemon, "--bind", f"unix:{sockets}/busy.sock", "--no-auth", daemon_up=False)
    cases = [
        (["--token-file", token_file("loose", "a-token-from-a-file-0123456789", 0o644)], "chmod 600"),
        (["--token-file", token_file("short", "short")], "shorter than 16 characters"),
        (["--token-file", token_file("accents", "un-jeton-accentué-0123456789")], "printable ASCII"),
        (["--token-file", token_file("spaces", "a token with spaces in it")], "printable ASCII"),
        (["--token-file", str(files / "missing")], "No such file"),
        (["--token-file", str(fifo)], "not a regular file"),  # and no hanging on it
        (["--no-auth"], "--no-auth needs --bind unix:"),
        (["--no-auth", "--host", "0.0.0.0"], "--no-auth needs --bind unix:"),
        (["--bind", "localhost"], "expected HOST:PORT"),
        (["--bind", "::1:8080"], "brackets"),
        (["--bind", "127.0.0.1:99999"], "0 to 65535"),
        (["--bind", "127.0.0.1:8080", "--port", "9000"], "--bind replaces --host and --port"),
        (["--bind", f"unix:{sockets}/link/d.sock"], "symlink"),
        (["--bind", f"unix:{sockets}/open/d.sock"], "writable by group or others"),
        (["--bind", f"unix:{sockets}/open/mine/d.sock"], f"{sockets}/open is writable by others"),
        (["--bind", f"unix:{sockets}/nowhere/d.sock"], "no such directory"),
        (["--bind", f"unix:{sockets}/file.sock"], "exists and is not a socket"),
        (["--bind", f"unix:{sockets}/busy.sock"], "in use"),
        (["--bind", f"unix:{sockets}/{'x' * 120}.sock"], "longer than 107 bytes"),
    ]
    for args, reason in cases:
        proc = daemon.cli("dashboard", "--port", "1", *args, timeout=20) if args[0] != "--bind" else \
            daemon.cli("dashboard", *args, timeout=20)  # fmt: skip
        assert proc.returncode == 2, (args, proc.returncode, proc.stderr)
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("queuectl: "), (args, proc.stderr)
        assert reason in proc.stderr, (args, proc.stderr)
    env_short = daemon.cli("dashboard", env={"QUEUECTL_DASHBOARD_TOKEN": "short"}, timeout=20)
    assert env_short.returncode == 2 and "$QUEUECTL_DASHBOARD_TOKEN is shorter" in env_short.stderr
    assert busy.proc.poll() is None and (sockets / "file.sock").read_text() == ""


def test_the_unix_socket_is_private_replaced_when_stale_and_removed_on_exit(
    make_daemon: Callable[..., Daemon], make_dashboard: Callable[..., Dashboard], tmp_path: Path
) -> None:  # fmt: skip
    daemon = make_daemon(workers=0)
    daemon.enqueue("echo hello", id="via-socket")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    path = private / "dash.sock"
    with socket.socket(socket.AF_UNIX) as stale:  # left by a dashboard that was killed
        stale.bind(str(path))
    dash = make_dashboard(daemon, "--bind", f"unix:{path}")
    st = os.lstat(path)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.geteuid()
    assert dash.http("/jobs").status == 401  # the token holds on a Unix socket too
    assert "via-socket" in dash.http("/jobs", headers=dash.auth()).text
    assert exchange(dash, "/jobs?state=dead")[1] == "/jobs?state=dead"
    # Only to our own pages, whatever the path looks like.
    assert exchange(dash, "//evil.example/x")[1] == "/evil.example/x"
    assert exchange(dash, '/"><script>')[1] == "/%22%3E%3Cscript%3E"
    # Behind a proxy the Host is the public name: not a DNS-rebinding case here.
    assert dash.http("/", headers={**dash.auth(), "Host": "queue.example.org"}).status == 200
    dash.stop()
    assert not path.exists()

    # A directory that lets its group in and nobody else: 0660 for that group.
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o750)
    shared.chmod(0o750)
    grouped = make_dashboard(daemon, "--bind", f"unix:{shared}/dash.sock")
    st = os.lstat(shared / "dash.sock")
    assert stat.S_IMODE(st.st_mode) == 0o660 and st.st_gid == shared.stat().st_gid
    assert "mode 0660" in grouped.log()

    # unix: alone: beside the daemon's control socket, owner only like it.
    beside = make_dashboard(daemon, "--bind", "unix:", "--no-auth")
    default = daemon.paths.socket.parent / "dashboard.sock"
    assert stat.S_IMODE(os.lstat(default).st_mode) == 0o600
    assert f"unix:{default}" in beside.log() and "warning: --no-auth" in beside.log()
    assert "via-socket" in http("http://localhost/jobs", unix=default).text  # no token asked
    beside.stop()
    assert not default.exists()


# --- another local user ---------------------------------------------------------------------------


@pytest.fixture
def other_user() -> Iterator[str]:
    """A real second account on this machine, removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("creating a second local user (useradd) and acting as it (runuser) needs root; "
                    "CI runs the tests as root")  # fmt: skip
    missing = [tool for tool in ("useradd", "userdel", "runuser", "curl") if shutil.which(tool) is None]
    if missing:  # as root this must run (CI): say what to install rather than skip
        pytest.fail(f"acting as a second local user needs {', '.join(missing)} (see .ci/apt-packages)")
    name = f"qctl-test-{secrets.token_hex(4)}"
    # users.admin retries while another run (or test) holds /etc/passwd's lock.
    users.admin("useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                "--user-group", name)  # fmt: skip
    try:
        yield name
    finally:
        users.admin("userdel", name)


@pytest.fixture
def shared_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory others may pass through (0711; pytest's own are 0700), so what stops them
    is the socket's own mode and the token, not a directory on the way."""
    path = Path(tempfile.mkdtemp(prefix="qctl-dash-", dir="/tmp"))
    path.chmod(0o711)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def curl(url: str, *args: str, user: str | None = None, unix: Path | None = None) -> tuple[int, int, str]:
    """curl as user (root when None): (curl's exit code, HTTP status or 0, headers and body)."""
    cmd = ["curl", "-sS", "-i", "--noproxy", "*", "--max-time", "5", "-w", "\n%{http_code}",
           *(["--unix-socket", str(unix)] if unix else []), *args, url]  # fmt: skip
    if user:
        cmd = ["runuser", "-u", user, "--", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    body, _, status = proc.stdout.rpartition("\n")
    return proc.returncode, int(status) if status.isdigit() else 0, body + proc.stderr


def assert_locked_out(daemon: Daemon, url: str, user: str, marker: Path, unix: Path | None = None) -> None:
    """user reads nothing and changes nothing, even with a page scraped first."""
    for path in PROTECTED:
        rc, status, text = curl(url + path, user=user, unix=unix)
        assert (rc, status) == (0, 401), (path, rc, status, text)
        assert "secret-output" not in text and "csrf-token" not in text, (path, text)
        assert "set-cookie" not in text.lower(), (path, text)  # no session to take a CSRF token from
    attempts = ([], ["-H", "Cookie: queuectl_session=made-up; queuectl_token=" + "0" * 64],
                ["-H", "Authorization: Bearer " + "x" * 43], ["-H", "X-CSRF-Token: " + "0" * 64])  # fmt: skip
    for extra in attempts:
        for action in ("enqueue", "workers-scale"):
            form = ["-d", f"command=touch {marker}", "-d", "count=0", "-d", "csrf_token=" + "0" * 64]
            rc, status, text = curl(f"{url}/actions/{action}", *form, *extra, user=user, unix=unix)
            assert (rc, status) == (0, 401), (action, extra, rc, status, text)
    assert daemon.call("job.list")["total"] == 1 and daemon.call("workers.status")["target"] == 0
    assert not marker.exists()


def test_another_local_user_can_neither_read_nor_act_on_loopback(
    make_daemon: Callable[..., Daemon], make_dashboard: Callable[..., Dashboard], other_user: str
) -> None:  # fmt: skip
    daemon = make_daemon(workers=0)
    daemon.enqueue("echo secret-output", id="secret")
    dash = make_dashboard(daemon)
    marker = Path(f"/tmp/qctl-ran-{secrets.token_hex(4)}")
    # The owner, with the token, reads the job: what the other user is refused exists.
    rc, status, text = curl(dash.url + "/job?id=secret", "-H", f"Authorization: Bearer {dash.token}")
    assert (rc, status) == (0, 200) and "secret-output" in text, text
    assert_locked_out(daemon, dash.url, other_user, marker)


def test_another_local_user_cannot_use_the_unix_socket(
    make_daemon: Callable[..., Daemon], make_dashboard: Callable[..., Dashboard], other_user: str,
    shared_dir: Path,
) -> None:  # fmt: skip
    daemon = make_daemon(workers=0)
    daemon.enqueue("echo secret-output", id="secret")
    marker = Path(f"/tmp/qctl-ran-{secrets.token_hex(4)}")
    sock = shared_dir / "dash.sock"
    dash = make_dashboard(daemon, "--bind", f"unix:{sock}")
    assert stat.S_IMODE(os.lstat(sock).st_mode) == 0o600
    # The socket's mode stops the other user at connect() (curl: exit 7, no HTTP at all)...
    for path, extra in (("/", []), ("/events", []), ("/actions/enqueue", ["-d", f"command=touch {marker}"])):
        rc, status, text = curl(dash.url + path, *extra, user=other_user, unix=sock)
        assert (rc, status) == (7, 0), (path, rc, status, text)
    # ...while the owner connects (so it is the mode that refused).
    rc, status, text = curl(dash.url + "/job?id=secret", "-H", f"Authorization: Bearer {dash.token}", unix=sock)
    assert (rc, status) == (0, 200) and "secret-output" in text, text
    # Were the mode opened up, the token still stands.
    sock.chmod(0o666)
    assert_locked_out(daemon, dash.url, other_user, marker, unix=sock)

    # The group layout: a directory for one group (e.g. the proxy's) gets a 0660 socket; a
    # member connects, and still needs the token.
    group_dir = shared_dir / "group"
    group_dir.mkdir(mode=0o750)
    os.chown(group_dir, -1, grp.getgrnam(other_user).gr_gid)
    grouped = make_dashboard(daemon, "--bind", f"unix:{group_dir}/dash.sock")
    st = os.lstat(group_dir / "dash.sock")
    assert stat.S_IMODE(st.st_mode) == 0o660 and st.st_gid == grp.getgrnam(other_user).gr_gid
    assert_locked_out(daemon, grouped.url, other_user, marker, unix=group_dir / "dash.sock")

    # A directory the other user made (before us, or in our place) is refused, not used.
    planted = shared_dir / "planted"
    planted.mkdir(mode=0o700)
    os.chown(planted, pwd.getpwnam(other_user).pw_uid, -1)
    proc = daemon.cli("dashboard", "--bind", f"unix:{planted}/dash.sock", timeout=20)
    assert proc.returncode == 2 and f"{planted}: it belongs to uid {pwd.getpwnam(other_user).pw_uid}" in proc.stderr
    assert proc.stderr.count("\n") == 1 and not list(planted.iterdir()), proc.stderr

    # --no-auth leaves only the socket's mode: 0600, so the other user cannot connect.
    bare = shared_dir / "bare.sock"
    make_dashboard(daemon, "--bind", f"unix:{bare}", "--no-auth")
    assert curl(dash.url + "/", user=other_user, unix=bare)[:2] == (7, 0)
    assert curl(dash.url + "/job?id=secret", unix=bare)[:2] == (0, 200)


# --- the daemon going away ----------------------------------------------------------------------


def test_daemon_down_shows_a_banner_and_the_page_recovers(setup: Callable[..., Any], page: Any) -> None:
    daemon, dash = setup(workers=1)
    dash.login(page)
    daemon.enqueue("true", id="before")
    daemon.wait_state("before")
    open_live(page, dash.url + "/jobs")
    banner = page.locator("#banner")
    expect(banner).to_be_hidden()

    daemon.stop()
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("not answering")
    # A page loaded meanwhile shows the banner, not a stack trace.
    down = dash.http("/jobs", headers=dash.auth())
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
    wait_for(lambda: dash.http("/healthz", headers=dash.auth()).json()["daemon_up"], what="the dashboard")
    for path in ("/", "/jobs", "/jobs?sort=priority", "/jobs?sort=oldest&offset=90000",
                 "/jobs?state=pending&search=7-777", "/dlq", "/fragments/jobs-table?limit=200"):  # fmt: skip
        res, seconds = timed(lambda p=path: dash.http(p, headers=dash.auth()))
        assert res.status == 200, (path, res.status)
        assert seconds < 1.0, f"{path} took {seconds:.2f}s"
    assert "100000" in dash.http("/jobs", headers=dash.auth()).text


# --- without a browser ---------------------------------------------------------------------------


def test_without_the_extra_the_command_says_what_to_install(tmp_path: Path) -> None:
    hide = "import sys; sys.modules['starlette'] = sys.modules['uvicorn'] = None; "
    run = "from queuectl.client.cli import main; sys.argv = ['queuectl', 'dashboard']; main()"
    proc = subprocess.run([sys.executable, "-c", hide + run], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "QUEUECTL_HOME": str(tmp_path)})  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "pip install 'queuectl[dashboard]'" in proc.stderr, proc.stderr
