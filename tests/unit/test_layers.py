"""The package's shape, read from its source: no import circle (imports inside functions and under
TYPE_CHECKING count too: a lazy import is still a dependency), no lower layer importing a higher one, and no
package named ``build`` (setuptools and .gitignore templates take that for build output)."""

import ast
from pathlib import Path

import pytest
from support import REPO

PACKAGE = REPO / "acrtasks"

#: Each module's layer, by its first name under acrtasks (a module of a lower layer may import only its own
#: layer and lower ones). docs/design.md draws the same picture.
LAYERS = [
    {"acr", "errors", "util"},
    {"naming", "compose", "dockerfile", "tagrules"},
    {"registry", "engine", "config"},
    {"copy", "deps"},
    {"release"},
    {"components", "deploy", "naming_cases"},
    {"delivery", "supply"},
    {"tasks"},
    {"__init__", "cli"},
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict:
    """Module -> the acrtasks modules it imports, anywhere in it."""
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:  # `from .. import deps` imports the module acrtasks.deps
                    found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[name] = {target for target in found if target in modules and target != name}
    return graph


def layer_of(module: str) -> int:
    parts = module.split(".")
    key = parts[1] if len(parts) > 1 else "__init__"
    for index, names in enumerate(LAYERS):
        if key in names:
            return index
    raise AssertionError(f"{module}: no layer; add its package to LAYERS (and to docs/design.md)")


def cycles(graph: dict) -> list:
    """Every strongly connected component of more than one module (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def test_no_import_circle():
    assert cycles(imports()) == []


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_lower_layer_imports_a_higher_one():
    upward = [f"{module} -> {target}" for module, targets in sorted(imports().items()) for target in sorted(targets)
              if layer_of(target) > layer_of(module)]
    assert upward == []


def test_no_package_named_build():
    assert not list((PACKAGE / "build").glob("**/*.py"))  # (a stale __pycache__ of the old one may linger)


@pytest.mark.parametrize("module", ["acrtasks.tasks.build", "acrtasks.release.images", "acrtasks.deps"])
def test_the_graph_sees_lazy_imports(module):
    graph = imports()
    assert graph[module], module
