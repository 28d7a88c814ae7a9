"""`queuectl migrate --to URL`: move a home's queue from SQLite into PostgreSQL."""

from __future__ import annotations

import click

from queuectl.client import output as out
from queuectl.client.cli import Context, handle_errors, json_option


@click.command()
@click.option("--to", "url", required=True, metavar="URL",
              help="The PostgreSQL database to copy into (postgresql://...): it must be empty.")
@json_option
@click.pass_obj
@handle_errors
def migrate(ctx: Context, url: str, as_json: bool) -> None:
    """Copy this home's jobs, attempts, settings, queues, dependencies and schedules from
    its SQLite database into an empty PostgreSQL database, in one transaction, and check
    that every table and every state holds the same number of rows.

    Stop the daemon first. Then run it on the new database with the same home (the jobs'
    output stays in its logs directory): `queuectl daemon --database URL`, or
    `database = "URL"` in the state directory's queuectl.toml. The SQLite file is left
    as it was. Exit codes: 2 a bad URL, 4 no database here, 6 the target is not empty,
    7 a daemon runs on this home, 8 a database cannot be used.
    """
    from queuectl.database import DatabaseChoiceError, parse
    from queuectl.migrate import MigrateError, migrate_home

    try:
        target = parse(url, "--to")
    except DatabaseChoiceError as exc:
        out.fail(str(exc), out.USAGE)
    if target is None:
        out.fail("--to: give the PostgreSQL database to copy into (postgresql://...)", out.USAGE)
    try:
        report = migrate_home(ctx.paths, target)
    except MigrateError as exc:
        out.fail(str(exc), exc.code)
    if as_json:
        out.print_json({"to": report.target, "rows": report.rows, "jobs_by_state": report.jobs_by_state,
                        "output": report.output})  # fmt: skip
        return
    click.echo(f"copied into {report.target}:")
    for table, n in report.rows.items():
        click.echo(f"  {table:10s} {n:>10,} rows")
    click.echo(f"  {'output':10s} {report.output.get('attempts', 0):>10,} attempts "
               f"({report.output.get('bytes', 0):,} bytes)")  # fmt: skip
    states = ", ".join(f"{n:,} {state}" for state, n in report.jobs_by_state.items()) or "none"
    click.echo(f"jobs by state (checked against SQLite): {states}")


COMMANDS = [migrate]
