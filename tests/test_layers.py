"""The layer rules of DESIGN.md, checked on the source tree.

- ``core/`` and ``strategies/`` are pure: no I/O, no asyncio, no wall clock, and they import
  nothing from the other polyexec packages.
- ``sim/`` is the venue, written independently: it shares no code with ``core/`` or ``venues/``.
- ``ops/`` never imports ``engine/``.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "polyexec"

# Modules whose import would give pure code a way to do I/O, await or read the clock.
IMPURE_MODULES = {
    "asyncio",
    "socket",
    "ssl",
    "select",
    "selectors",
    "subprocess",
    "threading",
    "multiprocessing",
    "time",
    "os",
    "io",
    "pathlib",
    "shutil",
    "tempfile",
    "sqlite3",
    "aiohttp",
    "websockets",
    "httpx",
    "requests",
    "urllib",
    "http",
    "structlog",
    "logging",
}
# Calls that read the wall clock even through an allowed module.
CLOCK_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today")}


def _python_files(package: str) -> list[Path]:
    root = SRC / package
    return sorted(root.rglob("*.py")) if root.exists() else []


@functools.cache
def _tree(path: Path) -> ast.Module:
    """The parsed file; several checks walk the same files."""
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def _clock_calls(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(_tree(path)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and (node.func.value.id, node.func.attr) in CLOCK_CALLS
        ):
            yield node.lineno, f"{node.func.value.id}.{node.func.attr}()"


def _relative(path: Path) -> str:
    return str(path.relative_to(SRC.parent))


@pytest.mark.parametrize("package", ["core", "strategies"])
def test_pure_packages_do_no_io_and_read_no_clock(package: str) -> None:
    violations = []
    for path in _python_files(package):
        for lineno, module in _imports(path):
            if module.split(".")[0] in IMPURE_MODULES:
                violations.append(f"{_relative(path)}:{lineno} imports {module}")
            pure_sibling = module.startswith(("polyexec.core", "polyexec.strategies"))
            if module.startswith("polyexec.") and not pure_sibling:
                violations.append(f"{_relative(path)}:{lineno} imports {module}: pure code imports only core")
        violations.extend(f"{_relative(path)}:{lineno} calls {call}" for lineno, call in _clock_calls(path))
    assert violations == []


def test_core_does_not_import_strategies() -> None:
    violations = [
        f"{_relative(path)}:{lineno} imports {module}"
        for path in _python_files("core")
        for lineno, module in _imports(path)
        if module.startswith("polyexec.") and not module.startswith("polyexec.core")
    ]
    assert violations == []


def test_simulator_shares_no_code_with_core_or_venues() -> None:
    violations = [
        f"{_relative(path)}:{lineno} imports {module}"
        for path in _python_files("sim")
        for lineno, module in _imports(path)
        if module.startswith(("polyexec.core", "polyexec.venues", "polyexec.engine", "polyexec.strategies"))
    ]
    assert violations == []


def test_ops_never_imports_engine() -> None:
    violations = [
        f"{_relative(path)}:{lineno} imports {module}"
        for path in _python_files("ops")
        for lineno, module in _imports(path)
        if module.startswith("polyexec.engine")
    ]
    assert violations == []


def test_the_checker_sees_the_core_package() -> None:
    # Guards against the checks above passing vacuously because the tree moved.
    assert any(path.name == "models.py" for path in _python_files("core"))
    assert any(path.name == "contracts.py" for path in _python_files("sim"))
