"""Warehouse source: T-SQL through the Fabric Spark connector on Fabric, Spark JDBC locally.

Locally (PostgreSQL), bulk rows never pass through Python: Spark JDBC reads them with a fetch
size, and in parallel when the table has a single-column integer primary key and is not small
(``FABGEN_JDBC_PARTITIONS`` partitions, default: Spark's parallelism capped at 8). Partitions are
separate queries, so for incremental exports every partition is also bounded by the
``MAX(incremental_column)`` taken in the same control query as the key bounds: rows committed
while the partitions run wait for the next run instead of being skipped by a watermark that
moved past them. Control queries (catalog lookup, bounds, ``period_date_query``) return one row.

On Fabric, the export's T-SQL goes through Spark JDBC (mssql-jdbc with an Entra ``accessToken``
from ``notebookutils.credentials.getToken``) when the warehouse's SQL endpoint is known, which works
under a service principal; otherwise through ``spark.read.synapsesql`` (T-SQL pass-through with
``Constants.DatabaseName`` and the warehouse's ``Constants.WorkspaceId``), which Microsoft documents
for interactive Entra users. Control queries go through pyodbc (:mod:`.odbc`) when the connection
says ``control == "odbc"``. docs/runtimes.md lists which path runs when.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import query_guard, sql
from ..errors import PlatformError, SourceReadError
from ..spark_errors import spark_errors, spark_message
from . import SourceRead, period_from_rows, register

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, DataFrameReader, SparkSession

    from ..config import ExportConfig
    from ..plan import ExportPlan
    from ..platform import Platform, WarehouseConnection

log = logging.getLogger(__name__)

FETCH_SIZE = "10000"
SMALL_TABLE_ROWS = 100_000  # below this (PostgreSQL's estimate) one JDBC query is faster
_INTEGER_TYPES = ("smallint", "integer", "bigint")
_TYPE_NAME = re.compile(r"^[a-z0-9 _(),]+$")


def partitions(spark: SparkSession) -> int:
    """How many JDBC partitions a bulk read uses."""
    configured = os.environ.get("FABGEN_JDBC_PARTITIONS")
    if configured:
        return max(1, int(configured))
    return max(1, min(8, spark.sparkContext.defaultParallelism))


# --------------------------------------------------------------------------- Fabric


def _fabric_reader(spark: SparkSession, database: str, workspace_id: str | None) -> DataFrameReader:
    """A reader whose ``synapsesql(tsql)`` runs T-SQL on a Fabric Warehouse (Fabric only)."""
    try:
        import com.microsoft.spark.fabric  # noqa: F401 - adds DataFrameReader.synapsesql
        from com.microsoft.spark.fabric.Constants import Constants
    except ImportError as exc:
        raise PlatformError(
            "the Fabric Spark connector (com.microsoft.spark.fabric) is not available in this Spark runtime"
        ) from exc
    reader = spark.read.option(Constants.DatabaseName, database)
    if workspace_id:
        reader = reader.option(Constants.WorkspaceId, workspace_id)
    return reader


def _fabric_query(spark: SparkSession, conn: WarehouseConnection, workspace: str, query: str) -> DataFrame:
    if conn.jdbc_url:  # the SQL endpoint is known: JDBC with an Entra token (service principals too)
        from .odbc import fabric_token

        return _jdbc(spark, conn).option("accessToken", fabric_token()).option("query", query).load()
    reader: Any = _fabric_reader(spark, conn.database, conn.workspace_id)  # synapsesql: Fabric's connector
    df: DataFrame = reader.synapsesql(query)
    return df


# --------------------------------------------------------------------------- JDBC


def _jdbc(spark: SparkSession, conn: WarehouseConnection) -> DataFrameReader:
    return (
        spark.read.format("jdbc")
        .option("url", conn.jdbc_url)
        .options(**conn.properties)
        .option("fetchsize", FETCH_SIZE)
        .options(**query_guard.POSTGRES_READ_ONLY_OPTIONS)  # every session read-only (query_guard)
    )


def control_rows(
    spark: SparkSession, conn: WarehouseConnection, workspace: str, query: str, limit: int = 2
) -> list[dict[str, Any]]:
    """Run a small control query on the warehouse; return at most ``limit`` rows as dicts."""
    if conn.control == "odbc":
        from . import odbc

        token = odbc.fabric_token() if conn.dialect == "tsql" else None
        return odbc.control_rows(conn.odbc, query, limit, token)
    if conn.dialect == "tsql":
        df = _fabric_query(spark, conn, workspace, query)
    else:
        df = _jdbc(spark, conn).option("query", query).load()
    return [row.asDict() for row in df.limit(limit).collect()]


def _key_and_size(
    spark: SparkSession, conn: WarehouseConnection, plan: ExportPlan
) -> tuple[str | None, float]:
    """The single-column integer primary key of a PostgreSQL table (or None) and its row estimate."""
    d = sql.dialect("postgres")
    source = plan.source
    query = (
        "SELECT a.attname AS pk, format_type(a.atttypid, a.atttypmod) AS pk_type, c.reltuples AS est_rows "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary AND i.indnatts = 1 "
        "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0] "
        f"WHERE n.nspname = {d.string(source.schema.lower())} "
        f"AND c.relname = {d.string(source.table.lower())}"
    )
    rows = control_rows(spark, conn, source.workspace, query)
    if not rows:
        raise SourceReadError(f"table {source.schema}.{source.table} not found in warehouse {conn.database}")
    row = rows[0]
    pk = row["pk"] if (row["pk_type"] or "") in _INTEGER_TYPES else None
    return pk, float(row["est_rows"] if row["est_rows"] is not None else -1)


def _partitioned(spark: SparkSession, conn: WarehouseConnection, plan: ExportPlan, pk: str) -> DataFrame:
    """A parallel JDBC read of the table-mode query, split on ``pk``."""
    d = sql.dialect("postgres")
    source = plan.source
    key = d.quote_identifier(pk)
    inc = d.quote_identifier(source.incremental_column) if plan.config.extract_type == "incremental" else None
    select = f"MIN({key}) AS lo, MAX({key}) AS hi"
    if inc:
        select += f", MAX({inc})::text AS hw, pg_typeof(MAX({inc}))::text AS hw_type"
    bounds = control_rows(spark, conn, source.workspace, f"SELECT {select} FROM ({source.query}) q")[0]
    if bounds["lo"] is None:  # no rows: one plain query keeps the schema
        return _jdbc(spark, conn).option("query", source.query).load()
    if inc and bounds["hw"] is not None:
        if not _TYPE_NAME.match(bounds["hw_type"]):
            raise SourceReadError(f"unexpected type {bounds['hw_type']!r} of {source.incremental_column}")
        high = f"{inc} <= CAST({d.string(bounds['hw'])} AS {bounds['hw_type']})"
        source = replace(source, filters=(*source.filters, high))
    query = source.query_from(source.qualified_table or "")
    n = partitions(spark)
    log.debug(
        "%s: JDBC read in %d partitions on %s [%s, %s]", plan.config.key, n, pk, bounds["lo"], bounds["hi"]
    )
    return (
        _jdbc(spark, conn)
        .option("dbtable", f"({query}) fabgen_q")
        .option("partitionColumn", pk.lower())
        .option("lowerBound", str(bounds["lo"]))
        .option("upperBound", str(int(bounds["hi"]) + 1))
        .option("numPartitions", str(n))
        .load()
    )


def _jdbc_read(spark: SparkSession, conn: WarehouseConnection, plan: ExportPlan) -> DataFrame:
    """A JDBC read of the plan's query: partitioned on the primary key for large tables."""
    config, source = plan.config, plan.source
    if source.mode == "table" and partitions(spark) > 1:
        pk, estimate = _key_and_size(spark, conn, plan)
        columns = {c.lower() for c in config.source_columns or ()}
        if pk and (not columns or pk.lower() in columns) and not 0 <= estimate < SMALL_TABLE_ROWS:
            return _partitioned(spark, conn, plan, pk)
    return _jdbc(spark, conn).option("query", source.query).load()


