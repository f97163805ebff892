"""The project's import graph, read with `ast` (nothing is imported), for the architecture test.

Every `import` and `from ... import` statement counts, wherever it stands: at module level, inside
a function (a lazy import), a class or an `if TYPE_CHECKING:` block. A dependency is a dependency
whether it is paid at start-up or later, and a lazy import is the usual way a cycle gets hidden.

An edge goes to the most specific module the statement names, never to the packages above it:
`from audit import chain` is an edge to `audit.chain` (chain is a submodule), `from audit import
Store` is an edge to `audit` (its `__init__`), `import audit.api.app` is an edge to
`audit.api.app`. Counting the parent packages too (Python does run their `__init__` first) would
make every package whose `__init__` imports its own submodules look like a cycle with each of
them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path


@dataclass(frozen=True)
class Edge:
    source: str  # the importing module, e.g. "audit.chain"
    target: str  # the imported module, e.g. "core.findings"
    where: str  # "audit/chain.py:12", for the failure message

    def __str__(self) -> str:
        return f"{self.source} -> {self.target}  ({self.where})"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def find_modules(root: Path, packages: Iterable[str], skip: Iterable[str] = ()) -> dict[str, Path]:
    """Module name → file, for every .py file under the packages, except under the `skip` dirs."""
    skipped = [root / s for s in skip]
    modules: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            if not any(path.is_relative_to(s) for s in skipped):
                modules[module_name(path, root)] = path
    return modules


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute dotted name a (possibly relative) `from X import` statement starts from."""
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _named(
    node: ast.Import | ast.ImportFrom, module: str, is_package: bool
) -> Iterable[tuple[str, str | None]]:
    """(dotted name, attribute or None) for each thing the statement imports."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name, None
    else:
        base = _absolute(node, module, is_package)
        for alias in node.names:
            yield base, alias.name


def _resolve(name: str, attr: str | None, modules: Mapping[str, Path]) -> str:
    """The most specific known module for `import name` / `from name import attr`."""
    if attr is not None and f"{name}.{attr}" in modules:
        return f"{name}.{attr}"
    parts = name.split(".")
    while len(parts) > 1 and ".".join(parts) not in modules:
        parts.pop()
    return ".".join(parts)


def scan(
    root: Path, packages: Iterable[str], *, skip: Iterable[str] = (), outsiders: Iterable[str] = ()
) -> list[Edge]:
    """Every import from a module of `packages` into `packages` or into `outsiders`.

    Imports of anything else (the standard library, third parties) are left out, and so is a
    module importing itself (`from . import x` in an `__init__` where x is not a submodule).
    """
    packages = list(packages)
    ours = set(packages) | set(outsiders)
    modules = find_modules(root, packages, skip)
    edges: list[Edge] = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        where = path.relative_to(root).as_posix()
        statements = (n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom))
        for node in statements:
            for name, attr in _named(node, module, is_package):
                top = name.split(".")[0]
                if top not in ours:
                    continue
                # an outsider's modules are not scanned: its edge names what the statement names
                target = _resolve(name, attr, modules) if top in packages else name
                if target != module:
                    edges.append(Edge(module, target, f"{where}:{node.lineno}"))
    return sorted(set(edges), key=lambda e: (e.source, e.target, int(e.where.rsplit(":", 1)[1])))


def floor_violations(edges: Iterable[Edge], allowed: Mapping[str, set[str]]) -> list[str]:
    """Each edge from a package to one its floor may not import ('who may import what')."""
    bad = []
    for edge in edges:
        source, target = edge.source.split(".")[0], edge.target.split(".")[0]
        if source in allowed and target not in allowed[source]:
            bad.append(f"{edge}: {source} may import only {', '.join(sorted(allowed[source]))}")
    return bad


def imports_of(edges: Iterable[Edge], outsiders: Iterable[str]) -> list[str]:
    """Each edge into one of the `outsiders` (bench/, tests/)."""
    outside = set(outsiders)
    return [str(e) for e in edges if e.target.split(".")[0] in outside]


def strongly_connected(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative: no recursion limit on long chains)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
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
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def _shortest_cycle(start: str, graph: Mapping[str, set[str]], within: set[str]) -> list[str]:
    """The shortest path start → ... → start that stays inside one component (breadth first)."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph.get(node, set()) & within):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if child not in came_from:
                    came_from[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"{start} is in a component but on no cycle")


def cycles(edges: Iterable[Edge]) -> list[str]:
    """Each import cycle as a chain 'a -> b -> a  (a.py:LINE, b.py:LINE)': the shortest one
    through every module on a cycle, with where each of its imports stands.

    A component of several modules yields one chain per member (rotations of the same chain
    counted once), so every module that takes part shows up in the report.
    """
    graph: dict[str, set[str]] = {}
    where: dict[tuple[str, str], str] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
        where.setdefault((edge.source, edge.target), edge.where)
    chains: list[str] = []
    for component in strongly_connected(graph):
        if len(component) < 2:
            continue
        seen: set[tuple[str, ...]] = set()
        for member in component:
            chain = _shortest_cycle(member, graph, set(component))[:-1]
            first = chain.index(min(chain))
            canonical = tuple(chain[first:] + chain[:first])
            if canonical in seen:
                continue
            seen.add(canonical)
            closed = [*canonical, canonical[0]]
            lines = ", ".join(where[pair] for pair in pairwise(closed))
            chains.append(f"{' -> '.join(closed)}  ({lines})")
    return chains
