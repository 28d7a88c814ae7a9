"""The job an `enqueue` command line describes: a JSON object or a command (told apart by
where `--` was), --env added to its env, --delay and --timeout checked, and the directory
it runs in. See docs/cli.md, "JSON or a command"."""

from __future__ import annotations

import json
import os
import shlex
from typing import Any, NoReturn

import click

from queuectl.client import output as out


def _looks_like_json(word: str) -> bool:
    return word.lstrip()[:1] in ("{", "[")


def _json_document(word: str) -> dict[str, Any] | list[Any] | None:
    """The JSON value of a word that is a complete JSON object or array, else None."""
    if not _looks_like_json(word):
        return None
    try:
        doc = json.loads(word)
    except ValueError:
        return None
    return doc if isinstance(doc, dict | list) else None


def _refuse_array() -> NoReturn:
    out.fail("the job is a JSON array; enqueue takes one JSON object. For several jobs use "
             "--file with one JSON object per line (NDJSON), e.g. `jq -c '.[]' jobs.json | "
             "queuectl enqueue --file -`", out.USAGE)  # fmt: skip


def _load_json_job(text: str) -> dict[str, Any]:
    try:
        job = json.loads(text)
    except ValueError as exc:
        out.fail(f"the job is not valid JSON: {exc} (an argument that starts with {{ or [ is a "
                 "JSON job; to run a shell command that starts with one, put it after `--`)",
                 out.USAGE)  # fmt: skip
    if isinstance(job, list):
        _refuse_array()
    if not isinstance(job, dict):
        out.fail("the job must be a JSON object, e.g. '{\"command\": \"echo hi\"}'", out.USAGE)
    return job


def _job_from_words(before: list[str], after: list[str]) -> dict[str, Any]:
    """The job the positional words describe (see docs/cli.md, "JSON or a command").

    Words before `--` (or without one): a lone word starting with { or [ is a JSON
    job, and must be one. After `--`: a command, except a lone word that is a complete
    JSON object (a job) or array (refused), and a first word that is a complete JSON
    document followed by more (refused: a JSON document is never a command name).
    """
    words = before + after
    several = "enqueue takes one JSON job; for several use --file with one JSON object per " \
              "line (NDJSON)"  # fmt: skip
    if before and _looks_like_json(before[0]):
        if len(words) > 1:
            out.fail(f"{several} (or put a command after `--`)", out.USAGE)
        return _load_json_job(before[0])
    if not before and after:
        doc = _json_document(after[0])
        if doc is not None:
            if len(after) > 1:
                out.fail(f"{several}; a JSON document is not a command", out.USAGE)
            if isinstance(doc, list):
                _refuse_array()
            return doc
    return {"command": words[0] if len(words) == 1 else shlex.join(words)}


def job_from_args(args: tuple[str, ...]) -> dict[str, Any]:
    """The job of the positional words, those after `--` told apart (see EnqueueCommand)."""
    after = click.get_current_context().meta.get("queuectl.after_dashdash") or 0
    after = min(after, len(args))
    return _job_from_words(list(args[: len(args) - after]), list(args[len(args) - after :]))


def env_with(given: Any, pairs: tuple[str, ...]) -> dict[str, str]:
    """The job's own env (from its JSON) with --env added."""
    if given is not None and not isinstance(given, dict):
        out.fail(f"the job's env must be a JSON object of strings to add --env to, not "
                 f"{json.dumps(given)[:60]}", out.USAGE)  # fmt: skip
    return {**(given or {}), **_parse_env(pairs)}


def check_seconds(**flags: float | None) -> None:
    """--delay and --timeout as the daemon will check them (NaN is not even JSON)."""
    from queuectl import jobs as J

    for name, value in flags.items():
        if value is not None:
            try:
                J.validate_seconds(value, name)
            except J.ValidationError as exc:
                out.fail(f"--{exc}", out.USAGE)


def current_dir() -> str:
    """Where a job that names no cwd runs: where it was enqueued from."""
    try:
        return os.getcwd()
    except OSError as exc:  # the directory was removed under us
        out.fail(f"the current directory is gone ({exc.strerror}); a job runs in the directory "
                 "it was enqueued from: cd elsewhere or give --cwd DIR", out.USAGE)  # fmt: skip
        raise  # not reached


# Options of `enqueue` that take a value, to find the `--` that ends the options.
_VALUE_OPTIONS = frozenset({"--id", "--priority", "-p", "--timeout", "--max-retries", "--delay",
                            "--run-at", "--cwd", "--env", "--file", "--wait-timeout", "--queue", "-q",
                            "--slots", "--tag", "--after", "--after-condition", "--unique-key",
                            "--unique-while", "--on-duplicate", "--on-success", "--on-failure",
                            "--on-finish", "--on", "--max-output"})  # fmt: skip


def _words_after_dashdash(raw: list[str]) -> int | None:
    """How many of the raw arguments come after the `--` that ends the options (None: no `--`)."""
    i = 0
    while i < len(raw):
        word = raw[i]
        if word == "--":
            return len(raw) - i - 1
        i += 2 if word in _VALUE_OPTIONS else 1
    return None


class EnqueueCommand(click.Command):
    """Remembers where `--` was: the words after it are a command, not JSON."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["queuectl.after_dashdash"] = _words_after_dashdash(list(args))
        return super().parse_args(ctx, args)


def _parse_env(pairs: tuple[str, ...]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            out.fail(f"--env takes KEY=VALUE, not {pair!r}", out.USAGE)
        env[key] = value
    return env

