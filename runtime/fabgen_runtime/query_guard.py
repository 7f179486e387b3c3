"""Query mode is read-only: a ``source_query`` / ``period_date_query`` is one query, never a command.

Two layers:

* :func:`static_problems` (no JVM; run by ``fabgen validate`` on the pattern and again when each
  run's plan is built on the rendered text): exactly one statement, starting with ``SELECT`` or
  ``WITH``, and none of the words that write, run code or read files outside the source
  (:data:`FORBIDDEN_WORDS`) outside string literals, comments and quoted names.
* :func:`spark_relations` (lakehouse, at run time, before anything executes): Spark's own parser
  turns the query into its unresolved logical plan; any node that is a command
  (``org.apache.spark.sql.catalyst.plans.logical.Command``), a parsed statement (``INSERT``),
  an ``IDENTIFIER(...)`` table reference or ``EXECUTE IMMEDIATE`` is refused, and the tables the
  plan reads are returned as name parts. :func:`check_relations` then refuses path-based
  (``delta.`/path```, ``parquet.`...```) and other non-plain names, and tables of lakehouses
  other than the row's ``source_datastore``.

Warehouses add a run-time layer in the connection: locally (PostgreSQL) every JDBC session opens
read-only (:data:`POSTGRES_READ_ONLY_OPTIONS`), and Spark's JDBC reader runs the query as a derived table.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from . import sql_lexer
from .errors import ConfigError, ConfigIssue, QueryRefusedError
from .jvm import load_class

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Words refused anywhere in a query (outside literals, comments and quoted names): statements
# that write or change state (also as PostgreSQL data-modifying CTEs and SELECT ... INTO), and
# functions that run arbitrary code or read files or other servers.
_WRITE_WORDS = (
    "insert update delete merge upsert into drop create alter truncate grant revoke exec execute call copy"
)
_SPARK_WORDS = "reflect java_method try_reflect"
_POSTGRES_WORDS = (
    "pg_read_file pg_read_binary_file pg_ls_dir pg_stat_file lo_import lo_export dblink dblink_exec "
    "pg_terminate_backend pg_cancel_backend set_config"
)
_TSQL_WORDS = "openrowset openquery opendatasource xp_cmdshell sp_executesql"
FORBIDDEN_WORDS: dict[str, frozenset[str]] = {
    "spark": frozenset((_WRITE_WORDS + " " + _SPARK_WORDS).split()),
    "postgres": frozenset((_WRITE_WORDS + " " + _POSTGRES_WORDS).split()),
    "tsql": frozenset((_WRITE_WORDS + " " + _TSQL_WORDS).split()),
    # validate does not know which warehouse dialect will run the query: both lists apply.
    "warehouse": frozenset(f"{_WRITE_WORDS} {_POSTGRES_WORDS} {_TSQL_WORDS}".split()),
}
QUERY_STARTS = ("select", "with")
# Spark JDBC options for PostgreSQL: the driver's ``options`` startup parameter makes every
# transaction of the session read-only (also the schema probe Spark runs before reading), and
# ``sessionInitStatement`` sets it again, as a statement, before each partition's read.
POSTGRES_READ_ONLY_OPTIONS = {
    "options": "-c default_transaction_read_only=on",
    "sessionInitStatement": "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
}

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
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# --------------------------------------------------------------------------- static (no JVM)


def _words(sql: str, dialect: str) -> Iterator[tuple[str, str]]:
    """``(kind, text)`` tokens outside literals, comments and quoted names: ``word``, ``;``, ``(``, other."""
    for token in sql_lexer.tokenize(sql, sql_lexer.RULES.get(dialect, sql_lexer.SPARK)):
        if token.kind == "string":
            yield "literal", ""
        elif token.kind == "name":
            yield "name", ""
        elif token.kind == "word":
            yield "word", token.text.lower()
        elif token.kind in ("number", "dot", "symbol"):
            yield token.text, token.text


def static_problems(query: str, dialect: str) -> list[str]:
    """Why ``query`` is not one read-only query in ``dialect``; [] when it is.

    ``dialect`` is spark, postgres, tsql, or warehouse (either warehouse dialect: validate's view).
    """
    statements: list[list[tuple[str, str]]] = [[]]
    previous = ""
    forbidden = FORBIDDEN_WORDS.get(dialect, FORBIDDEN_WORDS["spark"])
    found: list[str] = []
    for kind, text in _words(query, dialect):
        if kind == ";":
            statements.append([])
            continue
        statements[-1].append((kind, text))
        if kind == "word" and text in forbidden and previous != "." and text not in found:
            found.append(text)
        previous = kind
    statements = [s for s in statements if s]
    problems = []
    if len(statements) > 1:
        problems.append(f"must be one query, found {len(statements)} statements (separated by ';')")
    if statements:
        first = next((text for kind, text in statements[0] if kind != "("), "")
        if first not in QUERY_STARTS:
            problems.append(f"must be a query starting with SELECT or WITH, not {first.upper() or 'this'}")
    else:
        problems.append("holds no query")
    if found:
        words = ", ".join(w.upper() for w in found)
        problems.append(
            f"is read-only: {words} is not allowed in an export query (quote a column of that name)"
        )
    return problems


def check_static(query: str, dialect: str, export: str, field: str) -> None:
    """Raise ``ConfigError`` naming ``export`` and ``field`` when ``query`` is not one read-only query."""
    problems = static_problems(query, dialect)
    if problems:
        raise ConfigError([ConfigIssue(export, field, problem) for problem in problems])


# --------------------------------------------------------------------------- Spark's parsed plan


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


def check_relations(relations: list[tuple[str, ...]], lakehouse: str, export: str) -> None:
    """Refuse path-based and non-plain table names, and tables of lakehouses other than ``lakehouse``."""
    for parts in relations:
        label = ".".join(parts)
        if len(parts) > 3 or not all(_PLAIN.match(p) for p in parts):
            raise QueryRefusedError(
                f"table name {label!r} is not [lakehouse.]schema.table of plain identifiers "
                "(path-based delta.`...`/parquet.`...` references are not allowed)",
                export,
            )
        if len(parts) == 3 and parts[0].lower() != lakehouse.lower():
            raise QueryRefusedError(
                f"table {label!r} is outside the source lakehouse {lakehouse!r} "
                "(a query reads only its row's source_datastore)",
                export,
            )
