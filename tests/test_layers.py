"""The package's layers: every import goes down (or sideways) the data's path, never up.

``suites`` is layered store < measurement < problems < run < read < cli (the
``suites`` package itself is the public facade on top, loading names lazily).
A module may import from its own layer and those below; ``estimators`` imports
nothing from ``suites``. Lazy imports inside functions count: they climb as much as
top-level ones. Within a layer, top-level imports form no cycle.
"""
from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAYERS = ["suites.store", "suites.measurement", "suites.problems", "suites.run", "suites.read",
          "suites.cli"]


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(package: str) -> dict[str, pathlib.Path]:
    return {module_name(p): p for p in sorted((ROOT / package).rglob("*.py"))}


ALL = {**modules("suites"), **modules("estimators")}


def in_type_checking(node, parents) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            return True
    return False


def imports(name: str, top_level_only: bool = False) -> set[str]:
    """The modules of ours that module ``name`` imports (``from pkg import sub`` counts as ``pkg.sub``)."""
    path = ALL[name]
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if in_type_checking(node, parents):
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in ALL else base for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in ALL}
    return found - {name}


def layer(name: str) -> int | None:
    for index, prefix in enumerate(LAYERS):
        if name == prefix or name.startswith(prefix + "."):
            return index
    return None


def test_the_suites_root_holds_only_the_package_and_its_layers():
    assert sorted(p.name for p in (ROOT / "suites").glob("*.py")) == ["__init__.py"]
    packages = {p.parent.name for p in (ROOT / "suites").glob("*/__init__.py")}
    assert packages == {layer.split(".")[1] for layer in LAYERS}


def test_every_module_of_suites_is_in_a_layer():
    assert [m for m in ALL if m.startswith("suites.") and layer(m) is None] == []


@pytest.mark.parametrize("name", sorted(m for m in ALL if m.startswith("suites.")))
def test_no_module_imports_from_a_layer_above_its_own(name):
    upward = sorted(t for t in imports(name) if t.startswith("suites")
                    and (layer(t) is None or layer(t) > layer(name)))
    assert upward == [], f"{name} (layer {LAYERS[layer(name)]}) imports from above: {upward}"


def test_estimators_import_nothing_from_suites():
    offending = {m: sorted(t for t in imports(m) if t.startswith("suites"))
                 for m in ALL if m.startswith("estimators")}
    assert {m: t for m, t in offending.items() if t} == {}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_top_level_imports_form_no_cycle():
    # A package's __init__ re-exporting its modules, and those modules importing a sibling
    # through the package, are the one cycle Python resolves by order: count a module's
    # import of its own package's __init__ as none.
    graph = {}
    for name in ALL:
        targets = imports(name, top_level_only=True)
        graph[name] = {t for t in targets if not name.startswith(t + ".")}
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"


@pytest.mark.parametrize("package", ["suites.read", "suites"])
def test_imports_inside_functions_form_no_cycle_either(package):
    # A function-level import resolves at call time, so Python never complains of the circle
    # (advise -> summary -> verdict -> advise once): what two modules share goes in one below.
    inside = [name for name in ALL if name == package or name.startswith(package + ".")]
    graph = {name: {t for t in imports(name) if t in inside and not name.startswith(t + ".")}
             for name in inside}
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"


@pytest.mark.parametrize("name", ["suites.read.ranking", "suites.read.text"])
def test_what_the_readers_share_lies_below_them(name):
    # advise, verdict and summary share the tie rule, the totals, label wrapping and records
    # through these two, which import nothing of suites.read themselves
    assert [t for t in imports(name) if t.startswith("suites.read")] == []
    users = {"suites.read.advise", "suites.read.verdict", "suites.read.summary"}
    assert any(name in imports(user) for user in users)


def test_the_layer_check_sees_an_upward_import(tmp_path, monkeypatch):
    # The checks above would pass vacuously if the walker found no imports.
    assert "suites.store.schema" in imports("suites.measurement.measure")
    assert "suites.run.grids.base" in imports("suites.read.advise")
    assert "suites.read.report.render" in imports("suites.cli.commands")
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
