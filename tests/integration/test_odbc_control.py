"""Control queries through pyodbc: the same code the runtime runs on Fabric (ODBC Driver 18 with an
Entra token), here against the local PostgreSQL warehouse through its ODBC driver (no JVM)."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fabgen_runtime import catalog, parse_config
from fabgen_runtime.engines.spark import warehouse as wh_source
from fabgen_runtime.engines.spark.warehouse import WarehouseSource, control_rows
from fabgen_runtime.errors import SourceReadError
from fabgen_runtime.platform import LocalPlatform
from fabgen_runtime.sources import odbc
from pg_support import pg_connect, recreate_database

pytestmark = [pytest.mark.warehouse]

WAREHOUSE = "wh_odbctest"


@pytest.fixture(scope="module")
def wh(warehouse) -> Iterator[dict[str, str]]:
    recreate_database(WAREHOUSE, warehouse)
    with pg_connect(WAREHOUSE, warehouse) as conn, conn.cursor() as cur:
        cur.execute(
            """
            CREATE SCHEMA dbo;
            CREATE FUNCTION dbo.fn_GetFiscalMonth(p date) RETURNS TABLE(start_date date, end_date date)
            LANGUAGE sql AS $$ SELECT date_trunc('month', p)::date,
                                      (date_trunc('month', p) + INTERVAL '1 month - 1 day')::date $$;
            CREATE TABLE dbo.keyed (id bigint PRIMARY KEY, modified_at timestamp);
            INSERT INTO dbo.keyed SELECT g, TIMESTAMP '2025-01-01' + g * INTERVAL '1 hour'
            FROM generate_series(1, 5) g;
            """
        )
    catalog.configure({"warehouse_control": "odbc"})
    yield warehouse
    catalog.configure(None)


def _config() -> object:
    return parse_config(
        {
            "export_group_name": "g",
            "export_name": "fiscal",
            "is_active": True,
            "execution_group": 1,
            "source_type": "warehouse",
            "source_workspace": "WS",
            "source_datastore": WAREHOUSE,
            "source_schema": "dbo",
            "source_table": "t",
            "target_workspace": "WS",
            "target_lakehouse": "lh",
            "target_path": "x/",
            "file_format": "csv",
            "extract_type": "period",
            "period_filter_column": "d",
            "period_date_query": (
                "SELECT start_date, end_date FROM dbo.fn_GetFiscalMonth('{run_date:%Y-%m-%d}')"
            ),
        }
    )


def test_period_date_query_runs_through_pyodbc(wh, tmp_path: Path) -> None:
    platform = LocalPlatform(tmp_path)
    conn = platform.warehouse("WS", WAREHOUSE)
    assert conn.control == "odbc" and "Driver=PostgreSQL Unicode;" in conn.odbc
    # spark=None: the ODBC path needs no Spark session at all.
    query = "SELECT start_date, end_date FROM dbo.fn_GetFiscalMonth('2025-12-12')"
    start, end = WarehouseSource().period(None, _config(), query, platform)  # type: ignore[arg-type]
    assert (start.date(), end.date()) == (date(2025, 12, 1), date(2025, 12, 31))
    rows = control_rows(None, conn, "WS", "SELECT 1 AS One, 'x;y}' AS Two")  # type: ignore[arg-type]
    assert rows == [{"one": 1, "two": "x;y}"}]


def test_odbc_errors_are_source_read_errors(wh, tmp_path: Path) -> None:
    conn = LocalPlatform(tmp_path).warehouse("WS", WAREHOUSE)
    with pytest.raises(SourceReadError, match="control query failed over ODBC"):
        odbc.control_rows(conn.odbc, "SELECT * FROM dbo.no_such_table")
    wrong = odbc.local_connection_string("127.0.0.1", wh["FABGEN_PG_PORT"], WAREHOUSE, "nobody", "wrong")
    with pytest.raises(SourceReadError, match="cannot connect over ODBC"):
        odbc.control_rows(wrong, "SELECT 1")


def test_connection_strings_and_the_token_struct() -> None:
    text = odbc.connection_string({"Driver": "X", "Pwd": "a;b}c"})
    assert text == "Driver=X;Pwd={a;b}}c}"
    fabric = odbc.fabric_connection_string("abc.datawarehouse.fabric.microsoft.com", "wh")
    server = "Server=abc.datawarehouse.fabric.microsoft.com,1433"
    assert fabric.startswith(f"Driver=ODBC Driver 18 for SQL Server;{server};Database=wh")
    assert "Encrypt=yes" in fabric and "Pwd" not in fabric
    packed = odbc.token_struct("eyJ0")
    assert struct.unpack("<I", packed[:4])[0] == 8 and packed[4:].decode("utf-16-le") == "eyJ0"


def test_the_postgres_partition_probe_and_bounds_run_on_the_stand_in(wh, tmp_path: Path) -> None:
    """The local stand-in keeps PostgreSQL's probe (pg_catalog) and bounds; Fabric's are T-SQL
    (tests/unit/test_tsql_statements.py)."""
    conn = LocalPlatform(tmp_path).warehouse("WS", WAREHOUSE)
    probe = wh_source.key_probe_sql("postgres", "dbo", "Keyed")
    (row,) = control_rows(None, conn, "WS", probe)  # type: ignore[arg-type]
    assert (row["pk"], row["pk_type"]) == ("id", "bigint") and row["est_rows"] <= 5  # -1: never analysed
    bounds = wh_source.bounds_sql("postgres", 'SELECT * FROM "dbo"."keyed"', "id", "modified_at")
    assert control_rows(None, conn, "WS", bounds) == [  # type: ignore[arg-type]
        {"lo": 1, "hi": 5, "hw": "2025-01-01 05:00:00", "hw_type": "timestamp without time zone"}
    ]
    assert "sessionInitStatement" in wh_source.jdbc_options(conn)
