"""The shape of the code a new engineer reads: small files, short functions, no import
cycles, and RPC handlers that know the daemon only through its interface."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "queuectl"
MAX_FILE_LINES = 450
MAX_FUNCTION_LINES = 60


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports_at_import_time(path: Path, known: dict[str, Path]) -> set[str]:
    """Modules imported when `path` is imported (not inside functions or TYPE_CHECKING)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            continue
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        for n in ast.walk(node):
            if isinstance(n, ast.ImportFrom) and n.module:
                for alias in n.names:
                    full = f"{n.module}.{alias.name}"
                    names.add(full if full in known else n.module)
            elif isinstance(n, ast.Import):
                names.update(alias.name for alias in n.names)
    return {name for name in names if name in known}


def test_no_file_is_over_450_lines_and_no_function_over_60() -> None:
    long_files, long_functions = [], []
    for path in modules().values():
        text = path.read_text()
        if text.count("\n") > MAX_FILE_LINES:
            long_files.append(f"{path}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append(f"{path}:{node.lineno} {node.name}: {length} lines")
    assert not long_files and not long_functions, long_files + long_functions


def test_there_is_no_import_cycle() -> None:
    known = modules()
    graph = {name: imports_at_import_time(path, known) - {name} for name, path in known.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for dep in sorted(graph[name]):
            if state.get(dep) == 1:
                cycles.append(trail[trail.index(dep):] + [dep] if dep in trail else [name, dep])
            elif dep not in state:
                visit(dep, [*trail, dep])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, cycles


def test_rpc_handlers_know_the_daemon_only_through_its_interface() -> None:
    known = modules()
    for name, path in known.items():
        if name.startswith("queuectl.daemon.methods"):
            assert not imports_at_import_time(path, known) & {"queuectl.daemon.daemon", "queuectl.daemon.loop"}, name
            assert "queuectl.daemon.daemon" not in path.read_text(), name
