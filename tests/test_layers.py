"""The package's layering: every module imports, and no module imports from a layer above its own.

Dependencies point one way (../shared/DESIGN.md): tasks/data <- training <- affinity <- grouping <-
comparison <- pipeline <- cli; runtime serves all of them and knows none of them; reporting reads
the run documents only. The registries of method names sit at the bottom (the configuration reads
them without importing the methods). Imports inside functions count as much as those at the top.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "taskgroup"

#: name modules of the registries: importable from anywhere, import only the bottom layer
REGISTRIES = {"taskgroup.training", "taskgroup.training.weighting", "taskgroup.training.sampling",
              "taskgroup.training.encoders", "taskgroup.affinity", "taskgroup.affinity.measures"}

#: (layer, module prefixes), bottom first; a module may import its own layer and the ones below
LAYERS = [
    (0, ("taskgroup.errors", "taskgroup.registry", "taskgroup._version")),
    (1, ("taskgroup.config", "taskgroup.scaling", "taskgroup.runtime.device")),
    (2, ("taskgroup.runtime",)),
    (3, ("taskgroup.tasks", "taskgroup.data", "taskgroup.delta")),
    (4, ("taskgroup.training",)),
    (5, ("taskgroup.affinity",)),
    (6, ("taskgroup.grouping",)),
    (7, ("taskgroup.comparison",)),
    (8, ("taskgroup.pipeline", "taskgroup.demo", "taskgroup.tracking", "taskgroup.preflight", "taskgroup.provenance",
         "taskgroup.planning")),
    (9, ("taskgroup.cli", "taskgroup")),
]
#: reporting renders the run documents: it may use only these besides itself
REPORTING_MAY_USE = ("taskgroup.errors", "taskgroup.runtime", "taskgroup.reporting")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(module_name(p) for p in PACKAGE.rglob("*.py"))


def layer(module: str) -> int:
    if module in REGISTRIES:
        return 0
    best = max((prefix for _, prefixes in LAYERS for prefix in prefixes
                if module == prefix or module.startswith(prefix + ".")), key=len)
    return next(rank for rank, prefixes in LAYERS if best in prefixes)


def imports(module: str) -> set[str]:
    """Every taskgroup module ``module`` imports, anywhere in its file."""
    path = PACKAGE.parent / (module.replace(".", "/") + ".py")
    if not path.is_file():
        path = PACKAGE.parent / module.replace(".", "/") / "__init__.py"
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [target] + [f"{target}.{a.name}" for a in node.names]
            found.update(n for n in names if n.split(".")[0] == "taskgroup" and n in MODULES)
            if target.startswith("taskgroup") and target in MODULES:
                found.add(target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in MODULES)
    return found - {module}


def _runtime_nodes(tree: ast.AST):
    """Every node, except those under ``if TYPE_CHECKING:`` (imports for type hints only)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and getattr(child.test, "id", None) == "TYPE_CHECKING":
                stack.extend(child.orelse)
                continue
            stack.append(child)


#: modules that exist only to wrap an optional extra (imported lazily by the rest of taskgroup)
OPTIONAL_EXTRA = {"taskgroup.tracking.pyfunc": "mlflow"}


@pytest.mark.parametrize("module", MODULES)
def test_every_module_imports(module: str) -> None:
    if module in OPTIONAL_EXTRA:
        pytest.importorskip(OPTIONAL_EXTRA[module], reason=f"{module} needs the optional {OPTIONAL_EXTRA[module]}")
    importlib.import_module(module)


@pytest.mark.parametrize("module", MODULES)
def test_no_module_imports_from_a_layer_above_its_own(module: str) -> None:
    if module.startswith("taskgroup.reporting"):
        bad = [m for m in imports(module) if not m.startswith(REPORTING_MAY_USE)]
        assert not bad, f"{module} (reporting) reads documents only, but imports {bad}"
        return
    own = layer(module)
    above = sorted(m for m in imports(module) if layer(m) > own and not m.startswith("taskgroup.reporting"))
    assert not above, f"{module} (layer {own}) imports from above: {above}"
    if own < 8:
        assert not any(m.startswith("taskgroup.reporting") for m in imports(module)) or module == "taskgroup", module


def test_the_registries_import_only_the_bottom_layer() -> None:
    for module in REGISTRIES:
        assert all(layer(m) == 0 for m in imports(module)), module


def test_the_scan_sees_imports() -> None:
    """The rule above is only as good as the scan: it must find known imports of each form."""
    assert "taskgroup.registry" in imports("taskgroup.training.weighting")  # from ...registry import
    assert "taskgroup.comparison.compare" in imports("taskgroup.pipeline")  # inside a function
    assert layer("taskgroup.cli") > layer("taskgroup.pipeline") > layer("taskgroup.comparison.compare")
