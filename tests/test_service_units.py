"""The systemd units: committed files match render_unit, and systemd-analyze accepts them.

`systemd-analyze verify` checks that ExecStart's program exists. The committed system
unit names /usr/local/bin/queuectl; when that is not installed, the committed text is
verified with only that path replaced by a stub executable (asserted to be the only
change). The user unit's %h is resolved from $HOME, so the committed user file is
verified as-is against a temporary home holding a stub .local/bin/queuectl.

`queuectl install-service` is run as a real command (this install's console script), and
the unit it writes for that real executable is verified too.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from queuectl.service import DEFAULT_EXEC, UNIT_NAME, install_unit, render_unit

REPO = Path(__file__).resolve().parent.parent
SYSTEM_FILE = REPO / "systemd" / "queuectl.service"
USER_FILE = REPO / "systemd" / "queuectl-user.service"

ANALYZE = shutil.which("systemd-analyze") or (
    "/usr/bin/systemd-analyze" if os.access("/usr/bin/systemd-analyze", os.X_OK) else None
)
needs_analyze = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze is not installed, so units cannot be verified"
)


def stub_executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def verify(unit: Path, *, user: bool = False, home: Path | None = None) -> None:
    assert ANALYZE is not None
    env = dict(os.environ)
    args = [ANALYZE]
    if user:
        # A user manager needs $XDG_RUNTIME_DIR; %h comes from $HOME.
        assert home is not None
        runtime = home / "run"
        runtime.mkdir(mode=0o700, exist_ok=True)
        env.update(HOME=str(home), XDG_RUNTIME_DIR=str(runtime))
        args.append("--user")
    result = subprocess.run([*args, "verify", str(unit)], capture_output=True, text=True, env=env, timeout=60)
    # Not only the exit code: warnings (unknown keys, bad values) exit 0 too.
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_committed_units_are_the_rendered_defaults() -> None:
    assert SYSTEM_FILE.read_text() == render_unit("system")
    assert USER_FILE.read_text() == render_unit("user")
    assert "ExecStart=/usr/local/bin/queuectl daemon\n" in SYSTEM_FILE.read_text()
    assert "ExecStart=%h/.local/bin/queuectl daemon\n" in USER_FILE.read_text()


@pytest.mark.parametrize("kind", ["system", "user"])
def test_required_settings(kind: str) -> None:
    text = render_unit(kind, "/opt/queuectl/bin/queuectl")
    for line in [
        "Type=notify",
        "ExecStart=/opt/queuectl/bin/queuectl daemon",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "RuntimeDirectory=queuectl",
        "KillMode=mixed",
        "Restart=on-failure",
        "WatchdogSec=30",
        "OOMPolicy=continue",
    ]:
        assert line in text.splitlines()
    timeout = next(x for x in text.splitlines() if x.startswith("TimeoutStopSec="))
    assert int(timeout.split("=")[1]) > 10  # longer than the daemon's drain grace
    if kind == "system":
        for line in ["StateDirectory=queuectl", "RuntimeDirectoryMode=0750", "Group=queuectl"]:
            assert line in text.splitlines()


@needs_analyze
def test_committed_system_unit_verifies(tmp_path: Path) -> None:
    installed = Path(DEFAULT_EXEC["system"])
    if os.access(installed, os.X_OK):
        verify(SYSTEM_FILE)
        return
    stub = stub_executable(tmp_path / "bin" / "queuectl")
    committed = SYSTEM_FILE.read_text()
    text = committed.replace(f"ExecStart={installed} ", f"ExecStart={stub} ")
    changed = [(a, b) for a, b in zip(committed.splitlines(), text.splitlines(), strict=True) if a != b]
    assert changed == [(f"ExecStart={installed} daemon", f"ExecStart={stub} daemon")]
    unit = tmp_path / "units" / UNIT_NAME
    unit.parent.mkdir()
    unit.write_text(text)
    verify(unit)


@needs_analyze
def test_committed_user_unit_verifies(tmp_path: Path) -> None:
    stub_executable(tmp_path / ".local" / "bin" / "queuectl")
    verify(USER_FILE, user=True, home=tmp_path)


@needs_analyze
@pytest.mark.parametrize("kind", ["system", "user"])
def test_rendered_unit_with_awkward_path_verifies(tmp_path: Path, kind: str) -> None:
    # Spaces must be quoted and a literal % doubled, or systemd reads another path.
    stub = stub_executable(tmp_path / "my tools" / "100%" / "queuectl")
    path = install_unit(kind, str(stub), tmp_path / "units")
    verify(path, user=kind == "user", home=tmp_path)


def test_install_unit_writes_atomically(tmp_path: Path) -> None:
    dest = tmp_path / "etc" / "systemd" / "system"
    path = install_unit("system", "/opt/q/bin/queuectl", dest)
    assert path == dest / "queuectl.service"
    assert path.read_text() == render_unit("system", "/opt/q/bin/queuectl")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    # Replacing an existing unit leaves no temporary file behind.
    install_unit("system", "/opt/q2/bin/queuectl", dest)
    assert "ExecStart=/opt/q2/bin/queuectl daemon" in path.read_text()
    assert os.listdir(dest) == ["queuectl.service"]


def test_user_unit_default_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    path = install_unit("user", "/home/u/.local/bin/queuectl")
    assert path == tmp_path / "cfg" / "systemd" / "user" / "queuectl.service"


@pytest.mark.parametrize("bad", ["queuectl", "bin/queuectl", '/opt/"q"/queuectl', "/opt/q\\x", "/opt/q\nx"])
def test_render_rejects_unusable_paths(bad: str) -> None:
    with pytest.raises(ValueError):
        render_unit("system", bad)


def test_render_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="system"):
        render_unit("global", "/usr/bin/queuectl")


def test_escaping() -> None:
    assert "ExecStart=/a/100%%/q daemon" in render_unit("user", "/a/100%/q")
    assert 'ExecStart="/a b/q" daemon' in render_unit("user", "/a b/q")


# --- queuectl install-service ---------------------------------------------------------------

VENV_QUEUECTL = Path(sys.executable).parent / "queuectl"  # the console script of this install
needs_script = pytest.mark.skipif(not os.access(VENV_QUEUECTL, os.X_OK), reason=f"no {VENV_QUEUECTL}")


def install_service(*args: str, exe: Path = VENV_QUEUECTL, env: dict[str, str] | None = None,
                    ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return subprocess.run([str(exe), "install-service", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})})  # fmt: skip


@needs_script
@needs_analyze
@pytest.mark.parametrize("kind", ["system", "user"])
def test_installed_unit_for_the_real_executable_verifies(tmp_path: Path, kind: str) -> None:
    dest = tmp_path / "units"
    args = ["--exec", str(VENV_QUEUECTL), "--dir", str(dest)] + (["--user"] if kind == "user" else [])
    result = install_service(*args)
    assert result.returncode == 0, result.stderr
    unit = dest / UNIT_NAME
    assert unit.read_text() == render_unit(kind, str(VENV_QUEUECTL))
    assert f"ExecStart={VENV_QUEUECTL} daemon" in unit.read_text().splitlines()
    verify(unit, user=kind == "user", home=tmp_path)
    # The next steps are printed.
    systemctl = "systemctl --user" if kind == "user" else "systemctl"
    assert f"wrote {unit}" in result.stdout
    assert f"{systemctl} daemon-reload" in result.stdout
    assert f"{systemctl} enable --now queuectl" in result.stdout


@needs_script
def test_exec_defaults_to_the_queuectl_being_run_without_resolving_symlinks(tmp_path: Path) -> None:
    printed = install_service("--print")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == render_unit("system", str(VENV_QUEUECTL))  # only the unit on stdout
    # Run through a symlink (e.g. /usr/local/bin/queuectl -> a venv): the unit names the
    # link, which keeps working when the venv is rebuilt elsewhere.
    link = tmp_path / "bin" / "queuectl"
    link.parent.mkdir()
    link.symlink_to(VENV_QUEUECTL)
    via_link = install_service("--print", "--user", exe=link)
    assert f"ExecStart={link} daemon" in via_link.stdout.splitlines()
    # `python -m queuectl` runs no script: the one beside the interpreter is named.
    module = subprocess.run([sys.executable, "-m", "queuectl", "install-service", "--print"],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert f"ExecStart={VENV_QUEUECTL} daemon" in module.stdout.splitlines()


@needs_script
def test_user_unit_goes_to_xdg_config_home(tmp_path: Path) -> None:
    result = install_service("--user", env={"XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    assert result.returncode == 0, result.stderr
    unit = tmp_path / "cfg" / "systemd" / "user" / UNIT_NAME
    assert unit.read_text() == render_unit("user", str(VENV_QUEUECTL))
    assert "systemctl --user enable --now queuectl" in result.stdout
    assert "useradd" not in result.stdout


@needs_script
def test_system_next_steps_create_the_service_account_when_missing(tmp_path: Path) -> None:
    result = install_service("--dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    try:
        pwd.getpwnam("queuectl")
        has_account = True
    except KeyError:
        has_account = False
    useradd = "useradd --system --user-group --home-dir /var/lib/queuectl --shell /usr/sbin/nologin queuectl"
    assert (useradd in result.stdout) is not has_account
    assert "usermod -aG queuectl" in result.stdout


@needs_script
def test_install_service_errors(tmp_path: Path) -> None:
    missing = install_service("--exec", str(tmp_path / "nope"), "--print")
    assert missing.returncode == 2 and "not an executable" in missing.stderr and not missing.stdout
    odd = stub_executable(tmp_path / 'we"ird' / "queuectl")
    refused = install_service("--exec", str(odd), "--print")
    assert refused.returncode == 2 and "systemd refuses" in refused.stderr
    blocked = tmp_path / "file"
    blocked.write_text("")
    unwritable = install_service("--dir", str(blocked / "sub"))
    assert unwritable.returncode == 1 and "cannot write" in unwritable.stderr
    assert unwritable.stderr.count("\n") <= 2  # a message, not a traceback


@needs_script
def test_warns_when_the_service_user_cannot_reach_the_executable(tmp_path: Path) -> None:
    from queuectl.client.commands.service import unreachable_by_others

    assert unreachable_by_others("/bin/sh") is None
    private = tmp_path / "private"
    stub = stub_executable(private / "bin" / "queuectl")
    private.chmod(0o700)
    assert unreachable_by_others(str(stub)) is not None
    # A script whose #! interpreter is out of reach (a venv made from a Python under /root).
    script = Path("/tmp") / f"qctl-script-{os.getpid()}"
    script.write_text(f"#!{private}/bin/python\n")
    try:
        script.chmod(0o755)
        assert unreachable_by_others(str(script)) is not None
    finally:
        script.unlink()
    result = install_service("--exec", str(stub), "--dir", str(tmp_path / "units"))
    assert result.returncode == 0 and "probably cannot run" in result.stderr
