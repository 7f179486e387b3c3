"""The runtime's layers, checked in lint: engine code stays in its engine, and no import cycle.

Every import of every module under ``runtime/fabgen_runtime`` counts, those inside functions too
(``if TYPE_CHECKING:`` blocks excepted). The rules:

1. Spark's libraries (pyspark, py4j, delta-spark) are imported only under ``engines/spark/``; the
   Python engine's (deltalake, pyarrow, duckdb, polars, sqlglot) only under ``engines/python/``.
2. The core (everything outside ``engines/``) imports no adapter (``engines.spark``,
   ``engines.python``): it reaches an engine through the ports (``engines.Engine``,
   ``state_log.StateLogger``, ``protocol.store.FileStore``, ``protocol.tables``). The one exception
   is the package itself (``fabgen_runtime/__init__``), the spec's public API, which names
   ``ExportLogger`` and ``ConfigExportManager``.
3. The two adapters do not import each other.
4. No import cycle among the runtime's modules.

``python scripts/check_layers.py`` prints what it finds; exit 1 on any break.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "runtime" / "fabgen_runtime"
PACKAGE = "fabgen_runtime"
SPARK = f"{PACKAGE}.engines.spark"
PYTHON = f"{PACKAGE}.engines.python"
#: engine libraries, by the adapter package allowed to import them
LIBRARIES = {
    SPARK: ("pyspark", "py4j", "delta"),
    PYTHON: ("deltalake", "pyarrow", "duckdb", "polars", "sqlglot"),
}
ENGINE_LIBRARIES = tuple(lib for libs in LIBRARIES.values() for lib in libs)
ADAPTERS = (SPARK, PYTHON)
#: the public API (the spec's names), allowed to import adapters
FACADE = PACKAGE


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(path: Path, known: set[str]) -> set[str]:
    """The modules ``path`` imports (absolute names; relative imports resolved), TYPE_CHECKING aside;
    ``known``: the runtime's module names (``from pkg import mod`` counts as importing ``pkg.mod``)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            submodules = {f"{prefix}.{alias.name}" for alias in node.names}
            named = {m for m in submodules if m in known}
            found.update(named or {prefix})  # ``from pkg import mod`` imports pkg.mod, not only pkg
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return found


def modules() -> dict[str, set[str]]:
    paths = sorted(ROOT.rglob("*.py"))
    known = {module_name(p) for p in paths}
    return {module_name(p): imports(p, known) for p in paths}


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def leaks(graph: dict[str, set[str]]) -> dict[str, list[str]]:
    """Modules that import an engine library or adapter they may not, and what each imports."""
    out = {}
    for name, imported in graph.items():
        home = next((a for a in ADAPTERS if _within(name, a)), None)
        bad = []
        for i in sorted(imported):
            library = i.split(".")[0]
            if library in ENGINE_LIBRARIES and (home is None or library not in LIBRARIES[home]):
                bad.append(i)
            adapter = next((a for a in ADAPTERS if _within(i, a)), None)
            if adapter and adapter != home and name != FACADE:
                bad.append(i)
        if bad:
            out[name] = bad
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of two or more runtime modules (Tarjan), each sorted."""
    edges = {n: {i for i in imported if i in graph and i != n} for n, imported in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def connect(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for node in sorted(edges):
        if node not in index:
            connect(node)
    return sorted(out)


def main() -> int:
    graph = modules()
    problems = [f"{name} imports {', '.join(bad)}" for name, bad in sorted(leaks(graph).items())]
    groups = cycles(graph)
    problems += [f"import cycle: {' <-> '.join(group)}" for group in groups]
    for problem in problems:
        print(f"layers: {problem}", file=sys.stderr)
    print(f"layers: {len(graph)} modules, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
