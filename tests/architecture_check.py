"""The import contract of ``alignpt`` (docs/architecture.md), checked from the source alone.

Every module under ``src/alignpt`` is parsed with :mod:`ast` (nothing is imported, so the
check is fast and works without the optional extras). Every ``import`` counts wherever it
sits: at module level, inside a function (where the old circles hid), or under
``if TYPE_CHECKING:`` (a lower layer should not know a higher layer's types either; this is
also what import-linter counts by default). ``importlib.import_module("alignpt.x")`` with a
literal name counts too.

Two rules, each failing with the offending edges printed as ``importer -> imported (file:line)``:

- layers: a module may import only from the layers its own layer lists in ``MAY_IMPORT``;
- cycles: the graph of imports between modules has no cycle (of any length).

An import of ``alignpt.pkg.mod`` is an edge to that module; ``from alignpt.pkg import name``
is an edge to ``alignpt.pkg.name`` when that is a module, else to the package ``alignpt.pkg``
(its ``__init__``). The implicit import of a module's parent packages is not an edge: Python
runs a package's ``__init__`` before its submodules, which is not a dependency anyone wrote.

The same functions check the real tree (tests/test_architecture.py) and the deliberately
broken trees and edges its failure tests build.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

SRC = Path(__file__).resolve().parents[1] / "src"

# Lowest first. The picture and a paragraph per layer are in docs/architecture.md.
LAYERS = ("plumbing", "stages", "law", "train/evaluate", "experiment", "cli")

# What each layer may import (its own layer included). law is pure maths beside the
# pipeline: it stands on plumbing only, and only experiment and the CLI read it.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "plumbing": frozenset({"plumbing"}),
    "stages": frozenset({"plumbing", "stages"}),
    "law": frozenset({"plumbing", "law"}),
    "train/evaluate": frozenset({"plumbing", "stages", "train/evaluate"}),
    "experiment": frozenset({"plumbing", "stages", "law", "train/evaluate", "experiment"}),
    "cli": frozenset(LAYERS),
}

# Top-level modules and packages (the first name after ``alignpt.``) and their layer. A new
# one must be placed here on purpose: an unplaced module fails the contract test.
PLACES: dict[str, str] = {
    # plumbing: core/ (documents and shards, the executor, configs, errors and everything all
    # stand on), the packaged files in data/, and the package's own __init__
    "__init__": "plumbing", "core": "plumbing", "data": "plumbing",
    # stages: corpus in, corpus or tokens out
    "convert": "stages", "filter": "stages", "tag": "stages", "generate": "stages",
    "mix": "stages", "world": "stages", "textworld": "stages",
    "law": "law",
    "train": "train/evaluate", "evaluate": "train/evaluate",
    "experiment": "experiment",
    # cli: cli_support is what every command group shares; __main__ is `python -m alignpt`
    "cli": "cli", "cli_support": "cli", "__main__": "cli",
}


def layer_of(module: str) -> str:
    """``alignpt.mix.plan`` -> ``stages``. Any ``cli.py`` or ``*_cli.py`` is in the CLI layer,
    wherever it sits: a stage's command line stands above the stage (and everything else)."""
    parts = module.split(".")
    if parts[0] != "alignpt":
        raise ValueError(f"{module}: not an alignpt module")
    if parts[-1] == "cli" or parts[-1].endswith("_cli"):
        return "cli"
    top = parts[1] if len(parts) > 1 else "__init__"
    if top not in PLACES:
        raise KeyError(f"{module}: no layer; place '{top}' in PLACES (tests/architecture_check.py) "
                       f"and in docs/architecture.md")
    return PLACES[top]


@dataclass(frozen=True)
class Edge:
    importer: str
    imported: str
    path: str           # the importer's file, relative to the source root
    line: int
    where: str          # "module", "function" or "type-checking"

    def __str__(self) -> str:
        return f"{self.importer} -> {self.imported}  ({self.path}:{self.line}, {self.where}-level)"


