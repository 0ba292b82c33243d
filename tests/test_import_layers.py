"""The package's import graph keeps its layers: no import circle spanning
more than one file, and no module imports a higher layer than its own (lazy
imports inside functions included), so that generic code never knows a
DenseNet class, a converter, the training recipe or the command line."""

import ast
import pathlib

import pytest

import densenet_hub

PACKAGE = pathlib.Path(densenet_hub.__file__).parent
# Lowest first. A module belongs to the longest prefix listed; it may import
# modules of its own rank or lower. `densenet_hub.models` and
# `densenet_hub.layers` themselves (their `__init__.py`) are the public
# namespaces named as in `keras_hub.models` / `keras_hub.layers`: they gather
# the generic and the DenseNet classes, so they rank above both.
RANKS = {
    "densenet_hub.version": 0,
    "densenet_hub.base": 0,
    "densenet_hub.imagenet": 0,
    "densenet_hub.hub": 1,
    "densenet_hub.data": 1,
    "densenet_hub.presets": 2,
    "densenet_hub.preprocessing": 3,
    "densenet_hub.models.": 4,
    "densenet_hub.models.densenet": 5,
    "densenet_hub.models": 6,
    "densenet_hub.layers": 6,
    "densenet_hub.convert": 7,
    "densenet_hub.distribution": 7,
    "densenet_hub.export": 7,
    "densenet_hub.runtime": 8,
    "densenet_hub.training": 8,
    "densenet_hub.explain": 8,
    "densenet_hub.inference": 7,
    "densenet_hub.evaluation": 8,
    "densenet_hub.profiling": 9,
    "densenet_hub.serving": 9,
    "densenet_hub.batch": 9,
    "densenet_hub.demos": 9,
    "densenet_hub.cli": 10,
    # Programs, run as fresh interpreters: they import the whole package.
    "densenet_hub.__main__": 11,
    "densenet_hub.profiling.startup_child": 11,
    "densenet_hub": 11,
}
GENERIC = ("densenet_hub.hub", "densenet_hub.presets", "densenet_hub.preprocessing")


def _module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _rank(module):
    if module in RANKS:
        return RANKS[module]
    matches = [
        prefix
        for prefix in RANKS
        if prefix != "densenet_hub" and module.startswith(prefix.rstrip(".") + ".")
    ]
    if "densenet_hub.models." in matches and module.startswith("densenet_hub.models.densenet"):
        matches.remove("densenet_hub.models.")
    assert matches, f"{module} has no layer in RANKS; add it where it belongs"
    return RANKS[max(matches, key=len)]


def _package_of(module, path):
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _imports(module, path):
    """The package modules `module` imports, anywhere in its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = _package_of(module, path).split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        found.update(name for name in names if name in MODULES and name != module)
    return found


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def test_every_module_has_a_rank():
    for module in MODULES:
        _rank(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_higher_layer(module):
    upward = sorted(name for name in GRAPH[module] if _rank(name) > _rank(module))
    assert not upward, f"{module} (rank {_rank(module)}) imports higher layers: {upward}"


def test_generic_layers_never_name_densenet_modules():
    for module, imported in GRAPH.items():
        if module.startswith(GENERIC) or _rank(module) == RANKS["densenet_hub.models."]:
            assert not any(name.startswith("densenet_hub.models.densenet") for name in imported)


def _strongly_connected(graph):
    """Tarjan's components of `graph` with more than one module."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_circle_spans_more_than_one_file():
    assert _strongly_connected(GRAPH) == []


def test_the_checker_finds_a_circle_and_an_upward_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert _strongly_connected(graph) == [["a", "b", "c"]]
    assert _rank("densenet_hub.presets.loader") < _rank("densenet_hub.models.densenet.densenet_backbone")
    assert _rank("densenet_hub.models.backbone") < _rank("densenet_hub.models.densenet")
    assert _rank("densenet_hub.models") > _rank("densenet_hub.models.densenet.densenet_presets")


COMMANDS = "densenet_hub.cli.commands"


def _sideways_imports(graph):
    """Imports from one command module to another: commands share code only
    through `densenet_hub.cli.shell` and the library."""
    return sorted(
        (module, name)
        for module, imported in graph.items()
        if module.startswith(COMMANDS + ".")
        for name in imported
        if name.startswith(COMMANDS + ".")
    )


def test_no_command_imports_another_command():
    assert _sideways_imports(GRAPH) == []


def test_the_checker_finds_a_sideways_import():
    graph = {f"{COMMANDS}.predict": {f"{COMMANDS}.quantize", "densenet_hub.cli.shell"}}
    assert _sideways_imports(graph) == [(f"{COMMANDS}.predict", f"{COMMANDS}.quantize")]
