"""The layout's import rules (SPEC §1, STYLE "Layout: imports run one way"), read from
the source with `ast`, so a wrong import fails here whether or not a test runs it:

- `integrations/` (GitHub's facts and the client) never imports `sync`;
- `sync/`, `integrations/` and `config/` never import `simulator` (only tests and bench
  do);
- no import inside a function body in `sync/`, `integrations/` or `config/` (the way to
  dodge an import cycle), except under `if TYPE_CHECKING:`;
- no test module imports another test module (shared code lives in conftest, support
  and factories modules)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("sync", "integrations", "config")


@dataclass(frozen=True)
class Import:
    where: str  # path:line
    module: str  # absolute dotted name
    in_function: bool

    def __str__(self) -> str:
        return f"{self.where} imports {self.module}"


def _absolute(node: ast.ImportFrom, name: Path) -> list[str]:
    """The modules `from ... import ...` names: the module itself and, since
    `from pkg import mod` may import a submodule, each `pkg.name`. `name` is the
    file's path relative to the source root."""
    if node.level:
        package = list(name.with_suffix("").parts)
        package.pop()  # a module's package; an __init__'s own package
        base = ".".join(package[: len(package) - node.level + 1])
        module = f"{base}.{node.module}" if node.module else base
    else:
        module = node.module or ""
    return [module, *(f"{module}.{alias.name}" for alias in node.names)]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, root: Path = ROOT) -> Iterator[Import]:
    name = path.relative_to(root)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))

    def visit(node: ast.AST, in_function: bool) -> Iterator[Import]:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            return  # annotations only: never executed
        where = f"{name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(where, alias.name, in_function)
        elif isinstance(node, ast.ImportFrom):
            for module in _absolute(node, name):
                yield Import(where, module, in_function)
        elif isinstance(node, ast.Call) and _literal_import_module(node):
            yield Import(where, _literal_import_module(node), in_function)
        inside = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for child in ast.iter_child_nodes(node):
            yield from visit(child, inside)

    yield from visit(tree, False)


def _literal_import_module(call: ast.Call) -> str:
    """`importlib.import_module("x.y")` / `__import__("x.y")` with a literal name."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if name not in ("import_module", "__import__") or not call.args:
        return ""
    first = call.args[0]
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else ""


def imports_under(*packages: str) -> list[Import]:
    found: list[Import] = []
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            found.extend(_imports(path))
    return found


def _names(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


def _lines(found: list[Import]) -> list[str]:
    """One line of the failure message per offending statement."""
    first: dict[str, str] = {}
    for item in found:
        first.setdefault(item.where, str(item))
    return list(first.values())


def test_the_source_tree_has_the_packages_the_rules_are_about() -> None:
    for package in (*PRODUCT, "simulator"):
        assert (ROOT / package / "__init__.py").is_file(), package
    # and the reader sees imports (a broken walker would pass every rule below)
    found = {item.module for item in imports_under("sync")}
    assert "integrations.models" in found
    assert "sync.services" in found


def test_integrations_never_imports_sync() -> None:
    wrong = [item for item in imports_under("integrations") if _names(item.module, "sync")]
    assert not wrong, "\n".join(_lines(wrong))


@pytest.mark.parametrize("package", PRODUCT)
def test_the_product_never_imports_the_simulator(package: str) -> None:
    wrong = [item for item in imports_under(package) if _names(item.module, "simulator")]
    assert not wrong, "\n".join(_lines(wrong))


@pytest.mark.parametrize("package", PRODUCT)
def test_no_import_inside_a_function(package: str) -> None:
    wrong = [item for item in imports_under(package) if item.in_function]
    assert not wrong, "\n".join(_lines(wrong))


def test_no_test_module_imports_another() -> None:
    def is_test_module(module: str) -> bool:
        return module.startswith("tests.") and any(
            part.startswith("test_") for part in module.split(".")
        )

    wrong = [item for item in imports_under("tests") if is_test_module(item.module)]
    assert not wrong, "\n".join(_lines(wrong))


# The walker itself, on small sources: each rule must be able to fail.


def _walk(tmp_path: Path, relative: str, source: str) -> list[Import]:
    path = tmp_path / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    return list(_imports(path, tmp_path))


def test_the_walker_resolves_relative_imports_and_sees_function_bodies(tmp_path: Path) -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "from ..sync import services\n"
        "if TYPE_CHECKING:\n"
        "    from sync.models import IngestionJob\n"
        "def f():\n"
        "    import simulator.testing\n"
        "    return importlib.import_module('sync.tasks')\n"
    )
    found = [
        (item.module, item.in_function)
        for item in _walk(tmp_path, "integrations/github/mod.py", source)
    ]
    assert ("integrations.sync.services", False) in found  # `..` from integrations/github
    assert not any(module.startswith("sync.models") for module, _ in found)
    assert ("simulator.testing", True) in found
    assert ("sync.tasks", True) in found
