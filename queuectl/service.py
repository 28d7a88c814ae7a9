"""systemd unit files for the daemon, for `queuectl install-service`.

The texts live here (not only in systemd/) so an installed wheel can write them;
systemd/queuectl.service and systemd/queuectl-user.service are these texts rendered
with the default executables, and a test keeps them identical.
The choices behind each setting are explained in docs/operations.md.
"""

from __future__ import annotations

import os
from pathlib import Path

UNIT_NAME = "queuectl.service"
DEFAULT_EXEC = {
    "system": "/usr/local/bin/queuectl",  # where `pip install` as root puts scripts
    "user": "%h/.local/bin/queuectl",  # where `pip install --user` / pipx put them
}
_EXEC = "@EXEC@"

_SYSTEM = """\
# queuectl system service: one daemon for the host, running jobs as user "queuectl".
# Members of group "queuectl" may use the CLI, and can therefore run any command as
# that user. Install: see docs/operations.md. Local changes: systemctl edit queuectl.
[Unit]
Description=queuectl job queue daemon
# Jobs resumed at boot often need the network and remote filesystems.
Wants=network-online.target
After=network-online.target remote-fs.target nss-user-lookup.target

[Service]
Type=notify
ExecStart=@EXEC@ daemon
ExecReload=/bin/kill -HUP $MAINPID
User=queuectl
Group=queuectl
# Control socket and files group-accessible (socket must be group-connectable), none
# for others. Jobs inherit this umask.
UMask=0007
StateDirectory=queuectl
StateDirectoryMode=0750
RuntimeDirectory=queuectl
RuntimeDirectoryMode=0750
# SIGTERM to the daemon only: it drains its workers (10 s grace by default), then
# systemd SIGKILLs whatever is left after TimeoutStopSec.
KillMode=mixed
# Our own cgroup subtree: each worker child and its jobs get a group of their own, so
# nothing a job starts outlives it (docs/lifecycle.md, "Containment").
Delegate=yes
TimeoutStopSec=30
Restart=on-failure
# Not for refusals a restart cannot fix: already running, a damaged database, an
# unsafe path (docs/cli.md, exit codes).
RestartPreventExitStatus=7 8 9
# One descriptor per connected client: systemd's default soft limit (1,024) is too
# few for a busy host (the daemon also raises its soft limit to the hard one).
LimitNOFILE=65536
RestartSec=2
WatchdogSec=30
# A job killed by the kernel OOM killer must fail that job, not stop the service.
OOMPolicy=continue

# Sandboxing that ordinary shell jobs do not notice; see docs/operations.md.
NoNewPrivileges=yes
ProtectSystem=full
PrivateTmp=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
# (No ProtectControlGroups=: it would make the delegated cgroup subtree read-only.)
RestrictSUIDSGID=yes
RestrictRealtime=yes

[Install]
WantedBy=multi-user.target
"""

_USER = """\
# queuectl user service: your own daemon, running jobs as you, like your own shell.
# Install: see docs/operations.md. Local changes: systemctl --user edit queuectl.
[Unit]
Description=queuectl job queue daemon (per user)

[Service]
Type=notify
ExecStart=@EXEC@ daemon
ExecReload=/bin/kill -HUP $MAINPID
# Socket in $XDG_RUNTIME_DIR/queuectl, where the CLI looks. No StateDirectory=:
# systemd < 254 maps it to ~/.config, so the daemon keeps its XDG default
# (~/.local/state/queuectl), the same as when started by hand.
RuntimeDirectory=queuectl
RuntimeDirectoryMode=0700
KillMode=mixed
# A cgroup per worker child and its jobs (docs/lifecycle.md, "Containment").
Delegate=yes
TimeoutStopSec=30
Restart=on-failure
RestartPreventExitStatus=7 8 9
# One descriptor per connected client: systemd's default soft limit (1,024) is too
# few for a busy host (the daemon also raises its soft limit to the hard one).
LimitNOFILE=65536
RestartSec=2
WatchdogSec=30
OOMPolicy=continue

[Install]
WantedBy=default.target
"""

_TEMPLATES = {"system": _SYSTEM, "user": _USER}


def render_unit(kind: str, exec_path: str | None = None) -> str:
    """The unit text for kind "system" or "user", running `exec_path daemon`.

    exec_path must be absolute; % and spaces are escaped for systemd.
    None means the default (DEFAULT_EXEC[kind], written verbatim, e.g. with %h).
    """
    template = _template(kind)
    word = DEFAULT_EXEC[kind] if exec_path is None else _exec_word(exec_path)
    return template.replace(_EXEC, word)


def default_unit_dir(kind: str) -> Path:
    _template(kind)
    if kind == "system":
        return Path("/etc/systemd/system")
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "systemd" / "user"


def install_unit(kind: str, exec_path: str | None = None, dest_dir: Path | None = None) -> Path:
    """Write the unit as dest_dir/queuectl.service (atomically) and return its path.

    The caller then needs `systemctl [--user] daemon-reload` and `enable --now queuectl`.
    """
    text = render_unit(kind, exec_path)
    directory = Path(dest_dir) if dest_dir is not None else default_unit_dir(kind)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / UNIT_NAME
    tmp = directory / f".{UNIT_NAME}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fchmod(f.fileno(), 0o644)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _template(kind: str) -> str:
    try:
        return _TEMPLATES[kind]
    except KeyError:
        raise ValueError(f"unit kind must be 'system' or 'user', not {kind!r}") from None


def _exec_word(path: str) -> str:
    if not os.path.isabs(path):
        raise ValueError(f"executable path must be absolute: {path!r}")
    if any(ord(c) < 0x20 or c in "\x7f\"'\\" for c in path):
        # systemd refuses quotes and backslashes in an executable's name.
        raise ValueError(f"executable path has a character systemd refuses: {path!r}")
    # A literal % would otherwise be expanded as a specifier ($ is not expanded here).
    word = path.replace("%", "%%")
    if any(c in word for c in " ;"):
        word = f'"{word}"'
    return word
