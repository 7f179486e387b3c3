"""Every statement the runtime sends to a Fabric Warehouse is T-SQL, and nothing PostgreSQL-only goes.

The statements come from the real code paths with Spark, pyodbc and the token replaced by the
recorders of tsql_support.py, which also holds the sqlglot parse and token checks
(docs/runtimes.md, "Warehouse statements"). The lakehouse Spark SQL is in test_spark_sql_statements.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlglot
from fabgen_runtime import catalog, platform, sql
from fabgen_runtime.engines.python import warehouse as python_warehouse
from fabgen_runtime.engines.spark import SparkEngine
from fabgen_runtime.engines.spark import warehouse as wh
from fabgen_runtime.inputs import resolve_inputs
from fabgen_runtime.sources import odbc
from tsql_support import (
    CTX,
    ENDPOINT,
    EXPORTS,
    PERIOD_QUERY,
    POSTGRES_KEYS,
    WS_ID,
    FakeSpark,
    Warehouse,
    answers,
    assert_tsql,
    plan_of,
    wh_config,
)


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
    _, _, start, end = resolve_inputs(SparkEngine(spark), config, CTX, None, fabric_platform)  # type: ignore[arg-type]
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
