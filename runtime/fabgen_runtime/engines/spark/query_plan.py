"""Query mode's run-time check on Spark: the tables a query reads, from Spark's own parsed plan.

The second layer of :mod:`fabgen_runtime.query_guard` (lakehouse, before anything executes):
any node that is a command, a parsed statement, an ``IDENTIFIER(...)`` table reference or
``EXECUTE IMMEDIATE`` is refused, and the tables the plan reads are returned as name parts for
:func:`fabgen_runtime.query_guard.check_relations`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ...errors import QueryRefusedError
from .jvm import load_class

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Spark plan classes that are not a query (checked with isInstance; missing ones are skipped).
_REFUSED_CLASSES = (
    "org.apache.spark.sql.catalyst.plans.logical.Command",
    "org.apache.spark.sql.catalyst.plans.logical.ParsedStatement",
    "org.apache.spark.sql.catalyst.plans.logical.InsertIntoStatement",
    "org.apache.spark.sql.catalyst.analysis.PlanWithUnresolvedIdentifier",
    "org.apache.spark.sql.catalyst.analysis.ExecuteImmediateQuery",
    "org.apache.spark.sql.catalyst.plans.logical.ExecuteImmediateQuery",
)
_LOGICAL_PLAN = "org.apache.spark.sql.catalyst.plans.logical.LogicalPlan"
_UNRESOLVED_RELATION = "org.apache.spark.sql.catalyst.analysis.UnresolvedRelation"
_UNRESOLVED_WITH = "org.apache.spark.sql.catalyst.plans.logical.UnresolvedWith"


def _seq(seq: Any) -> list[Any]:
    return [seq.apply(i) for i in range(seq.size())]


def _classes(spark: SparkSession, loader: Any, names: tuple[str, ...]) -> list[Any]:
    """The classes of ``names`` this Spark version has."""
    loaded = (load_class(spark, name, loader) for name in names)
    return [cls for cls in loaded if cls is not None]


def _nodes(plan: Any, logical: Any) -> Iterator[Any]:
    """Every logical plan node: children, CTE definitions (inner children) and subqueries."""
    stack = [plan]
    while stack:
        node = stack.pop()
        yield node
        for seq in (node.children(), node.innerChildren(), node.subqueries()):
            stack.extend(child for child in _seq(seq) if logical.isInstance(child))


def spark_relations(spark: SparkSession, query: str, export: str) -> tuple[list[tuple[str, ...]], set[str]]:
    """The tables ``query`` reads (name parts) and its CTE names, from Spark's parsed plan.

    Raises :class:`QueryRefusedError` when the plan holds anything but a query, before any of it
    runs (``parsePlan`` only parses).
    """
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    try:
        plan = spark._jsparkSession.sessionState().sqlParser().parsePlan(query)
    except (PySparkException, Py4JError) as exc:
        first = " ".join(str(getattr(exc, "desc", None) or exc).split("\n\tat ", 1)[0].split())[:500]
        raise QueryRefusedError(f"the query is not valid Spark SQL: {first}", export) from exc
    loader = plan.getClass().getClassLoader()
    (logical,) = _classes(spark, loader, (_LOGICAL_PLAN,))
    refused = _classes(spark, loader, _REFUSED_CLASSES)
    relations: list[tuple[str, ...]] = []
    ctes: set[str] = set()
    for node in _nodes(plan, logical):
        name = node.getClass().getName()
        if any(cls.isInstance(node) for cls in refused) or name.endswith(("Command", "Statement")):
            raise QueryRefusedError(
                f"source queries are read-only: Spark parses this as {node.nodeName()}, not a query", export
            )
        if name == _UNRESOLVED_RELATION:
            parts = tuple(str(p) for p in _seq(node.multipartIdentifier()))
            if parts not in relations:
                relations.append(parts)
        elif name == _UNRESOLVED_WITH:
            ctes.update(str(pair._1()).lower() for pair in _seq(node.cteRelations()))
    return relations, ctes
