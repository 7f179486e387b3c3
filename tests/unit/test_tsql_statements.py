"""Every statement the runtime sends to a Fabric Warehouse is T-SQL, and nothing PostgreSQL-only goes.

No Fabric Warehouse is reachable here and the local stand-in is PostgreSQL, so the statements are
taken from the real code paths with the connection a Fabric notebook gets (``FabricPlatform`` with the
warehouse's ``sql_endpoint``: dialect ``tsql``), Spark, pyodbc and the token replaced by recorders,
and each is parsed by sqlglot's T-SQL parser (``ErrorLevel.RAISE``). sqlglot accepts some
PostgreSQL spellings in T-SQL (``LIMIT``, ``::``, ``"x"``, a ``WITH`` in a derived table, which it
hoists), so those are refused token by token here too. The Spark SQL of lakehouse sources gets
the same parse with sqlglot's ``spark`` dialect. No JVM (docs/runtimes.md, "Warehouse statements").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlglot
from config_rows import base
from fabgen_runtime import catalog, platform, sql
from fabgen_runtime.config import parse_config
from fabgen_runtime.engines.python import warehouse as python_warehouse
from fabgen_runtime.errors import SourceReadError
from fabgen_runtime.inputs import resolve_inputs
from fabgen_runtime.plan import RunContext, build_plan
from fabgen_runtime.sources import names, odbc
from fabgen_runtime.sources import warehouse as wh
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


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM t LIMIT 5",
        "SELECT x::int AS x FROM t",
        'SELECT "a" FROM t',
        "SELECT * FROM (WITH a AS (SELECT 1 AS x) SELECT x FROM a) AS q",
        "SELECT * FROM (SELECT id FROM t ORDER BY id) AS q",
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
        "SELECT c.reltuples FROM pg_class c",
        "SELECT MAX(x) FROM t WHERE",
    ],
)
def test_the_checks_refuse_postgresql_and_broken_sql(statement: str) -> None:
    with pytest.raises((AssertionError, sqlglot.errors.ParseError)):
        assert_tsql(statement)


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


@pytest.fixture()
def fabric(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., tuple[Any, Warehouse]]]:
    """``make(control, **answers)``: the Fabric platform (warehouse with its SQL endpoint) and a recorder."""
    monkeypatch.setenv("FABGEN_JDBC_PARTITIONS", "4")
    monkeypatch.setattr(odbc, "fabric_token", lambda audience=odbc.SQL_AUDIENCE: "token")

    def make(control: str = "odbc", **kwargs: Any) -> tuple[Any, Warehouse]:
        recorder = Warehouse(answers(**kwargs))

        def control_rows(odbc_text: str, query: str, limit: int = 2, token: str | None = None) -> Any:
            assert "ODBC Driver 18 for SQL Server" in odbc_text and token == "token"
            recorder.odbc.append(query)
            return recorder.answer(query)[:limit]

        monkeypatch.setattr(odbc, "control_rows", control_rows)
        catalog.configure(
            {
                "workspaces": {"WS": WS_ID},
                "warehouses": {"WS/wh_sales": {"sql_endpoint": ENDPOINT}},
                "warehouse_control": control,
            }
        )
        return platform.FabricPlatform(), recorder

    yield make
    catalog.configure(None)


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


def _assert_fabric_jdbc(warehouse: Warehouse) -> None:
    for options in warehouse.loads:
        assert not POSTGRES_KEYS & set(options), options
        assert options["url"].startswith(f"jdbc:sqlserver://{ENDPOINT}:1433;")
        assert options["driver"] == "com.microsoft.sqlserver.jdbc.SQLServerDriver"
        assert options["accessToken"] == "token" and options["format"] == "jdbc"


# --------------------------------------------------------------------------- the tests


def test_the_fabric_jdbc_options_carry_no_postgresql_option(fabric) -> None:
    fabric_platform, _ = fabric()
    conn = fabric_platform.warehouse("WS", "wh_sales")
    assert conn.dialect == "tsql"
    options = wh.jdbc_options(conn)
    assert not POSTGRES_KEYS & set(options)
    assert set(options) == {"url", "driver", "fetchsize"}
    # the local stand-in keeps PostgreSQL's read-only session
    local = platform.LocalPlatform("/tmp/x").warehouse("WS", "wh_sales")
    assert wh.jdbc_options(local)["sessionInitStatement"].startswith("SET SESSION CHARACTERISTICS")


@pytest.mark.parametrize("control", ["odbc", "spark"])
@pytest.mark.parametrize("export", list(EXPORTS))
def test_every_read_of_a_fabric_warehouse_sends_tsql(fabric, control: str, export: str) -> None:
    fabric_platform, warehouse = fabric(control)
    fields, inputs = EXPORTS[export]
    plan = plan_of(wh_config(**fields), fabric_platform, **inputs)
    wh.WarehouseSource().read(FakeSpark(warehouse), plan, fabric_platform)  # type: ignore[arg-type]
    _assert_fabric_jdbc(warehouse)
    assert warehouse.statements()
    for statement in warehouse.statements():
        assert_tsql(statement)
    for text in warehouse.own_text():
        assert_tsql(text)
    if export == "query_cte":  # the CTEs go in front (prepareQuery), the SELECT in the derived table
        (read,) = warehouse.loads
        assert read["prepareQuery"].startswith("WITH recent AS") and read["query"].startswith("SELECT r.id")
        assert read["prepareQuery"].endswith("-- the main query\n")


def test_a_large_full_read_is_split_on_the_declared_key(fabric) -> None:
    fabric_platform, warehouse = fabric("odbc")
    plan = plan_of(wh_config(), fabric_platform)
    wh.WarehouseSource().read(FakeSpark(warehouse), plan, fabric_platform)  # type: ignore[arg-type]
    probe, bounds = warehouse.odbc
    assert "OBJECT_ID('[dbo].[orders]')" in probe and "sys.key_constraints" in probe
    assert bounds == "SELECT MIN([OrderId]) AS lo, MAX([OrderId]) AS hi, COUNT_BIG(*) AS n FROM (" + (
        plan.source.query + ") AS q"
    )
    (read,) = warehouse.loads
    assert (read["partitionColumn"], read["lowerBound"], read["upperBound"], read["numPartitions"]) == (
        "OrderId",
        "1",
        "500001",
        "4",
    )
    assert read["dbtable"] == f"({plan.source.query}) fabgen_q"


def test_small_incremental_and_refused_probes_read_in_one_query(fabric) -> None:
    fabric_platform, warehouse = fabric("odbc", rows=10)
    wh.WarehouseSource().read(FakeSpark(warehouse), plan_of(wh_config(), fabric_platform), fabric_platform)  # type: ignore[arg-type]
    assert "partitionColumn" not in warehouse.loads[-1] and len(warehouse.odbc) == 2
    fabric_platform, warehouse = fabric("odbc")
    incremental = wh_config(extract_type="incremental", incremental_column="ModifiedAt")
    plan = plan_of(incremental, fabric_platform, watermark="2025-12-01")
    wh.WarehouseSource().read(FakeSpark(warehouse), plan, fabric_platform)  # type: ignore[arg-type]
    assert warehouse.odbc == [] and warehouse.loads[-1]["query"] == plan.source.query  # one snapshot
    fabric_platform, warehouse = fabric("odbc", probe_fails=True)
    plan = plan_of(wh_config(), fabric_platform)
    wh.WarehouseSource().read(FakeSpark(warehouse), plan, fabric_platform)  # type: ignore[arg-type]
    assert len(warehouse.odbc) == 1 and warehouse.loads[-1]["query"] == plan.source.query


def test_the_partition_probes_and_bounds_are_tsql() -> None:
    probe = wh.key_probe_sql("tsql", "dbo", "Order]s")
    assert_tsql(probe)
    assert "OBJECT_ID('[dbo].[Order]]s]')" in probe
    table = sql.DIALECTS["tsql"].qualified("dbo", "orders")
    assert_tsql(wh.bounds_sql("tsql", f"SELECT * FROM {table}", "OrderId"))
    with pytest.raises(wh.PlatformError):
        wh.bounds_sql("tsql", f"SELECT * FROM {table}", "OrderId", "ModifiedAt")
    with pytest.raises(wh.PlatformError):
        wh.key_probe_sql("mysql", "dbo", "orders")


@pytest.mark.parametrize("control", ["odbc", "spark"])
def test_period_date_query_and_control_queries_are_tsql(fabric, control: str) -> None:
    fabric_platform, warehouse = fabric(control)
    config = wh_config(
        extract_type="period", period_filter_column="OrderDate", period_date_query=PERIOD_QUERY
    )
    spark = FakeSpark(warehouse)
    # the run's inputs: period_date_query rendered in the connection's dialect, then run
    _, _, start, end = resolve_inputs(spark, config, CTX, None, fabric_platform)  # type: ignore[arg-type]
    assert (start, end) == (datetime(2025, 12, 5), datetime(2025, 12, 12))
    cte_period = (
        "WITH d AS (SELECT CAST('{run_date:%Y-%m-%d}' AS date) AS x)\n"
        "SELECT x AS start_date, x AS end_date FROM d"
    )
    query = sql.render_control_query(cte_period, {"run_date": CTX.run_date}, "tsql", config.key, "period")
    wh.WarehouseSource().period(spark, config, query, fabric_platform)  # type: ignore[arg-type]
    conn = fabric_platform.warehouse("WS", "wh_sales")
    wh.control_rows(spark, conn, "WS", "SELECT 1 AS one")  # type: ignore[arg-type]
    _assert_fabric_jdbc(warehouse)
    assert len(warehouse.statements()) == 3
    for statement in warehouse.statements() + warehouse.own_text():
        assert_tsql(statement)


def test_the_python_engine_sends_tsql(fabric, monkeypatch: pytest.MonkeyPatch) -> None:
    fabric_platform, warehouse = fabric("odbc")
    executed: list[str] = []

    class Cursor:
        description = (("OrderId", int, None, None, 19, 0, True),)

        def execute(self, statement: str) -> None:
            executed.append(statement)

        def fetchmany(self, n: int) -> list[Any]:
            return []

    class Connection:
        def cursor(self) -> Cursor:
            return Cursor()

        def close(self) -> None:
            pass

    class PyOdbc:
        Error = RuntimeError

    def connect(text: str, token: str | None = None) -> Connection:
        assert "UseDeclareFetch" not in text and token == "token"  # psqlODBC's options stay local
        return Connection()

    monkeypatch.setattr(odbc, "connect", connect)
    monkeypatch.setattr(odbc, "pyodbc_module", lambda: PyOdbc)
    for export, (fields, inputs) in EXPORTS.items():
        plan = plan_of(wh_config(**fields), fabric_platform, **inputs)
        python_warehouse.read(plan, fabric_platform).reader.read_all()
        assert executed, export
    config = wh_config(
        extract_type="period", period_filter_column="OrderDate", period_date_query=PERIOD_QUERY
    )
    resolve_inputs(None, config, CTX, None, fabric_platform)  # over ODBC, no Spark
    assert len(executed) == len(EXPORTS) and len(warehouse.odbc) == 1
    for statement in executed + warehouse.odbc:
        assert_tsql(statement)
    assert executed[-1].startswith("WITH recent AS") and "fabgen_source_query" in executed[-1]


@pytest.mark.parametrize(
    ("query", "ctes"),
    [
        ("SELECT 1", ""),
        ("WITH a AS (SELECT 1 AS x) SELECT x FROM a", "WITH a AS (SELECT 1 AS x) "),
        ("with [select] (c) as (select 'select' as c), b as (select c from [select]) select * from b", None),
        (
            "/* c */ WITH a AS (SELECT 1 AS x) -- select\nSELECT x FROM a",
            "/* c */ WITH a AS (SELECT 1 AS x) -- select\n",
        ),
        ("WITH a AS (SELECT 1 AS x) (SELECT x FROM a)", ""),  # no SELECT outside parentheses: whole
    ],
)
def test_split_with_cuts_before_the_main_select(query: str, ctes: str | None) -> None:
    before, select = sql.split_with(query, "tsql")
    assert before + select == query
    if ctes is not None:
        assert before == ctes
    else:
        assert select == "select * from b"


# --------------------------------------------------------------------------- lakehouse: Spark SQL


def lh_config(**overrides: Any) -> Any:
    return parse_config(
        base(
            **{
                "source_workspace": "WS",
                "source_datastore": "lh_src",
                "source_table": None if "source_query" in overrides else "orders",
                **overrides,
            }
        )
    )


@pytest.mark.parametrize("export", [e for e in EXPORTS if not e.startswith("query")])
def test_lakehouse_table_reads_are_spark_sql(export: str) -> None:
    fields, inputs = EXPORTS[export]
    if "period_date_query" in fields:  # Spark SQL there
        fields = {**fields, "period_date_query": "SELECT MIN(d) AS start_date, MAX(d) AS end_date FROM cal"}
    plan = build_plan(lh_config(**fields), CTX, dialect="spark", **inputs)
    assert plan.source.dialect == "spark"
    assert_spark_sql(plan.source.query)
    assert_spark_sql(plan.source.query_from("`fabgen_e_1`"))  # what LakehouseSource.read runs


def test_lakehouse_queries_are_spark_sql_after_the_views_replace_the_tables() -> None:
    query = (
        "SELECT o.id, c.name FROM dbo.orders o JOIN lh_src.dbo.customers AS c ON c.id = o.customer_id "
        "WHERE o.order_date = DATE '{run_date:%Y-%m-%d}' AND c.note <> 'it\\'s'"
    )
    plan = build_plan(lh_config(source_query=query), CTX, dialect="spark")
    mapping = {("dbo", "orders"): "fabgen_p_1", ("lh_src", "dbo", "customers"): "fabgen_p_2"}
    rewritten = names.rewrite(plan.source.query, mapping)
    assert "fabgen_p_1" in rewritten and "fabgen_p_2" in rewritten
    for statement in (plan.source.query, rewritten):
        assert_spark_sql(statement)
    period = sql.render_control_query(
        "SELECT MIN(d) AS start_date, MAX(d) AS end_date FROM dbo.calendar WHERE y = {run_date:%Y}",
        {"run_date": CTX.run_date},
        "spark",
        "g/e",
        "period_date_query",
    )
    assert_spark_sql(names.rewrite(period, {("dbo", "calendar"): "fabgen_period_3"}))


def test_decimal_and_date_answers_do_not_leak_into_the_sql(fabric) -> None:
    """A bounds answer of Decimal keys (NUMERIC(18,0) ids over JDBC) still gives integer bounds."""
    fabric_platform, warehouse = fabric("odbc")

    def answer(statement: str) -> list[dict[str, Any]]:
        if "sys.columns" in statement:
            return [{"pk": "OrderId", "pk_type": "int", "is_identity": 0}]
        return [{"lo": Decimal(5), "hi": Decimal(400_000), "n": 400_000}]

    warehouse.answer = answer
    wh.WarehouseSource().read(FakeSpark(warehouse), plan_of(wh_config(), fabric_platform), fabric_platform)  # type: ignore[arg-type]
    assert (warehouse.loads[-1]["lowerBound"], warehouse.loads[-1]["upperBound"]) == ("5", "400001")
