"""Statement recorders and parsing checks for the Fabric Warehouse / lakehouse SQL tests.

No Fabric Warehouse is reachable here and the local stand-in is PostgreSQL, so the statements are
taken from the real code paths with the connection a Fabric notebook gets (``FabricPlatform`` with the
warehouse's ``sql_endpoint``: dialect ``tsql``), Spark, pyodbc and the token replaced by recorders,
and each is parsed by sqlglot's T-SQL parser (``ErrorLevel.RAISE``). sqlglot accepts some
PostgreSQL spellings in T-SQL (``LIMIT``, ``::``, ``"x"``, a ``WITH`` in a derived table, which it
hoists), so those are refused token by token here too. The Spark SQL of lakehouse sources gets
the same parse with sqlglot's ``spark`` dialect. No JVM (docs/runtimes.md, "Warehouse statements").
Used by test_tsql_statements.py and test_spark_sql_statements.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlglot
from config_rows import base
from fabgen_runtime import sql
from fabgen_runtime.configs import parse_config
from fabgen_runtime.engines.spark import warehouse as wh
from fabgen_runtime.errors import SourceReadError
from fabgen_runtime.plan import RunContext, build_plan
from sqlglot import exp
from sqlglot.tokens import TokenType

WS_ID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
ENDPOINT = "abc.datawarehouse.fabric.microsoft.com"
CTX = RunContext.create("2025-12-12", "UTC", "exec-1")
POSTGRES_KEYS = set(wh.SESSION_OPTIONS["postgres"]) | {"options", "sessionInitStatement"}
# PostgreSQL names that have no business in T-SQL (searched case-insensitively outside string literals).
POSTGRES_WORDS = (
    "pg_catalog",
    "pg_class",
    "pg_namespace",
    "pg_index",
    "pg_attribute",
    "pg_typeof",
    "format_type",
    "reltuples",
    "default_transaction_read_only",
)
PERIOD = {"extract_type": "period", "period_filter_column": "OrderDate"}
PERIOD_QUERY = (
    "SELECT CAST(DATEADD(day, -7, '{run_date:%Y-%m-%d}') AS date) AS start_date, "
    "CAST('{run_date:%Y-%m-%d}' AS date) AS end_date"
)
CTE_QUERY = (
    "WITH recent AS (SELECT [id], [amount] FROM [dbo].[orders] WHERE [order_date] >= '{run_date:%Y-%m-%d}')\n"
    "-- the main query\n"
    "SELECT r.id, r.amount * 2 AS doubled FROM recent AS r"
)


# --------------------------------------------------------------------------- checks


def _tokens(statement: str, dialect: str) -> list[Any]:
    return list(sqlglot.Dialect.get_or_raise(dialect).tokenize(statement))


def assert_tsql(statement: str) -> None:
    """``statement`` parses as one T-SQL query and carries no PostgreSQL-only construct."""
    tree = sqlglot.parse_one(statement, read="tsql", error_level=sqlglot.ErrorLevel.RAISE)
    assert isinstance(tree, exp.Query), f"not a T-SQL query ({type(tree).__name__}): {statement}"
    tokens = _tokens(statement, "tsql")
    problems = []
    for i, token in enumerate(tokens):
        if token.token_type == TokenType.DCOLON:
            problems.append("a PostgreSQL :: cast")
        elif token.token_type == TokenType.LIMIT:
            problems.append("LIMIT (T-SQL: TOP / OFFSET FETCH)")
        elif token.token_type == TokenType.IDENTIFIER and statement[token.start] == '"':
            problems.append(f'the double-quoted identifier "{token.text}" (fabgen writes T-SQL names in [])')
        elif token.token_type == TokenType.WITH and i and tokens[i - 1].token_type == TokenType.L_PAREN:
            problems.append("a WITH inside parentheses (T-SQL allows no CTE in a derived table)")
        elif token.token_type != TokenType.STRING and token.text.lower() in POSTGRES_WORDS:
            problems.append(f"the PostgreSQL name {token.text}")
    if re.search(r"set\s+session\s+characteristics", statement, re.IGNORECASE):
        problems.append("SET SESSION CHARACTERISTICS")
    for subquery in tree.find_all(exp.Subquery):
        inner = subquery.this
        if isinstance(inner, exp.Select) and inner.args.get("order") and not inner.args.get("limit"):
            problems.append("ORDER BY in a derived table without TOP")
    assert not problems, f"{problems} in: {statement}"


def assert_spark_sql(statement: str) -> None:
    """``statement`` parses as one Spark SQL query."""
    tree = sqlglot.parse_one(statement, read="spark", error_level=sqlglot.ErrorLevel.RAISE)
    assert isinstance(tree, exp.Query), f"not a Spark SQL query ({type(tree).__name__}): {statement}"
    assert not any(t.token_type == TokenType.DCOLON for t in _tokens(statement, "spark")), statement


# --------------------------------------------------------------------------- recorders


class FakeDataFrame:
    def __init__(self, rows: list[dict[str, Any]]):
        self.rows = rows

    def limit(self, n: int) -> FakeDataFrame:
        return FakeDataFrame(self.rows[:n])

    def collect(self) -> list[Any]:
        return [_Row(r) for r in self.rows]


@dataclass
class _Row:
    values: dict[str, Any]

    def asDict(self) -> dict[str, Any]:  # pyspark's name
        return dict(self.values)


@dataclass
class Warehouse:
    """What the runtime sent: JDBC option sets (one per ``load``), ODBC statements, synapsesql queries."""

    answer: Callable[[str], list[dict[str, Any]]]
    loads: list[dict[str, Any]] = field(default_factory=list)
    odbc: list[str] = field(default_factory=list)
    synapsesql: list[str] = field(default_factory=list)

    def statements(self) -> list[str]:
        """Each statement as the warehouse receives it.

        A JDBC ``query`` as Spark sends it (``prepareQuery`` + Spark's schema query around the derived
        table, ``SELECT * FROM (<query>) SPARK_GEN_SUBQ_0 WHERE 1=0``), a ``dbtable`` in the same
        schema query; ODBC and ``synapsesql`` text as it is.
        """
        sent = []
        for options in self.loads:
            relation = options.get("dbtable") or f"({options['query']}) SPARK_GEN_SUBQ_0"
            sent.append(f"{options.get('prepareQuery', '')}SELECT * FROM {relation} WHERE 1=0")
        return sent + self.odbc + self.synapsesql

    def own_text(self) -> list[str]:
        """What fabgen wrote, without Spark's wrapping (a ``dbtable`` as the query it reads)."""
        own = [
            f"{o.get('prepareQuery', '')}{o['query']}" if "query" in o else f"SELECT * FROM {o['dbtable']}"
            for o in self.loads
        ]
        return own + self.odbc + self.synapsesql