def module_files(src: Path = SRC, package: str = "alignpt") -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under ``src/package``."""
    out: dict[str, Path] = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _target(name: str, modules: Mapping[str, Path]) -> str | None:
    # The longest prefix of a dotted name that is a module: `alignpt.a.b.Thing` -> `alignpt.a.b`.
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


class _Imports(ast.NodeVisitor):
    """Collects every import in one file, noting whether it runs at import time."""

    def __init__(self, module: str, is_package: bool, modules: Mapping[str, Path], path: str):
        self.module, self.modules, self.path = module, modules, path
        self.package = module if is_package else module.rpartition(".")[0]
        self.scope: list[str] = []   # "function" / "type-checking" while inside one
        self.edges: list[Edge] = []

    def _add(self, name: str, line: int) -> None:
        target = _target(name, self.modules)
        if target is not None and target != self.module:
            where = self.scope[-1] if self.scope else "module"
            edge = Edge(self.module, target, self.path, line, where)
            if edge not in self.edges:   # `from a import x, y` is one edge, not two
                self.edges.append(edge)

    def _nested(self, node: ast.AST, scope: str) -> None:
        self.scope.append(scope)
        self.generic_visit(node)
        self.scope.pop()

    def visit_FunctionDef(self, node: ast.AST) -> None:
        self._nested(node, "function")

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else ""
        if name == "TYPE_CHECKING":
            self.scope.append("type-checking")
            for child in node.body:
                self.visit(child)
            self.scope.pop()
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] == "alignpt":
                self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")
            base = base[:len(base) - (node.level - 1)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        if source.split(".")[0] != "alignpt":
            return
        for alias in node.names:
            # `from alignpt.train import checkpoint` imports the module alignpt.train.checkpoint
            child = f"{source}.{alias.name}"
            self._add(child if child in self.modules else source, node.lineno)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if (name == "import_module" and node.args and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str) and node.args[0].value.startswith("alignpt")):
            self._add(node.args[0].value, node.lineno)
        self.generic_visit(node)


def import_edges(src: Path = SRC, package: str = "alignpt") -> list[Edge]:
    """Every import from one module of ``package`` to another, in file and line order."""
    modules = module_files(src, package)
    edges: list[Edge] = []
    for name, path in modules.items():
        rel = path.relative_to(src).as_posix()
        visitor = _Imports(name, path.name == "__init__.py", modules, rel)
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        edges.extend(visitor.edges)
    return edges


def _allowed(edge: Edge, allowed: Iterable[tuple[str, str]]) -> bool:
    return (edge.importer, edge.imported) in set(allowed)


def upward_imports(edges: Iterable[Edge], allowed: Iterable[tuple[str, str]] = ()) -> list[Edge]:
    """Edges whose importer's layer may not import the imported module's layer."""
    allowed = set(allowed)
    return [e for e in edges if layer_of(e.imported) not in MAY_IMPORT[layer_of(e.importer)]
            and not _allowed(e, allowed)]


def import_cycles(edges: Iterable[Edge], allowed: Iterable[tuple[str, str]] = ()) -> list[list[Edge]]:
    """Each group of modules that import each other (a strongly connected component of two or
    more), as the edges inside it. Tarjan's algorithm, iterative (no recursion limit)."""
    allowed = set(allowed)
    graph: dict[str, list[Edge]] = {}
    for e in edges:
        if not _allowed(e, allowed):
            graph.setdefault(e.importer, []).append(e)
            graph.setdefault(e.imported, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            edge = next(children, None)
            if edge is not None:
                child = edge.imported
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
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
    return [sorted((e for m in sorted(g) for e in graph[m] if e.imported in g), key=str)
            for g in sorted(groups, key=sorted)]


def explain(upward: list[Edge], cycles: list[list[Edge]]) -> str:
    """The failure message: every offending edge, one per line."""
    lines: list[str] = []
    if upward:
        lines.append("imports from a lower layer into a higher one (docs/architecture.md):")
        lines += [f"  [{layer_of(e.importer)} -> {layer_of(e.imported)}] {e}" for e in upward]
    for group in cycles:
        members = sorted({e.importer for e in group})
        lines.append(f"import cycle between {', '.join(members)}:")
        lines += [f"  {e}" for e in group]
    return "\n".join(lines)
