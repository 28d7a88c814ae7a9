"""Every change: a POST to /actions/<name> carrying the CSRF token (or an Authorization
header). A page's script posts in place and shows the message as a toast; without a
script the browser is sent back where it was, with the message in a one-time cookie."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from queuectl.client.rpc import DaemonUnreachable, RemoteError
from queuectl.dashboard.daemon_link import MAX_BATCH, DaemonLink
from queuectl.dashboard.humane import plural
from queuectl.dashboard.site import FLASH_COOKIE, error_status, site_of
from queuectl.dashboard.views import FormError, concurrency_of, enqueue_params, field, ids_of

CANCEL_TIMEOUT = 300.0  # job.cancel answers once a running job is dead: kill_grace and more
SHOWN_FAILURES = 3

Action = Callable[[DaemonLink, Any], Awaitable[str]]


class NothingDone(Exception):
    """A bulk action that changed no job: the reply is an error, with each job's reason."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


async def do_enqueue(link: DaemonLink, form: Any) -> str:
    created = await link.call("job.enqueue", enqueue_params(form))
    return f"enqueued {created['id']} ({created['state']})"


async def do_retry(link: DaemonLink, form: Any) -> str:
    await link.call("job.retry", {"id": field(form, "id")})
    return f"retrying {form['id']}"


async def do_cancel(link: DaemonLink, form: Any) -> str:
    await link.call("job.cancel", {"id": field(form, "id")}, timeout=CANCEL_TIMEOUT)
    return f"cancelled {form['id']}"


async def do_delete(link: DaemonLink, form: Any) -> str:
    await link.call("job.delete", {"id": field(form, "id")})
    return f"deleted {form['id']}"


async def do_dlq_retry(link: DaemonLink, form: Any) -> str:
    await link.call("dlq.retry", {"id": field(form, "id")})
    return f"retrying {form['id']}"


async def do_dlq_retry_all(link: DaemonLink, form: Any) -> str:
    result = await link.call("dlq.retry", {"all": True})
    return f"retrying {plural(len(result['retried']), 'dead job')}"


async def do_scale(link: DaemonLink, form: Any) -> str:
    try:
        count = int(field(form, "count"))
    except ValueError:
        raise FormError("the number of workers must be a whole number") from None
    await link.call("workers.scale", {"count": count})
    return f"scaling to {plural(count, 'worker')}"


async def do_stop_workers(link: DaemonLink, form: Any) -> str:
    await link.call("workers.stop")
    return "stopping all workers (each finishes its current job)"


# --- queues -------------------------------------------------------------------------------


async def do_queue_pause(link: DaemonLink, form: Any) -> str:
    name = field(form, "name")
    result = await link.call("queue.pause", {"name": name})
    return f"paused queue {name}: none of its jobs starts until it is resumed" if result["changed"] \
        else f"queue {name} was paused already"  # fmt: skip


async def do_queue_pause_kill(link: DaemonLink, form: Any) -> str:
    name = field(form, "name")
    result = await link.call("queue.pause", {"name": name, "kill": True})
    running = result["queue"]["running"]
    stopping = f"stopping its {plural(running, 'running job')} (back to pending)" if running else "nothing was running"
    return f"paused queue {name}; {stopping}"


async def do_queue_resume(link: DaemonLink, form: Any) -> str:
    name = field(form, "name")
    result = await link.call("queue.resume", {"name": name})
    return f"resumed queue {name}" if result["changed"] else f"queue {name} was not paused"


async def do_queue_set(link: DaemonLink, form: Any) -> str:
    name = field(form, "name")
    concurrency = concurrency_of(form)
    await link.call("queue.set", {"name": name, "concurrency": concurrency})
    return f"queue {name}: concurrency {concurrency}"


# --- many jobs at once ----------------------------------------------------------------------


