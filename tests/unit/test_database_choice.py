"""Which database the daemon uses (queuectl/database.py): precedence, URLs, the config file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from queuectl.database import CONFIG_NAME, ENV_VAR, DatabaseChoiceError, choose, redact

PG = "postgresql://queue@db.example/queue"


def write_config(state: Path, text: str, mode: int = 0o600) -> Path:
    path = state / CONFIG_NAME
    path.write_text(text)
    path.chmod(mode)
    return path


def test_sqlite_is_the_default(tmp_path: Path) -> None:
    choice = choose(None, {}, tmp_path)
    assert (choice.url, choice.source, choice.kind, choice.describe()) == (None, "default", "sqlite", "sqlite")


def test_flag_beats_environment_beats_config_file(tmp_path: Path) -> None:
    config = write_config(tmp_path, 'database = "postgresql://from@file/q"\n')
    env = {ENV_VAR: "postgresql://from@env/q"}
    assert choose("postgresql://from@flag/q", env, tmp_path).source == "--database"
    assert choose(None, env, tmp_path).url == "postgresql://from@env/q"
    assert choose(None, {}, tmp_path).source == str(config)
    assert choose(None, {}, tmp_path).kind == "postgresql"
    # `sqlite` at a higher level wins over a URL below it
    assert choose("sqlite", env, tmp_path).url is None
    assert choose(None, {ENV_VAR: "SQLite"}, tmp_path).url is None


def test_an_empty_variable_is_unset(tmp_path: Path) -> None:
    assert choose(None, {ENV_VAR: ""}, tmp_path).source == "default"


@pytest.mark.parametrize("bad", ["mysql://x/y", "/var/lib/q.db", "postgresql", "http://[::1"])
def test_unsupported_values_are_refused_with_their_source(tmp_path: Path, bad: str) -> None:
    with pytest.raises(DatabaseChoiceError, match="--database: unsupported database"):
        choose(bad, {}, tmp_path)
    with pytest.raises(DatabaseChoiceError, match=ENV_VAR):
        choose(None, {ENV_VAR: bad}, tmp_path)


def test_passwords_never_appear_in_messages(tmp_path: Path) -> None:
    assert redact("postgresql://queue:s3cret@db:5432/q?sslmode=require") == "postgresql://queue:***@db:5432/q?sslmode=require"
    assert redact(PG) == PG
    with pytest.raises(DatabaseChoiceError) as info:
        choose("mysql://root:s3cret@db/q", {}, tmp_path)
    assert "s3cret" not in str(info.value)
    choice = choose("postgresql://queue:s3cret@db/q", {}, tmp_path)
    assert "s3cret" not in choice.describe()


def test_config_file_with_a_password_must_be_private(tmp_path: Path) -> None:
    config = write_config(tmp_path, 'database = "postgresql://queue:s3cret@db/q"\n', 0o644)
    with pytest.raises(DatabaseChoiceError, match="holds a password and others may read it"):
        choose(None, {}, tmp_path)
    config.chmod(0o600)
    assert choose(None, {}, tmp_path).url == "postgresql://queue:s3cret@db/q"
    # without a password, readable by others is fine
    write_config(tmp_path, f'database = "{PG}"\n', 0o644)
    assert choose(None, {}, tmp_path).url == PG


def test_config_file_others_may_write_is_refused(tmp_path: Path) -> None:
    write_config(tmp_path, f'database = "{PG}"\n', 0o666)
    with pytest.raises(DatabaseChoiceError, match="others may write it"):
        choose(None, {}, tmp_path)


def test_config_file_through_a_symlink_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "elsewhere.toml"
    real.write_text(f'database = "{PG}"\n')
    os.symlink(real, tmp_path / CONFIG_NAME)
    with pytest.raises(DatabaseChoiceError, match="symbolic link"):
        choose(None, {}, tmp_path)


@pytest.mark.parametrize(("text", "message"), [
    ("database = \n", "not valid TOML"),
    ("database = 5\n", "must be a string"),
    ('database = "sqlite3:///x"\n', "unsupported database"),
])  # fmt: skip
def test_bad_config_files_are_refused(tmp_path: Path, text: str, message: str) -> None:
    write_config(tmp_path, text)
    with pytest.raises(DatabaseChoiceError, match=message):
        choose(None, {}, tmp_path)


def test_a_config_file_without_database_means_sqlite(tmp_path: Path) -> None:
    write_config(tmp_path, "# nothing here yet\n")
    assert choose(None, {}, tmp_path).source == "default"
