"""The packages are layers and import only downward, read from the source's imports.

Layers, bottom to top (docs/architecture.md draws them):

    contract   inpaint_models.contract   hookspecs, datatypes, options, values, errors, registry
    io         inpaint_models.io         image, mask and zarr files
    training   inpaint_models.training   the shared trainer and its data sources
    models     inpaint_models.models     one folder per model
    pipeline   inpaint_models.pipeline   layout, plans, crops, lazy fills, estimates
    front      inpaint_models (package), api, api_fit, api_train, evaluation, samples
    clients    inpaint_models.cli and napari_inpaint: the front, the contract and files only

Every import counts, function-local ones included: a local import is never a way round a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

LAYERS = ["contract", "io", "training", "models", "pipeline", "front", "clients"]
FRONT_MODULES = {"api", "api_fit", "api_train", "evaluation", "samples"}
#: what the clients (CLI, napari) may import besides the front
CLIENT_REACH = {"front", "contract", "io", "clients"}


def layer_of(module: str) -> str:
    """The layer of a dotted module name of this project."""
    parts = module.split(".")
    if parts[0] == "napari_inpaint":
        return "clients"
    if len(parts) == 1:
        return "front"
    if parts[1] in FRONT_MODULES:
        return "front"
    if parts[1] == "cli":
        return "clients"
    if parts[1] in LAYERS:
        return parts[1]
    raise AssertionError(f"{module} belongs to no layer: add it to one (tests/test_layering.py)")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def project_imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(absolute module, imported names, line) of every import of this project in ``path``."""
    module = module_name(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in ("inpaint_models", "napari_inpaint"):
                    found.append((alias.name, [], node.lineno))
            continue
        else:
            continue
        if target.split(".")[0] in ("inpaint_models", "napari_inpaint"):
            found.append((target, names, node.lineno))
    return found


def all_modules() -> dict[str, Path]:
    return {module_name(path): path for package in ("inpaint_models", "napari_inpaint") for path in (SRC / package).rglob("*.py")}


def resolved_targets(target: str, names: list[str], modules: dict[str, Path]) -> list[str]:
    """The modules an import reaches: ``from pkg import mod`` reaches ``pkg.mod``, else ``pkg``."""
    reached = [f"{target}.{name}" for name in names if f"{target}.{name}" in modules]
    if len(reached) < len(names) or not names:
        reached.append(target)
    return reached


def import_graph() -> dict[str, set[str]]:
    modules = all_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for target, names, _ in project_imports(path):
            for reached in resolved_targets(target, names, modules):
                if reached != name and not name.startswith(reached + "."):
                    graph[name].add(reached)
    return graph


def test_every_module_is_in_a_layer():
    for name in all_modules():
        layer_of(name)


def test_imports_go_only_downward():
    modules = all_modules()
    wrong = []
    for name, path in sorted(modules.items()):
        own = layer_of(name)
        for target, names, line in project_imports(path):
            for reached in resolved_targets(target, names, modules):
                if name.startswith(reached + ".") and reached in ("inpaint_models", "napari_inpaint"):
                    continue  # a package's own __init__ seen from inside: no edge
                theirs = layer_of(reached)
                if own == "clients":
                    ok = theirs in CLIENT_REACH
                else:
                    ok = LAYERS.index(theirs) <= LAYERS.index(own)
                if not ok:
                    wrong.append(f"{path.relative_to(SRC)}:{line}: {own} imports {reached} ({theirs})")
    assert not wrong, "imports that go up a layer:\n" + "\n".join(wrong)


def test_no_import_circle():
    graph = import_graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in graph:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert not circles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in circles)


def test_no_private_name_imported_from_another_module():
    wrong = []
    for name, path in sorted(all_modules().items()):
        for target, names, line in project_imports(path):
            for imported in names:
                if imported.startswith("_") and not imported.startswith("__"):
                    wrong.append(f"{path.relative_to(SRC)}:{line}: {imported} from {target}")
    assert not wrong, "private names used from another module:\n" + "\n".join(wrong)


@pytest.mark.parametrize(
    "module, expected",
    [
        ("inpaint_models", "front"),
        ("inpaint_models.api", "front"),
        ("inpaint_models.contract.errors", "contract"),
        ("inpaint_models.models.glcic.plugin", "models"),
        ("inpaint_models.cli.fill", "clients"),
        ("napari_inpaint.inpaint_widget", "clients"),
    ],
)
def test_layer_of(module, expected):
    assert layer_of(module) == expected