def odbc_period(config: ExportConfig, query: str, platform: Platform) -> tuple[datetime, datetime]:
    """``period_date_query`` over ODBC, without Spark (the Python engine)."""
    from . import odbc

    conn = platform.warehouse(config.source_workspace, config.source_datastore)
    token = odbc.fabric_token() if conn.dialect == "tsql" else None
    try:
        rows = odbc.control_rows(conn.odbc, query, 2, token)
    except SourceReadError as exc:
        raise SourceReadError(f"period_date_query failed: {exc}", config.key) from exc
    return period_from_rows(rows, config.key)


class WarehouseSource:
    """``source_type: warehouse``."""

    def read(self, spark: SparkSession, plan: ExportPlan, platform: Platform) -> SourceRead:
        config = plan.config
        conn = platform.warehouse(config.source_workspace, config.source_datastore)
        source = plan.source
        try:
            if conn.dialect == "tsql":
                df = _fabric_query(spark, conn, config.source_workspace, source.query)
            else:
                df = _jdbc_read(spark, conn, plan)
        except spark_errors() as exc:
            raise SourceReadError(
                f"reading warehouse {config.source_datastore} failed: {spark_message(exc)}", config.key
            ) from exc
        except SourceReadError as exc:
            if exc.export:
                raise
            raise SourceReadError(str(exc), config.key) from exc
        return SourceRead(df, None, source.query)

    def period(
        self, spark: SparkSession, config: ExportConfig, query: str, platform: Platform
    ) -> tuple[datetime, datetime]:
        conn = platform.warehouse(config.source_workspace, config.source_datastore)
        try:
            rows = control_rows(spark, conn, config.source_workspace, query)
        except spark_errors() as exc:
            raise SourceReadError(f"period_date_query failed: {spark_message(exc)}", config.key) from exc
        return period_from_rows(rows, config.key)


register("warehouse", WarehouseSource())
