"""`queuectl prune`: job.prune, removing finished jobs now."""

from __future__ import annotations

from typing import Any

import click

from queuectl.client import output as out
from queuectl.client.cli import Context, duration, handle_errors, json_option
from queuectl.client.human import size

FINAL = ("completed", "dead", "cancelled")


def summary(result: dict[str, Any]) -> list[str]:
    jobs = ", ".join(f"{state} {n}" for state, n in result["jobs"].items() if n)
    verb = "would prune" if result["dry_run"] else "pruned"
    if not result["total"]:
        first = "nothing to prune" + (" (dry run)" if result["dry_run"] else "")
    else:
        first = f"{verb} {result['total']} job(s)" + (f" ({jobs})" if jobs else "")
        if result["over_cap"]:
            first += f", {result['over_cap']} of them by retain_max_jobs"
    lines = [first]
    if not result["dry_run"]:
        lines.append(f"{result['segments_deleted']} log segment(s) deleted, "
                     f"{size(result['bytes_reclaimed'])} of output reclaimed")  # fmt: skip
    s = result["storage"]
    lines.append(f"database {size(s['db_bytes'])} (WAL {size(s['wal_bytes'])}), logs {size(s['logs_bytes'])}")
    return lines


@click.command()
@click.option("--older-than", metavar="DURATION", callback=duration,
              help="Jobs finished longer ago than this (7d, 12h, 90m), whatever the retention settings. "
                   "Without it: each state's retain_* setting (and retain_max_jobs when no other option "
                   "narrows it).")  # fmt: skip
@click.option("--state", "states", multiple=True, metavar="STATE",
              help="Only jobs in this final state: completed, dead or cancelled (repeat for several).")
@click.option("--queue", "-q", metavar="NAME", help="Only jobs of this queue.")
@click.option("--dry-run", is_flag=True, help="Count what would be removed; remove nothing.")
@json_option
@click.pass_obj
@handle_errors
def prune(ctx: Context, older_than: float | None, states: tuple[str, ...], queue: str | None,
          dry_run: bool, as_json: bool) -> None:  # fmt: skip
    """Remove finished jobs now, with their attempts and output.

    The daemon also does this by itself, in the background, by the retention
    settings (`config list`: retain_completed, retain_dead, retain_cancelled,
    retain_max_jobs). A job an unfinished job depends on, one that holds its
    unique key (--unique-while kept) and one whose output was read in the last
    minute are kept. Prints what was removed per state, the log segments
    deleted and the bytes reclaimed, and the database's size after.
    """
    for state in states:
        if state not in FINAL:
            out.fail(f"--state {state}: only finished jobs can be pruned (completed, dead, cancelled)", out.USAGE)
    if older_than is not None and not 0 <= older_than <= 100 * 365 * 86400:
        out.fail("--older-than must be from 0 seconds to 100 years", out.USAGE)
    result = ctx.client().prune(older_than=older_than, states=states or None, queue=queue, dry_run=dry_run)
    if as_json:
        out.print_json(result)
    else:
        for line in summary(dict(result)):
            click.echo(line)


COMMANDS = [prune]
