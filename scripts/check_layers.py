"""The runtime's layers, checked in lint (issue #25): engine libraries in engine code only, no new cycle.

Every import of every module under ``runtime/fabgen_runtime`` counts, those inside functions too
(``if TYPE_CHECKING:`` blocks excepted). Two rules:

1. Only modules under ``engines/`` import an engine library (pyspark, py4j, delta-spark, deltalake,
   pyarrow, duckdb, polars) or an engine adapter (``engines.spark``, ``engines.python``).
2. No import cycle among the runtime's modules.

Today's layout breaks both in known places (issue #25 moves them): those are listed below, and the
check fails on any break that is not listed, and on a listed one that is gone (so the lists only
shrink: remove the entry with the fix). ``python scripts/check_layers.py`` prints what it finds.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "runtime" / "fabgen_runtime"
PACKAGE = "fabgen_runtime"
ENGINE_LIBRARIES = ("pyspark", "py4j", "delta", "deltalake", "pyarrow", "duckdb", "polars")
ADAPTERS = (f"{PACKAGE}.engines.spark", f"{PACKAGE}.engines.python")

# Modules outside engines/ that import an engine library or adapter today (issue #25 moves them).
KNOWN_LEAKS = {
    "fabgen_runtime.commits",
    "fabgen_runtime.compression",
    "fabgen_runtime.exact_values",
    "fabgen_runtime.fs",
    "fabgen_runtime.jvm",
    "fabgen_runtime.leases",
    "fabgen_runtime.local_spark",
    "fabgen_runtime.manager",
    "fabgen_runtime.metrics",
    "fabgen_runtime.platform",
    "fabgen_runtime.query_guard",
    "fabgen_runtime.selftest.spark",
    "fabgen_runtime.sources.lakehouse",
    "fabgen_runtime.spark_errors",
    "fabgen_runtime.state",
    "fabgen_runtime.state_model",
    "fabgen_runtime.state_tables",
    "fabgen_runtime.status",
    "fabgen_runtime.writer",
}


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


def leaks(graph: dict[str, set[str]]) -> dict[str, list[str]]:
    """Modules outside engines/ and what engine library or adapter each imports."""
    out = {}
    for name, imported in graph.items():
        if name.startswith(f"{PACKAGE}.engines"):
            continue
        bad = sorted(
            i
            for i in imported
            if i.split(".")[0] in ENGINE_LIBRARIES or any(i == a or i.startswith(a + ".") for a in ADAPTERS)
        )
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
    problems = []
    found = leaks(graph)
    for name in sorted(set(found) - KNOWN_LEAKS):
        problems.append(f"{name} imports engine code outside engines/: {', '.join(found[name])}")
    for name in sorted(KNOWN_LEAKS - set(found)):
        problems.append(f"{name} no longer imports engine code: remove it from KNOWN_LEAKS")
    groups = cycles(graph)
    allowed = set(KNOWN_CYCLE)
    for group in groups:
        if not set(group) <= allowed:
            problems.append(f"import cycle: {' <-> '.join(group)}")
    gone = sorted(allowed - {m for g in groups for m in g})
    if gone:
        problems.append(f"no longer in a cycle: {', '.join(gone)}: remove them from KNOWN_CYCLE")
    for problem in problems:
        print(f"layers: {problem}", file=sys.stderr)
    counts = f"{len(graph)} modules, {len(found)} outside engines/ import engine code, {len(groups)} cycle(s)"
    print(f"layers: {counts}")
    return 1 if problems else 0


# The runtime's import cycles today (issue #25 breaks them): every module in one, counting imports
# inside functions.
KNOWN_CYCLE: tuple[str, ...] = (
    "fabgen_runtime.config",
    "fabgen_runtime.config_rules",
    "fabgen_runtime.config_validation",
    "fabgen_runtime.plan",
    "fabgen_runtime.sources",
    "fabgen_runtime.sources.lakehouse",
    "fabgen_runtime.sources.names",
    "fabgen_runtime.sources.warehouse",
    "fabgen_runtime.sql",
)

if __name__ == "__main__":
    sys.exit(main())
