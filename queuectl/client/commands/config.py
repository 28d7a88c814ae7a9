"""Commands over config.*: settings kept by the daemon, live on change."""

from __future__ import annotations

import click

from queuectl.client import output as out
from queuectl.client.cli import Context, handle_errors, json_option


@click.group()
def config() -> None:
    """Read and change settings (max_retries, backoff_base, workers, ...)."""


@config.command()
@click.argument("key")
@json_option
@click.pass_obj
@handle_errors
def get(ctx: Context, key: str, as_json: bool) -> None:
    """Print one setting."""
    result = ctx.client().config.get(key)
    if as_json:
        out.print_json(result)
    else:
        click.echo(result["value"])


@config.command("set")
@click.argument("key")
@click.argument("value")
@json_option
@click.pass_obj
@handle_errors
def set_(ctx: Context, key: str, value: str, as_json: bool) -> None:
    """Change a setting; it is saved and takes effect at once."""
    from queuectl import settings
    from queuectl.jobs import ValidationError

    try:
        typed = settings.parse(key, value)
    except ValidationError as exc:
        out.fail(str(exc), out.USAGE)
    result = ctx.client().config.set(key, typed)
    if as_json:
        out.print_json(result)
    else:
        click.echo(f"{result['key']} = {result['value']}")


@config.command("list")
@json_option
@click.pass_obj
@handle_errors
def list_(ctx: Context, as_json: bool) -> None:
    """Print every setting."""
    result = ctx.client().config.list()
    if as_json:
        out.print_json(result)
    else:
        for key, value in result.items():
            click.echo(f"{key} = {value}")


COMMANDS = [config]
