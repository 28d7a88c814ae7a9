"""The dashboard's job page: links to parents and dependents, and a small graph."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.test_dashboard import login_cookie, make_dashboard, setup  # noqa: F401 (fixtures)


def test_job_page_links_parents_and_dependents_with_a_graph(setup: Callable[..., Any]) -> None:  # noqa: F811
    daemon, dash = setup(workers=0)
    daemon.call("job.enqueue_many", {"jobs": [
        {"id": "build", "command": "true"}, {"id": "test", "command": "true", "after": ["build"]},
        {"id": "deploy", "command": "true", "after": ["test"], "after_condition": "always"}]})  # fmt: skip
    cookie = login_cookie(dash)
    page = dash.http("/job?id=test", headers={"Cookie": cookie})
    assert page.status == 200
    text = page.text
    assert 'id="dependencies"' in text and "<svg" in text
    assert 'href="/job?id=build"' in text and 'href="/job?id=deploy"' in text
    assert "After (success)" in text
    plain = dash.http("/job?id=build", headers={"Cookie": cookie}).text
    assert 'href="/job?id=test"' in plain
    alone = daemon.call("job.enqueue", {"id": "alone", "command": "true"})
    assert 'id="dependencies"' not in dash.http(f"/job?id={alone['id']}", headers={"Cookie": cookie}).text