class FakeReader:
    def __init__(self, warehouse: Warehouse):
        self.warehouse = warehouse
        self.opts: dict[str, Any] = {}

    def format(self, name: str) -> FakeReader:
        self.opts["format"] = name
        return self

    def option(self, key: str, value: Any) -> FakeReader:
        self.opts[key] = value
        return self

    def options(self, **values: Any) -> FakeReader:
        self.opts.update(values)
        return self

    def load(self) -> FakeDataFrame:
        self.warehouse.loads.append(dict(self.opts))
        text = self.opts.get("query") or self.opts.get("dbtable") or ""
        return FakeDataFrame(self.warehouse.answer(text))

    def synapsesql(self, query: str) -> FakeDataFrame:
        self.warehouse.synapsesql.append(query)
        return FakeDataFrame(self.warehouse.answer(query))


class FakeSpark:
    def __init__(self, warehouse: Warehouse):
        self.warehouse = warehouse

    @property
    def read(self) -> FakeReader:
        return FakeReader(self.warehouse)


def answers(rows: int = 500_000, probe_fails: bool = False) -> Callable[[str], list[dict[str, Any]]]:
    """Control-query rows a Fabric Warehouse would return: a bigint key, ``rows`` rows, a period."""

    def answer(statement: str) -> list[dict[str, Any]]:
        if "sys.columns" in statement:
            if probe_fails:
                raise SourceReadError("Invalid object name 'sys.index_columns'.")
            return [
                {"pk": "OrderId", "pk_type": "bigint", "is_identity": False},
                {"pk": "RowId", "pk_type": "bigint", "is_identity": True},
            ]
        if "COUNT_BIG" in statement:
            return [{"lo": 1, "hi": rows, "n": rows}]
        if "start_date" in statement:
            return [{"start_date": date(2025, 12, 5), "end_date": date(2025, 12, 12)}]
        return [{"one": 1}]

    return answer


def wh_config(**overrides: Any) -> Any:
    return parse_config(
        base(
            **{
                "source_type": "warehouse",
                "source_workspace": "WS",
                "source_datastore": "wh_sales",
                "source_schema": "dbo",
                "source_table": None if "source_query" in overrides else "orders",
                **overrides,
            }
        )
    )


def plan_of(config: Any, fabric_platform: Any, **kwargs: Any) -> Any:
    """The run's plan in the dialect the connection says (as ``ExportRun`` builds it)."""
    dialect = sql.default_dialect(config, fabric_platform)
    assert dialect == "tsql"
    return build_plan(config, CTX, dialect=dialect, **kwargs)


EXPORTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "full": ({}, {}),
    "columns": ({"source_columns": ["OrderId", "Amount", "Note"]}, {}),
    "incremental_timestamp": (
        {"extract_type": "incremental", "incremental_column": "ModifiedAt"},
        {"watermark": "2025-12-01T08:30:00.123456", "watermark_type": "timestamp"},
    ),
    "incremental_number": (
        {"extract_type": "incremental", "incremental_column": "OrderId"},
        {"watermark": "12345", "watermark_type": "bigint"},
    ),
    "incremental_text": (
        {"extract_type": "incremental", "incremental_column": "Code"},
        {"watermark": "O'Brien", "watermark_type": "string"},
    ),
    "incremental_untyped_date": (
        {"extract_type": "incremental", "incremental_column": "OrderDate"},
        {"watermark": "2025-12-01"},
    ),
    "period_days": (
        {"extract_type": "period", "period_filter_column": "OrderDate", "period_date_query": PERIOD_QUERY},
        {"period_start": datetime(2025, 12, 5), "period_end": datetime(2025, 12, 12)},
    ),
    "period_times": (
        {"extract_type": "period", "period_filter_column": "ModifiedAt", "period_date_query": PERIOD_QUERY},
        {"period_start": datetime(2025, 12, 5, 6), "period_end": datetime(2025, 12, 12, 18, 30)},
    ),
    "query": ({"source_query": "SELECT [OrderId], [Amount] FROM [dbo].[orders] WHERE [Note] <> 'x'"}, {}),
    "query_placeholders": (
        {
            "source_query": "SELECT * FROM dbo.orders WHERE OrderDate = '{run_date:%Y-%m-%d}' "
            "AND Code <> 'x''{process_date:%H:%M}'",
        },
        {},
    ),
    "query_cte": ({"source_query": CTE_QUERY}, {}),
}
