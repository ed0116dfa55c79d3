"""The package's shape agrees with ARCHITECTURE.md, and no file outgrows it.

The module table in ARCHITECTURE.md is read as data: its rows, top to bottom,
are the import order, and each row's "knows about" column names every module
it may import. Every ``import`` statement in the source is walked with ``ast``,
inside functions included (only ``if TYPE_CHECKING:`` blocks, which never run,
are skipped), so an import that runs against the order fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "ouroboros"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def _table() -> list[tuple[str, set[str]]]:
    """(module, modules it knows about) per row of the package table, in order; a row
    that knows "everything" knows every row above it."""
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    section = text.split("## Packages", 1)[1].split("\n## ", 1)[0]
    rows: list[tuple[str, set[str]]] = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`ouroboros\.([a-z_]+)`", cells[0]) if len(cells) == 3 else None
        if match:
            everything = cells[2].startswith("everything")
            knows = (
                {n for n, _ in rows} if everything else set(re.findall(r"`([a-z_]+)`", cells[2]))
            )
            rows.append((match.group(1), knows))
    return rows


def _top_level(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "__init__.py")


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, top-level ouroboros module) of every import that can run."""
    found = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "ouroboros":
                names = [f"ouroboros.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "ouroboros" and len(parts) > 1 and parts[1] != "__version__":
                found.append((node.lineno, parts[1]))
    return found


def test_the_table_lists_every_module_once() -> None:
    listed = [name for name, _ in _table()]
    present = {_top_level(p) for p in _sources()}
    assert len(listed) == len(set(listed)), "a module appears twice in ARCHITECTURE.md"
    assert present - set(listed) == set(), "modules missing from ARCHITECTURE.md's table"
    assert set(listed) - present == set(), "ARCHITECTURE.md lists modules that do not exist"


def test_each_module_knows_only_modules_above_it() -> None:
    seen: set[str] = set()
    wrong = []
    for name, knows in _table():
        wrong += [f"{name} knows {k}, listed below it" for k in sorted(knows - seen)]
        seen.add(name)
    assert wrong == []


def test_no_import_runs_against_the_order() -> None:
    knows = dict(_table())
    wrong = []
    for path in _sources():
        own = _top_level(path)
        allowed = knows.get(own, set()) | {own}
        for line, target in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if target not in allowed:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports ouroboros.{target}")
    assert wrong == [], "imports not in the module's 'knows about' column:\n" + "\n".join(wrong)


def test_every_known_module_is_really_imported() -> None:
    """The table claims no dependency the code does not have."""
    used: dict[str, set[str]] = {}
    for path in _sources():
        own = _top_level(path)
        targets = {t for _, t in _imports(ast.parse(path.read_text(encoding="utf-8")))}
        used.setdefault(own, set()).update(targets - {own})
    stale = [
        f"{name} does not import {k}"
        for name, knows in _table()
        if name != "cli"
        for k in sorted(knows - used.get(name, set()))
    ]
    assert stale == []


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_and_functions_stay_small(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_MODULE_LINES
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []


def test_the_walker_sees_imports_inside_functions_and_skips_type_checking() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ouroboros.cli import x\n"
        "def f():\n    from ouroboros.metrics import evaluate\n    import ouroboros.store.base\n"
        "from ouroboros import io, __version__\n"
    )
    assert sorted(t for _, t in _imports(tree)) == ["io", "metrics", "store"]
