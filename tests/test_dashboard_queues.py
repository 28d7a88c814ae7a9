"""The dashboard's part of named queues (issue 15), end to end: the queues page (counts,
slots in use against the limit, the oldest pending job's wait), pausing, resuming and
setting a queue's concurrency from it (checked against the daemon over RPC), the same CSRF
and token rules as every action, input the daemon must never see, the jobs page's queue
filter, and the job page's queue, slots and tags. A real daemon, a real `queuectl dashboard`
and Chromium, as in test_dashboard_ui.py (which checks /queues fits both viewports).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import Daemon, wait_for
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


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, Dashboard]]:
    pytest.importorskip("starlette", reason="the dashboard extra: pip install -e '.[dev]'")
    need_browser()
    daemon = Daemon(tmp_path_factory.mktemp("queues") / "home", workers=3).start()
    dash = Dashboard(daemon)
    try:
        dash.wait_ready()
        yield daemon, dash
    finally:
        dash.stop()
        daemon.call("config.set", {"key": "shutdown_grace", "value": 0})
        daemon.stop()


@pytest.fixture
def open_page(browser: Any, site: tuple[Daemon, Dashboard]) -> Iterator[Callable[..., Any]]:
    contexts: list[Any] = []

    def make(viewport: dict[str, int] = DESKTOP, **options: Any) -> Any:
        context = browser.new_context(viewport=viewport, **options)
        contexts.append(context)
        page = context.new_page()
        page.dialogs = []
        page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
        site[1].login(page)
        return page

    yield make
    for c in contexts:
        c.close()


def session(dash: Dashboard) -> tuple[str, str]:
    """What a browser holds after opening the token URL and a page: (Cookie header, CSRF token)."""
    res = dash.http(f"/queues?token={dash.token}")
    login = res.headers["set-cookie"].split(";")[0]
    page = dash.http("/queues", headers={"Cookie": login})
    assert page.status == 200, page.text
    cookie = login + "; " + page.headers["set-cookie"].split(";")[0]
    return cookie, re.search(r'name="csrf-token" content="(\w+)"', page.text).group(1)


def queue(daemon: Daemon, name: str) -> dict[str, Any]:
    return daemon.call("queue.get", {"name": name})


def queue_row(page: Any, name: str) -> Any:
    return page.locator(f'#queues-table tbody tr[data-queue="{name}"]')


def test_the_queues_page_shows_every_queue_with_its_counts_live(
    site: tuple[Daemon, Dashboard], open_page: Callable[..., Any]
) -> None:  # fmt: skip
    daemon, dash = site
    daemon.call("queue.add", {"name": "render", "concurrency": 1, "weight": 3})
    for i in range(3):
        daemon.enqueue("sleep 30", id=f"render-{i}", queue="render")
    daemon.wait_state("render-0", "processing")
    page = open_page()
    open_live(page, dash.url + "/queues")
    expect(page.locator("header nav a[aria-current=page]")).to_have_text("Queues")
    render = queue_row(page, "render")
    expect(render.locator("[data-field=pending]")).to_have_text("2")
    expect(render.locator("[data-field=running]")).to_have_text("1")
    expect(render.locator("[data-field=slots]")).to_have_text("1 / 1")
    expect(render.locator("[data-field=weight]")).to_have_text("3")
    expect(render.locator("[data-queue-state]")).to_have_text("active")
    # How long the oldest pending job has waited, in words, counting by itself.
    expect(render.locator("[data-field=oldest]")).to_have_text(re.compile(r"^waiting \d+ s$"))
    expect(render.locator("td.id a")).to_have_attribute("href", "/jobs?queue=render")
    expect(queue_row(page, "default").locator("[data-field=oldest]")).to_have_text("none pending")
    # Live: a job enqueued elsewhere shows in the counts without a reload.
    daemon.enqueue("sleep 30", id="render-3", queue="render")
    expect(render.locator("[data-field=pending]")).to_have_text("3")
    # A queue added elsewhere appears.
    daemon.call("queue.add", {"name": "later", "concurrency": 4})
    expect(queue_row(page, "later").locator("[data-field=slots]")).to_have_text("0 / 4")
    screenshot(page, "desktop-queues-live")
    # The queue's link opens the jobs page filtered by it.
    render.locator("td.id a").click()
    page.wait_for_url(re.compile(r"/jobs\?queue=render$"))
    expect(page.locator("#jobs-table tbody tr")).to_have_count(4)
    for i in range(4):
        daemon.call("job.cancel", {"id": f"render-{i}"}, timeout=30)
    assert page.dialogs == []


def test_pause_resume_and_concurrency_from_the_page_change_the_daemon(
    site: tuple[Daemon, Dashboard], open_page: Callable[..., Any]
) -> None:  # fmt: skip
    daemon, dash = site
    daemon.call("queue.add", {"name": "gpu", "concurrency": 2})
    daemon.enqueue("sleep 60", id="gpu-long", queue="gpu")
    daemon.wait_state("gpu-long", "processing")
    page = open_page()
    open_live(page, dash.url + "/queues")
    gpu = queue_row(page, "gpu")
    toast = page.locator("#flash")

    gpu.locator("button[data-action=queue-pause]").click()
    expect(toast).to_contain_text("paused queue gpu")
    assert queue(daemon, "gpu")["paused"] is True
    expect(gpu.locator("[data-queue-state]")).to_have_text("paused")
    daemon.enqueue("true", id="gpu-held", queue="gpu")  # a paused queue starts nothing
    assert daemon.job("gpu-held")["state"] == "pending"

    gpu.locator("button[data-action=queue-resume]").click()
    expect(toast).to_contain_text("resumed queue gpu")
    assert queue(daemon, "gpu")["paused"] is False
    expect(gpu.locator("[data-queue-state]")).to_have_text("active")
    daemon.wait_state("gpu-held", "completed")

    field = gpu.locator("input[name=concurrency]")
    field.fill("5")
    gpu.locator("button[data-action=queue-set]").click()
    expect(toast).to_contain_text("queue gpu: concurrency 5")
    assert queue(daemon, "gpu")["concurrency"] == 5
    expect(gpu.locator("[data-field=slots]")).to_have_text("1 / 5")

    # Pausing and stopping its jobs asks for a second click; its running job goes back to pending.
    confirm_click(gpu.locator("button[data-action=queue-pause-kill]"))
    expect(toast).to_contain_text("paused queue gpu; stopping its 1 running job")
    assert queue(daemon, "gpu")["paused"] is True
    daemon.wait_state("gpu-long", "pending")
    expect(gpu.locator("[data-field=pending]")).to_have_text("1")
    daemon.call("job.delete", {"id": "gpu-long"})
    daemon.call("queue.resume", {"name": "gpu"})
    assert page.dialogs == []


def test_bad_concurrency_is_refused_with_a_clear_message_and_changes_nothing(
    site: tuple[Daemon, Dashboard], open_page: Callable[..., Any]
) -> None:  # fmt: skip
    daemon, dash = site
    daemon.call("queue.add", {"name": "strict", "concurrency": 7})
    cookie, token = session(dash)
    headers = {"Cookie": cookie, "Accept": "application/json"}
    for value, said in (("-1", "not -1"), ("10001", "not 10001"), ("abc", "not 'abc'"), ("2.5", "not '2.5'"),
                        ("", "it was empty")):  # fmt: skip
        res = dash.http("/actions/queue-set", {"name": "strict", "concurrency": value, "csrf_token": token}, headers)
        assert res.status == 400, (value, res.text)
        message = res.json()["message"]
        assert message.startswith("concurrency must be a whole number from 0 to 10,000") and said in message, message
    assert queue(daemon, "strict")["concurrency"] == 7
    # A queue that does not exist: the daemon's words, 404.
    res = dash.http("/actions/queue-pause", {"name": "nope", "csrf_token": token}, headers)
    assert res.status == 404 and "no queue named 'nope'" in res.json()["message"], res.text
    # In the browser, the field itself refuses what is out of range (no request is sent).
    page = open_page()
    open_live(page, dash.url + "/queues")
    strict = queue_row(page, "strict")
    strict.locator("input[name=concurrency]").fill("-3")
    strict.locator("button[data-action=queue-set]").click()
    assert strict.locator("input[name=concurrency]").evaluate("(el) => !el.checkValidity()")
    expect(page.locator("#flash")).to_be_hidden()
    assert queue(daemon, "strict")["concurrency"] == 7


def test_queue_actions_need_the_token_and_the_csrf_token(site: tuple[Daemon, Dashboard]) -> None:
    daemon, dash = site
    daemon.call("queue.add", {"name": "guarded", "concurrency": 3})
    cookie, token = session(dash)
    forms = {"queue-pause": {"name": "guarded"}, "queue-pause-kill": {"name": "guarded"},
             "queue-set": {"name": "guarded", "concurrency": "0"}}  # fmt: skip
    daemon.call("queue.pause", {"name": "guarded"})
    forms["queue-resume"] = {"name": "guarded"}
    for action, form in forms.items():
        assert dash.http(f"/actions/{action}", form, {"Cookie": cookie}).status == 403, action  # no CSRF token
        wrong = {**form, "csrf_token": "0" * 64}
        assert dash.http(f"/actions/{action}", wrong, {"Cookie": cookie}).status == 403, action
        other_site = {"Cookie": cookie, "Origin": "http://evil.example"}
        assert dash.http(f"/actions/{action}", {**form, "csrf_token": token}, other_site).status == 403, action
        # The CSRF token without the cookie: not logged in at all.
        assert dash.http(f"/actions/{action}", {**form, "csrf_token": token}).status == 401, action
    for path in ("/queues", "/fragments/queues", "/static/queues.js"):
        assert dash.http(path).status == 401, path
    got = queue(daemon, "guarded")
    assert (got["paused"], got["concurrency"]) == (True, 3)
    ok = dash.http("/actions/queue-resume", {"name": "guarded", "csrf_token": token},
                   {"Cookie": cookie, "Accept": "application/json"})  # fmt: skip
    assert ok.status == 200 and ok.json() == {"ok": True, "message": "resumed queue guarded"}
    assert queue(daemon, "guarded")["paused"] is False


def test_the_jobs_page_filters_by_queue_and_the_job_page_shows_queue_slots_and_tags(
    site: tuple[Daemon, Dashboard], open_page: Callable[..., Any]
) -> None:  # fmt: skip
    daemon, dash = site
    daemon.call("queue.add", {"name": "mail", "concurrency": 2})
    daemon.call("job.enqueue_many", {"jobs": [
        *({"id": f"mail-{i}", "command": "true", "queue": "mail", "delay": 3600} for i in range(3)),
        *({"id": f"plain-{i}", "command": "true", "delay": 3600} for i in range(2)),
        {"id": "mail-tagged", "command": "true", "queue": "mail", "slots": 2, "delay": 3600,
         "tags": {"team": "growth", "kind": "digest"}},
    ]})  # fmt: skip
    page = open_page()
    open_live(page, dash.url + "/jobs")
    # The enqueue form offers the queues.
    form = page.locator("#enqueue-form")
    form.locator("input[name=command]").fill("true")
    form.locator("input[name=id]").fill("mail-form")
    form.locator("input[name=run_at]").fill("2099-01-01T00:00:00Z")
    form.locator("select[name=queue]").select_option("mail")
    form.locator("button[type=submit]").click()
    expect(page.locator("#flash")).to_contain_text("enqueued mail-form")
    assert daemon.job("mail-form")["queue"] == "mail"
    page.locator("#filter-form select[name=queue]").select_option("mail")
    page.locator("#filter-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/jobs\?.*\bqueue=mail\b"))
    open_live(page, page.url)
    ids = page.locator("#jobs-table tbody tr").evaluate_all("(rows) => rows.map((r) => r.dataset.jobId)")
    assert sorted(ids) == ["mail-0", "mail-1", "mail-2", "mail-form", "mail-tagged"], ids
    expect(page.locator(".table-meta")).to_contain_text("5 job(s) in queue mail")
    # Live: a new job of this queue appears on top; one of another queue does not.
    daemon.enqueue("true", id="plain-live", delay=3600)
    daemon.enqueue("true", id="mail-live", queue="mail", delay=3600)
    expect(row(page, "mail-live")).to_be_visible()
    expect(row(page, "plain-live")).to_have_count(0)
    assert daemon.call("job.list", {"queue": "mail", "limit": 0})["total"] == 6
    # A queue that does not exist says so.
    page.goto(dash.url + "/jobs?queue=no-such-queue")
    expect(page.locator("#jobs-region .empty")).to_contain_text("There is no queue named “no-such-queue”")
    # The job page: its queue (a link to its jobs), slots, tags.
    page.goto(dash.url + "/job?id=mail-tagged")
    spec = page.locator("dl.spec")
    expect(spec.locator("a.queue-link")).to_have_text("mail")
    expect(spec.locator("a.queue-link")).to_have_attribute("href", "/jobs?queue=mail")
    expect(spec).to_contain_text("Slots")
    expect(spec.locator("dd.tags code.tag")).to_have_text(["kind=digest", "team=growth"])
    for i in [*range(3), "tagged", "live", "form"]:
        daemon.call("job.delete", {"id": f"mail-{i}"})


def test_the_queues_page_on_a_phone_and_in_the_dark(
    site: tuple[Daemon, Dashboard], open_page: Callable[..., Any]
) -> None:  # fmt: skip
    daemon, dash = site
    long_name = "nightly-" + "x" * 56  # 64 characters, the longest a name may be, with nowhere to break
    daemon.call("queue.add", {"name": long_name, "concurrency": 10})
    daemon.call("queue.pause", {"name": long_name})
    for viewport, scheme in ((PHONE, "light"), (PHONE, "dark"), (DESKTOP, "dark")):
        page = open_page(viewport, color_scheme=scheme)
        open_live(page, dash.url + "/queues")
        expect(queue_row(page, long_name).locator("[data-queue-state]")).to_have_text("paused")
        assert_no_overflow(page, f"{viewport} {scheme} /queues")
        for button in queue_row(page, long_name).locator("button").all():
            box = button.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], box
        if scheme == "dark":
            card = page.evaluate("() => getComputedStyle(document.querySelector('.card')).backgroundColor")
            assert card == "rgb(23, 27, 34)"
        screenshot(page, f"{'phone' if viewport is PHONE else 'desktop'}-{scheme}-queues")
    wait_for(lambda: daemon.call("queue.resume", {"name": long_name}), what="resume")
