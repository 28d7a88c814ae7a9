"""`queuectl install-service`: write (or print) the systemd unit for the daemon.

Not an RPC namespace: it never talks to a daemon. The unit texts live in
queuectl/service.py; systemd/*.service are the same texts with default paths.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import sys
from pathlib import Path

import click

from queuectl.client import output as out

SERVICE_USER = "queuectl"


def running_executable() -> str | None:
    """Absolute path of the `queuectl` command being run, symlinks kept as they are.

    A venv's bin/queuectl is often reached through a symlink (e.g. /usr/local/bin);
    the unit names the path the user ran, which survives the venv being rebuilt.
    """
    argv0 = sys.argv[0] if sys.argv else ""
    if os.path.basename(argv0) == "queuectl":
        found = argv0 if os.sep in argv0 else shutil.which(argv0)
        if found and _is_executable(found):
            return os.path.abspath(found)
    # `python -m queuectl`: prefer the script installed beside this interpreter.
    beside = os.path.join(os.path.dirname(sys.executable), "queuectl")
    if _is_executable(beside):
        return os.path.abspath(beside)
    found = shutil.which("queuectl")
    return os.path.abspath(found) if found else None


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def unreachable_by_others(path: str) -> str | None:
    """The first file on the way to running `path` that an unprivileged other user could
    not reach (a directory without o+x, a file without o+rx), else None. Checks the
    script's #! interpreter too: a venv made from a Python under /root fails that way."""
    todo = [path]
    try:
        with open(path, "rb") as f:
            first = f.readline(512)
        if first.startswith(b"#!"):
            words = first[2:].decode(errors="replace").split()
            if words and os.path.isabs(words[0]):
                todo.append(words[0])
    except OSError:
        pass
    for item in todo:
        for candidate in (item, os.path.realpath(item)):
            p = Path(candidate)
            for parent in reversed(p.parents):
                try:
                    if not os.stat(parent).st_mode & stat.S_IXOTH:
                        return str(parent)
                except OSError:
                    return str(parent)
            try:
                mode = os.stat(p).st_mode
            except OSError:
                return str(p)
            if mode & (stat.S_IROTH | stat.S_IXOTH) != (stat.S_IROTH | stat.S_IXOTH):
                return str(p)
    return None


def next_steps(kind: str, unit_path: Path) -> list[str]:
    user = kind == "user"
    systemctl = "systemctl --user" if user else "systemctl"
    lines = [f"wrote {unit_path}", "", "Next steps" + ("" if user else " (as root)") + ":"]
    if not user:
        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            lines.append(f"  useradd --system --user-group --home-dir /var/lib/queuectl "
                         f"--shell /usr/sbin/nologin {SERVICE_USER}")  # fmt: skip
    lines += [f"  {systemctl} daemon-reload", f"  {systemctl} enable --now queuectl"]
    if user:
        lines.append('  loginctl enable-linger "$USER"    # optional: keep it running after logout')
    else:
        lines.append(f"  usermod -aG {SERVICE_USER} USER   # lets USER use the CLI, i.e. run any "
                     f"command as {SERVICE_USER}")  # fmt: skip
    lines.append(
        f"Then: {systemctl} status queuectl; logs: journalctl {'--user ' if user else ''}-u queuectl"
    )
    return lines


@click.command("install-service")
@click.option(
    "--user",
    "user",
    is_flag=True,
    help="The per-user unit (~/.config/systemd/user) instead of the system one.",
)
@click.option("--print", "print_only", is_flag=True, help="Print the unit on stdout; write nothing.")
@click.option(
    "--exec",
    "exec_path",
    metavar="PATH",
    help="The queuectl executable for ExecStart= (default: the one you are running).",
)
@click.option("--dir", "dest_dir", metavar="DIR", type=click.Path(file_okay=False),
              help="Write queuectl.service into DIR (default: /etc/systemd/system, or "
                   "$XDG_CONFIG_HOME/systemd/user with --user).")  # fmt: skip
def install_service(user: bool, print_only: bool, exec_path: str | None, dest_dir: str | None) -> None:
    """Write the systemd unit that runs the daemon, then print the next steps.

    \b
    sudo queuectl install-service            # the system service (user "queuectl")
    queuectl install-service --user          # your own daemon under systemd --user
    queuectl install-service --print         # only show the unit

    See docs/operations.md for what the unit sets and why.
    """
    from queuectl.service import default_unit_dir, install_unit, render_unit

    kind = "user" if user else "system"
    if exec_path is not None:
        path = os.path.abspath(os.path.expanduser(exec_path))
        if not _is_executable(path):
            out.fail(f"--exec {exec_path}: not an executable file", out.USAGE)
    else:
        found = running_executable()
        if found is None:
            out.fail("cannot tell where the queuectl executable is; name it with --exec PATH", out.USAGE)
        assert found is not None
        path = found
    try:
        text = render_unit(kind, path)
    except ValueError as exc:
        out.fail(str(exc), out.USAGE)
    if print_only:
        click.echo(text, nl=False)
        return
    if kind == "system" and (blocked := unreachable_by_others(path)):
        click.echo(f"queuectl: warning: user {SERVICE_USER!r} probably cannot run {path} "
                   f"({blocked} is not accessible to other users); install queuectl where it "
                   "can, e.g. a venv under /opt", err=True)  # fmt: skip
    target = Path(dest_dir) if dest_dir else default_unit_dir(kind)
    try:
        unit_path = install_unit(kind, path, target)
    except OSError as exc:
        hint = "" if user or dest_dir else " (run it as root, or use --print / --user)"
        out.fail(f"cannot write {target / 'queuectl.service'}: {exc.strerror or exc}{hint}", out.FAILURE)
    for line in next_steps(kind, unit_path):
        click.echo(line)


COMMANDS = [install_service]
