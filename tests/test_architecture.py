"""The package's shape, checked: the domain in dashboard/sms/ stays pure, and no two modules need
each other (docs/architecture.md, "Who owns which rule"). Imports inside functions count: one
that dodges a circle is the circle still."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "dashboard"
# What the pure domain may not import: the web framework, the database, or any layer above it.
FORBIDDEN_IN_SMS = ("flask", "flask_", "sqlalchemy", "dashboard.models", "dashboard.services", "dashboard.web",
                    "dashboard.worker", "dashboard.api", "dashboard.extensions", "dashboard.settings")


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_names(path: Path) -> list[str]:
    """Every module name an import statement anywhere in the file names (relative ones resolved)."""
    name = _module(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            found += [base] + [f"{base}.{alias.name}" for alias in node.names]
    return found


def _sources() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts]


def import_graph() -> dict[str, set[str]]:
    """Module → the modules of the package it imports. A package and its own submodules are not
    edges of each other (importing a submodule runs its package's __init__ by necessity)."""
    modules = {_module(p) for p in _sources()}
    graph = {}
    for path in _sources():
        name = _module(path)
        edges = set()
        for target in _imported_names(path):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + ".") and not target.startswith(name + "."):
                edges.add(target)
        graph[name] = edges
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
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
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_two_modules_of_the_package_need_each_other():
    assert circles(import_graph()) == []


def test_the_circle_finder_finds_a_circle_through_three_modules():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_domain_in_sms_imports_neither_flask_nor_the_database_nor_any_layer_above_it():
    offenders = {}
    for path in (PACKAGE / "sms").rglob("*.py"):
        bad = [name for name in _imported_names(path) if name.startswith(FORBIDDEN_IN_SMS)]
        if bad:
            offenders[path.name] = sorted(set(bad))
    assert offenders == {}
