"""The product's layers only point down, and no module imports itself through others.

domain (pure, with the API client's models and errors) <- runtime's config and logs <- store,
engine <- sweep, operator <- entry points (`main.py`, `handlers/`, `python -m keeper`, the
composition root). Every import counts: at the top, inside a function, or for type checking
only, since each one is a dependency a reader must follow.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("main.py", "handlers", "keeper", "workspace_client")

# The lowest layer whose prefix matches a module wins (longest prefix first).
LAYERS: dict[str, int] = {
    "keeper": 0,  # the packages themselves: docstrings only
    "workspace_client": 0,
    "keeper.domain": 0,
    "keeper.runtime.config": 1,
    "keeper.runtime.logs": 1,
    "keeper.store": 2,
    "keeper.engine": 2,
    "keeper.sweep": 3,
    "keeper.operator": 3,
    "keeper.runtime.context": 4,
    "keeper.__main__": 4,
    "handlers": 4,
    "main": 4,
}


def product_modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for top in PRODUCT:
        for path in [ROOT / top] if top.endswith(".py") else (ROOT / top).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imports(modules: dict[str, Path]) -> set[tuple[str, str]]:
    """(importer, imported) for every import of one product module by another."""
    edges = set()
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}".rstrip(".")
                # `from package import module` depends on the module itself
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            edges.update((name, target) for target in targets if target in modules)
    return {(a, b) for a, b in edges if a != b}


def layer(module: str) -> int:
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return LAYERS[prefix]
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def violations(edges: set[tuple[str, str]]) -> list[str]:
    """Imports that point up a layer, and one import cycle if there is any."""
    found = [
        f"{a} (layer {layer(a)}) imports {b} (layer {layer(b)})"
        for a, b in sorted(edges)
        if layer(a) < layer(b)
    ]
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        found.append("import cycle: " + " -> ".join(error.args[1]))
    return found


def test_every_import_points_down_and_none_forms_a_cycle() -> None:
    # GIVEN every import between the product's modules
    modules = product_modules()
    edges = imports(modules)
    # THEN each module has a layer, and none imports upward or in a circle
    assert all(layer(module) >= 0 for module in modules)
    assert violations(edges) == []
    # AND the entry points and the domain are where the layers say (the check sees them)
    assert ("keeper.operator.cli", "keeper.engine.onboard") in edges
    assert ("keeper.domain.decisions", "keeper.domain.view") in edges


@pytest.mark.parametrize(
    ("added", "expected"),
    [
        # the domain reaching into the engine: upward, and a cycle through the engine
        (("keeper.domain.view", "keeper.engine.observe"), "imports keeper.engine.observe"),
        # two modules of one layer importing each other
        (("keeper.domain.models", "keeper.domain.decisions"), "import cycle"),
        # the CLI importing the handlers it gets injected
        (("keeper.operator.cli", "handlers"), "imports handlers (layer 4)"),
    ],
)
def test_the_check_fails_when_an_import_points_up_or_closes_a_cycle(
    added: tuple[str, str], expected: str
) -> None:
    # GIVEN the product's imports WHEN one more is added THEN the check names it
    problems = violations(imports(product_modules()) | {added})
    assert any(expected in problem for problem in problems), problems
