"""What the harness measures: a queuectl installed in some Python environment.

`Target.here()` is this tree as the harness itself imports it (sys.executable, this
repository on PYTHONPATH): the default. For `--compare REF` both sides are installed the
way the README installs queuectl (`pip install .`, not editable, into a venv of their
own), each cached under a key, so the comparison is between two installs alike:

- `install_ref(REF)`: `git archive` of the commit into a temporary directory, a venv,
  `pip install` of that tree; cached by the commit's hash;
- `install_tree()`: this working tree as it is (uncommitted changes included), copied
  aside and installed the same way; cached by a hash of its package files.

The cache is `$XDG_CACHE_HOME/queuectl-bench` (default ~/.cache/queuectl-bench), or
--cache-dir; one directory per key, made under a temporary name and renamed into place
when complete. Delete it at will.

The harness itself (this tree's benchmarks/ and its RPC client) measures both: it talks
to the daemon over the control socket and starts `python -m queuectl` and the
`queuectl` console script from the target's environment, with the target's venv as the
only place queuectl can come from (no PYTHONPATH, and a working directory outside any
source tree).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.util import REPO_ROOT, bench_env

# What `pip install .` of a tree needs (pyproject.toml names README.md as the readme).
PACKAGE_FILES = ("pyproject.toml", "README.md")
PACKAGE_DIRS = ("queuectl",)


class InstallError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Target:
    label: str  # for the table: "this tree", "HEAD~1 (1a2b3c4d)"
    python: str  # the interpreter whose environment has this queuectl
    here: bool = False  # this repository on PYTHONPATH (the harness's own environment)
    commit: str | None = None

    @staticmethod
    def current() -> Target:
        return Target("this tree", sys.executable, here=True)

    def env(self, **extra: str) -> dict[str, str]:
        """The environment for the daemon, its children and the CLI calls."""
        return bench_env(pythonpath=self.here, **extra)

    @property
    def cwd(self) -> str | None:
        """Where to start processes: outside any source tree, so that `python -m queuectl`
        cannot pick up a `queuectl/` from the working directory."""
        return None if self.here else tempfile.gettempdir()

    def queuectl_argv(self) -> list[str]:
        """The environment's `queuectl` console script (what users run), else -m."""
        script = Path(self.python).parent / "queuectl"
        return [str(script)] if script.exists() else [self.python, "-m", "queuectl"]

    def queuectl_file(self) -> str:
        """Where this target's `import queuectl` comes from (a check that it is the one meant)."""
        proc = subprocess.run([self.python, "-c", "import queuectl; print(queuectl.__file__)"],
                              env=self.env(), cwd=self.cwd, capture_output=True, text=True)  # fmt: skip
        if proc.returncode != 0:
            raise InstallError(f"{self.python} cannot import queuectl: {proc.stderr.strip()}")
        return proc.stdout.strip()


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "queuectl-bench"


def _git(*args: str) -> str:
    proc = subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise InstallError(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def resolve_commit(ref: str) -> str:
    """The full hash of a commit, branch, tag or HEAD~N."""
    try:
        return _git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    except InstallError:
        raise InstallError(f"{ref!r} names no commit in {REPO_ROOT}") from None


def install_ref(ref: str, cache: Path, progress: Callable[[str], None] = print) -> Target:
    commit = resolve_commit(ref)
    short = commit[:10]

    def source(dest: Path) -> None:
        archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", "--format=tar", commit],
                                 capture_output=True, check=True).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)

    venv = _cached_venv(cache / f"commit-{commit}", source, f"{ref} ({short})", progress)
    return Target(f"{ref} ({short})", str(venv / "bin" / "python"), commit=commit)


def tree_key() -> str:
    """A hash of the files `pip install .` of this tree installs from."""
    digest = hashlib.sha256()
    for path in _package_files(REPO_ROOT):
        digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def _package_files(root: Path) -> list[Path]:
    files = [root / name for name in PACKAGE_FILES if (root / name).exists()]
    for top in PACKAGE_DIRS:
        files.extend(p for p in sorted((root / top).rglob("*"))
                     if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")  # fmt: skip
    return files


def install_tree(cache: Path, progress: Callable[[str], None] = print) -> Target:
    key = tree_key()

    def source(dest: Path) -> None:
        for path in _package_files(REPO_ROOT):
            target = dest / path.relative_to(REPO_ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)

    venv = _cached_venv(cache / f"tree-{key}", source, f"this tree ({key[:10]})", progress)
    return Target("this tree", str(venv / "bin" / "python"))


def _cached_venv(final: Path, source: Callable[[Path], None], what: str,
                 progress: Callable[[str], None]) -> Path:  # fmt: skip
    """final/venv, made once: the tree `source(dir)` writes, `pip install`ed (not editable)."""
    venv = final / "venv"
    final.parent.mkdir(parents=True, exist_ok=True)
    with open(final.parent / f".{final.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another harness installing the same thing: wait for it
        if not (final / "complete").exists():
            _install(final, venv, source, what, progress)
        os.utime(final / "complete")  # last used: what prune() keeps
    prune(final.parent, final.name.split("-")[0], KEEP)
    return venv


KEEP = 6  # venvs of each kind (commit-*, tree-*) kept in the cache, the most recently used


def prune(cache: Path, kind: str, keep: int) -> None:
    """Remove all but the `keep` most recently used complete venvs named kind-*."""
    done = sorted((p for p in cache.glob(f"{kind}-*") if (p / "complete").exists()),
                  key=lambda p: (p / "complete").stat().st_mtime, reverse=True)  # fmt: skip
    for old in done[keep:]:
        with open(cache / f".{old.name}.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # in use (being installed or checked) by another harness
            shutil.rmtree(old, ignore_errors=True)
        (cache / f".{old.name}.lock").unlink(missing_ok=True)


def _install(final: Path, venv: Path, source: Callable[[Path], None], what: str,
             progress: Callable[[str], None]) -> None:  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        progress(f"installing {what} into a venv (once; cached in {final})")
        src = work / "src"
        src.mkdir()
        source(src)
        # Made where it will live: a venv's scripts name their interpreter by absolute path.
        if final.exists():
            shutil.rmtree(final)  # an incomplete earlier attempt
        final.mkdir()
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                              "--disable-pip-version-check", str(src)],
                             capture_output=True, text=True, env=bench_env(pythonpath=False))  # fmt: skip
        if pip.returncode != 0:
            shutil.rmtree(final, ignore_errors=True)
            raise InstallError(f"pip install of {what} failed:\n{pip.stdout}{pip.stderr}")
        (final / "complete").write_text(what + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
