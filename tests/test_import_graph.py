"""The package's layering, read from its source with ast: no import cycles, and no import against the layers.

Layers (docs/architecture.md): cli -> engine, evaluation, training -> loader -> methods -> weights, io, data
-> errors, options, progress, paths. Checked here: inference files under methods/ import none of weights,
training, data, io; weights imports neither training, methods nor the registry; only cli/ imports typer and
rich. Imports inside functions count too (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "vostool"
TRAINING_PARTS = ("training", "recipe", "pairs", "training_data")  # methods/<m>/ files that may use the trainer's contract


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def _imports(name: str, path: Path) -> tuple[set[str], set[str]]:
    """(vostool modules, top-level external packages) imported anywhere in the file."""
    internal, external = set(), set()
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([module] if module else []))
            targets = [module] + [f"{module}.{a.name}" for a in node.names]
        for target in targets:
            if not target.startswith("vostool"):
                external.add(target.split(".")[0])
                continue
            parts = target.split(".")
            for k in range(len(parts), 0, -1):  # the longest prefix that is a module
                candidate = ".".join(parts[:k])
                if candidate in MODULES and candidate != name:
                    internal.add(candidate)
                    break
    return internal, external


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def test_the_walk_sees_the_package():
    assert {"vostool.loader", "vostool.methods.base", "vostool.weights.checkpoint", "vostool.cli.app"} <= set(MODULES)
    assert "vostool.methods.base" in GRAPH["vostool.loader"][0]


def test_no_import_cycles():
    # Package __init__ files only re-export; an edge into one is not a dependency on its siblings.
    edges = {m: {t for t in GRAPH[m][0] if not _is_package(t)} for m in MODULES}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for module in sorted(MODULES):
        if module not in state:
            visit(module, [])
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _inference_method_file(module: str) -> bool:
    parts = module.split(".")
    return _under(module, "vostool.methods") and not any(
        p in TRAINING_PARTS or p.startswith("train") for p in parts[2:])


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _inference_method_file(m)))
def test_inference_files_under_methods_know_only_tensors(module):
    bad = {t for t in GRAPH[module][0]
           if any(_under(t, f"vostool.{layer}") for layer in ("weights", "training", "data", "io"))}
    assert not bad, f"{module} imports {sorted(bad)}"


def test_weights_imports_neither_training_nor_methods():
    for module in (m for m in MODULES if _under(m, "vostool.weights")):
        bad = {t for t in GRAPH[module][0]
               if _under(t, "vostool.training") or _under(t, "vostool.methods") or t == "vostool.registry"
               or t == "vostool.loader"}
        assert not bad, f"{module} imports {sorted(bad)}"


def test_only_the_cli_imports_typer_and_rich():
    users = sorted(m for m in MODULES if {"typer", "rich"} & GRAPH[m][1])
    assert users and all(_under(m, "vostool.cli") for m in users), users


def test_the_rules_catch_a_violation(tmp_path):
    # The walk is not vacuous: a method file importing the weights package is reported.
    name = "vostool.methods.frtm.session"
    fake = tmp_path / "session.py"
    fake.write_text("from vostool.weights import read_checkpoint\n")
    internal, _ = _imports(name, fake)
    assert "vostool.weights" in internal and _inference_method_file(name)
