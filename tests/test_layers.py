"""No module imports a layer above its own (the order is the ``layers`` block of
docs/architecture.md, its one statement).

Every import is read from the source with ``ast``: module level, inside functions and
under ``TYPE_CHECKING`` alike, since a lazy upward import is still an upward dependency.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = "uidl_inspector"
SRC = REPO / "src" / PACKAGE
ARCHITECTURE = REPO / "docs" / "architecture.md"

# (importing module, imported module) -> why this upward import is allowed. Keep it empty.
ALLOWED: dict[tuple[str, str], str] = {}


def layer_order(text: str) -> dict[str, int]:
    """Unit -> layer rank, from the fenced ``layers`` block (``name: unit unit ...``)."""
    block = re.search(r"^```layers\n(.*?)^```", text, re.M | re.S)
    assert block, "docs/architecture.md has no ```layers block"
    ranks: dict[str, int] = {}
    for rank, line in enumerate(block[1].strip().splitlines()):
        _, _, units = line.partition(":")
        for unit in units.split():
            assert unit not in ranks, f"{unit} is placed in two layers"
            ranks[unit] = rank
    return ranks


def module_name(path: Path, root: Path) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, int]]:
    """Every ``uidl_inspector`` module (or root attribute) the tree imports, with its line."""
    out: list[tuple[str, int]] = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target == PACKAGE:  # from uidl_inspector import workers / __version__
                out += [(f"{PACKAGE}.{a.name}", node.lineno) for a in node.names]
            else:
                out.append((target, node.lineno))
    return [(t, line) for t, line in out if t == PACKAGE or t.startswith(PACKAGE + ".")]


def unit(module: str) -> str:
    """The layer unit of a module: its top-level module or folder under the package."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def upward_imports(
    root: Path, ranks: dict[str, int], allowed: dict[tuple[str, str], str]
) -> list[str]:
    problems = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        here = unit(module)
        if here not in ranks:
            problems.append(f"{module}: unit {here!r} is in no layer of docs/architecture.md")
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for target, line in imported(tree, module, path.name == "__init__.py"):
            there = unit(target)
            if there not in ranks:
                problems.append(f"{module}:{line} imports {target}, in no layer")
            elif ranks[there] > ranks[here] and (module, target) not in allowed:
                problems.append(f"{module}:{line} imports {target}: {there} is above {here}")
    return problems


def test_no_module_imports_a_layer_above_its_own() -> None:
    ranks = layer_order(ARCHITECTURE.read_text(encoding="utf-8"))
    assert upward_imports(SRC, ranks, ALLOWED) == []


def test_every_allowed_exception_is_still_needed() -> None:
    ranks = layer_order(ARCHITECTURE.read_text(encoding="utf-8"))
    for (module, target), reason in ALLOWED.items():
        assert reason.strip(), f"{module} -> {target}: no reason given"
        assert upward_imports(
            SRC, ranks, {k: v for k, v in ALLOWED.items() if k != (module, target)}
        ), f"{module} -> {target} is allowed but no longer imported"


@pytest.mark.parametrize(
    "statement",
    [
        "from uidl_inspector.report.model import Report\n",
        "import uidl_inspector.cli.app\n",
        "from ..report import model\n",
        "from uidl_inspector import pipeline\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from uidl_inspector.audit import run_audit\n",
        "def later():\n    from uidl_inspector.locate import locate\n",
    ],
)
def test_an_upward_import_is_caught(tmp_path: Path, statement: str) -> None:
    root = tmp_path / PACKAGE
    (root / "store").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "store" / "__init__.py").write_text("")
    (root / "store" / "reader.py").write_text(
        "from uidl_inspector.schemas import ndb\n" + statement
    )
    ranks = layer_order(ARCHITECTURE.read_text(encoding="utf-8"))
    problems = upward_imports(root, ranks, {})
    assert len(problems) == 1 and problems[0].startswith("uidl_inspector.store.reader:")


def test_a_module_in_no_layer_is_caught(tmp_path: Path) -> None:
    root = tmp_path / PACKAGE
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "newthing.py").write_text("")
    problems = upward_imports(root, layer_order(ARCHITECTURE.read_text(encoding="utf-8")), {})
    assert problems == [
        f"{PACKAGE}.newthing: unit 'newthing' is in no layer of docs/architecture.md"
    ]
