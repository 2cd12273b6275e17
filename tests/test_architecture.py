"""The architecture's rules, read from the source (ast), so a change that breaks one fails here.

- No import cycle between modules of auditplatform/, audits/, explain/ and runtime/,
  counting imports inside functions (they still tie the two modules together) and
  `from package import submodule` as an import of the submodule.
- No function or method over MAX_FUNCTION_LINES lines outside tests and migrations.
- The layers: audits/checks/ and audits/mitigation/ are plain computation (no Django);
  explain/ and runtime/ sit below audits and never import it (the runtime is shared by both).
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("auditplatform", "audits", "explain", "runtime")
MAX_FUNCTION_LINES = 80
# Layer -> top-level packages it must not import.
FORBIDDEN = {
    "audits.checks": ("django",),
    "audits.mitigation": ("django",),
    "explain": ("audits",),
    "runtime": ("audits",),
}


def module_files(root: Path, packages) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under the packages."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imported_names(name: str, path: Path) -> list[tuple[str, list[str]]]:
    """(module, names imported from it) for every import statement in the file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's own package, up level - 1 more
                base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            found.append((module, [alias.name for alias in node.names]))
    return found


def import_graph(root: Path, packages) -> dict[str, set[str]]:
    """Module -> the modules of the packages it imports. `from a import b` counts as an
    import of a.b when that is a module, else of a; a package's implicit import of its
    own __init__ is not counted (every submodule would depend on it)."""
    modules = module_files(root, packages)
    graph = {}
    for name, path in modules.items():
        edges = set()
        for module, names in imported_names(name, path):
            subs = [f"{module}.{n}" for n in names if f"{module}.{n}" in modules]
            edges.update(subs)
            if module in modules and (len(subs) < len(names) or not names):
                edges.add(module)
        edges.discard(name)
        graph[name] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a path that returns to its start) from each strongly connected group of
    modules (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[set[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(group)
    return [_cycle_in(graph, group) for group in groups]


def _cycle_in(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest path from the group's first module back to itself, inside the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node] & group):
                if child == start:
                    return paths[node] + [start]
                if child not in paths:
                    paths[child] = paths[node] + [child]
                    following.append(child)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # a strongly connected group always has one


def long_functions(root: Path, packages, limit: int) -> list[str]:
    too_long = []
    for path in sorted(p for package in packages for p in (root / package).rglob("*.py")):
        if "migrations" in path.parts or "tests" in path.relative_to(root).parts[:1]:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    too_long.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({lines} lines)")
    return too_long


def forbidden_imports(root: Path, rules: dict[str, tuple[str, ...]]) -> list[str]:
    found = []
    modules = module_files(root, sorted({layer.split(".")[0] for layer in rules}))
    for name, path in modules.items():
        for layer, banned in rules.items():
            if name != layer and not name.startswith(layer + "."):
                continue
            for module, _ in imported_names(name, path):
                if module.split(".")[0] in banned:
                    found.append(f"{name} imports {module} ({layer} must not import {', '.join(banned)})")
    return found


def test_no_import_cycle_between_modules():
    cycles = find_cycles(import_graph(ROOT, PACKAGES))
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_function_over_the_limit():
    scanned = ("auditplatform", "audits", "explain", "runtime", "bench", "demo")
    too_long = long_functions(ROOT, [p for p in scanned if (ROOT / p).is_dir()], MAX_FUNCTION_LINES)
    assert not too_long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(too_long)


def test_layers_import_only_downwards():
    found = forbidden_imports(ROOT, FORBIDDEN)
    assert not found, "\n".join(found)


def _package(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_planted_cycle_is_found_and_printed(tmp_path):
    root = _package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg import b\n",
        "pkg/b.py": "def late():\n    from pkg.c import thing\n",  # inside a function: still an edge
        "pkg/c.py": "from . import a\nthing = 1\n",  # relative, and a submodule imported by name
        "pkg/d.py": "import pkg.a\n",  # imports into the cycle, not part of it
    })
    graph = import_graph(root, ["pkg"])
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.c"} and graph["pkg.c"] == {"pkg.a"}
    assert find_cycles(graph) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]


def test_an_acyclic_package_passes_and_names_resolve_to_the_module(tmp_path):
    root = _package(tmp_path, {
        "pkg/__init__.py": "from pkg.registry import REGISTRY\n\ndef load():\n    from pkg import one\n",
        "pkg/registry.py": "REGISTRY = {}\n",
        "pkg/one.py": "from .registry import REGISTRY\nfrom pkg.sub.deep import VALUE\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/deep.py": "from ..registry import REGISTRY\nVALUE = 1\n",
    })
    graph = import_graph(root, ["pkg"])
    assert graph["pkg.one"] == {"pkg.registry", "pkg.sub.deep"}
    assert graph["pkg.sub.deep"] == {"pkg.registry"}
    assert find_cycles(graph) == []
    # The package importing a module that imports the package back is a cycle.
    (root / "pkg" / "one.py").write_text("from pkg import REGISTRY\n")
    assert find_cycles(import_graph(root, ["pkg"])) == [["pkg", "pkg.one", "pkg"]]


def test_long_functions_and_forbidden_imports_are_found(tmp_path):
    body = "".join(f"    x{i} = {i}\n" for i in range(80))
    method_body = "".join("    " + line for line in body.splitlines(keepends=True))
    root = _package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/long.py": f"def short():\n    pass\n\n\nclass K:\n    def long(self):\n{method_body}",
        "pkg/migrations/0001.py": f"def long():\n{body}",
        "pkg/checks/__init__.py": "",
        "pkg/checks/pure.py": "def f():\n    from django.db import models\n",
    })
    assert long_functions(root, ["pkg"], 80) == ["pkg/long.py:6 long (81 lines)"]
    assert forbidden_imports(root, {"pkg.checks": ("django",)}) == [
        "pkg.checks.pure imports django.db (pkg.checks must not import django)"]