def summary(verb: str, ids: list[str], results: list[Any]) -> str:
    """What a bulk action did: `deleted 3 jobs`, or `deleted 2 of 3 jobs; not the others:
    job 'x' is running; ...`. Raises NothingDone when no job changed."""
    failed = [(i, r) for i, r in zip(ids, results, strict=True) if isinstance(r, RemoteError)]
    done = len(ids) - len(failed)
    if not failed:
        return f"{verb} {plural(done, 'job')}"
    reasons = "; ".join(r.message for _, r in failed[:SHOWN_FAILURES])
    more = f"; and {len(failed) - SHOWN_FAILURES} more" if len(failed) > SHOWN_FAILURES else ""
    if done == 0:
        raise NothingDone(f"{verb} none of {plural(len(ids), 'job')}: {reasons}{more}", error_status(failed[0][1]))
    return f"{verb} {done} of {plural(len(ids), 'job')}; not the others: {reasons}{more}"


def bulk(method: str, verb: str, timeout: float | None = None) -> Action:
    async def run(link: DaemonLink, form: Any) -> str:
        ids = ids_of(form)
        return summary(verb, ids, await link.batch([(method, {"id": i}) for i in ids], timeout=timeout))

    return run


async def do_dlq_delete_all(link: DaemonLink, form: Any) -> str:
    """Delete the jobs that are dead, a batch at a time. Jobs that die meanwhile may go too;
    the rounds are bounded by the count at the start, so a stream of dying jobs cannot keep
    this going."""
    rounds = (await link.call("dlq.list", {"limit": 0}))["total"] // MAX_BATCH + 1
    deleted = 0
    for _ in range(rounds):
        listed = await link.call("dlq.list", {"limit": MAX_BATCH})
        ids = [j["id"] for j in listed["jobs"]]
        results = await link.batch([("job.delete", {"id": i}) for i in ids])
        done = sum(1 for r in results if not isinstance(r, RemoteError))
        deleted += done
        if not done:
            break
    return f"deleted {plural(deleted, 'dead job')}"


ACTIONS: dict[str, Action] = {
    "enqueue": do_enqueue, "retry": do_retry, "cancel": do_cancel, "delete": do_delete,
    "dlq-retry": do_dlq_retry, "dlq-retry-all": do_dlq_retry_all, "dlq-delete-all": do_dlq_delete_all,
    "bulk-retry": bulk("job.retry", "retried"),
    "bulk-cancel": bulk("job.cancel", "cancelled", CANCEL_TIMEOUT),
    "bulk-delete": bulk("job.delete", "deleted"),
    "workers-scale": do_scale, "workers-stop": do_stop_workers,
    "queue-pause": do_queue_pause, "queue-pause-kill": do_queue_pause_kill, "queue-resume": do_queue_resume,
    "queue-set": do_queue_set,
}  # fmt: skip


async def act(request: Request) -> Response:
    site = site_of(request)
    handler = ACTIONS.get(request.path_params["name"])
    if handler is None:
        return PlainTextResponse("no such action", status_code=404)
    if not await site.csrf.check(request):
        return PlainTextResponse("refused: missing or wrong CSRF token (reload the page)", status_code=403)
    form = await request.form()
    try:
        message, ok, status = await handler(site.link, form), True, 200
    except FormError as exc:
        message, ok, status = str(exc), False, 400
    except NothingDone as exc:
        message, ok, status = str(exc), False, exc.status
    except RemoteError as exc:
        message, ok, status = exc.message, False, error_status(exc)
    except DaemonUnreachable as exc:
        message, ok, status = str(exc), False, 503
    if request.headers.get("accept", "").startswith("application/json"):
        return JSONResponse({"ok": ok, "message": message}, status_code=status)
    back = form.get("next")
    target = back if isinstance(back, str) and back.startswith("/") and not back.startswith("//") else "/"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(FLASH_COOKIE, quote(message), httponly=True, samesite="strict")
    return response


ROUTES = [Route("/actions/{name}", act, methods=["POST"])]
