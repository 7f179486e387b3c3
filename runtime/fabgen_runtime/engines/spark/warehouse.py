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

Every statement and JDBC option follows the connection's dialect (``WarehouseConnection.dialect``):
a Fabric Warehouse (``tsql``) gets T-SQL and Microsoft's driver options only; PostgreSQL's read-only
session options (:data:`SESSION_OPTIONS`) and catalog probe reach the local stand-in only. On Fabric
with the SQL endpoint known, a large table-mode full or period read is split on its identity column
or the first column of its primary key (an integer), found in ``sys.columns``/``sys.types`` (and
``sys.key_constraints``/``sys.index_columns`` for the key), its bounds and row count from one
``MIN``/``MAX``/``COUNT_BIG`` query; an incremental read stays one query (one snapshot), and a probe
the warehouse refuses leaves the read in one query with a warning.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ... import query_guard, sql
from ...errors import PlatformError, SourceReadError
from ...sources import period_from_rows
from .sources import SourceRead, register
from .spark_errors import spark_errors, spark_message

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, DataFrameReader, SparkSession

    from ...config import ExportConfig
    from ...plan import ExportPlan
    from ...platform import Platform, WarehouseConnection

log = logging.getLogger(__name__)

FETCH_SIZE = "10000"
SMALL_TABLE_ROWS = 100_000  # below this (PostgreSQL's estimate, T-SQL's count) one JDBC query is faster
_INTEGER_TYPES = {
    "postgres": ("smallint", "integer", "bigint"),
    "tsql": ("tinyint", "smallint", "int", "bigint"),
}
_TYPE_NAME = re.compile(r"^[a-z0-9 _(),]+$")
# Spark JDBC options per warehouse dialect, besides the driver's own (``WarehouseConnection.properties``):
# PostgreSQL (the local stand-in) opens every session read-only (query_guard); a Fabric Warehouse
# speaks T-SQL, which has no such switch and would fail every connection on PostgreSQL's options.
SESSION_OPTIONS: dict[str, Mapping[str, str]] = {
    "postgres": query_guard.POSTGRES_READ_ONLY_OPTIONS,
    "tsql": {},
}


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
        return _jdbc(spark, conn).options(**query_options(query, conn.dialect)).load()
    reader: Any = _fabric_reader(spark, conn.database, conn.workspace_id)  # synapsesql: Fabric's connector
    df: DataFrame = reader.synapsesql(query)
    return df


# --------------------------------------------------------------------------- JDBC


def jdbc_options(conn: WarehouseConnection) -> dict[str, str]:
    """The Spark JDBC options of every read of ``conn`` but the query (and Fabric's access token).

    The driver's properties and fetch size, plus :data:`SESSION_OPTIONS` of the connection's dialect:
    PostgreSQL's read-only session on the local stand-in, nothing on a Fabric Warehouse (T-SQL).
    """
    try:
        session = SESSION_OPTIONS[conn.dialect]
    except KeyError:
        raise PlatformError(f"no JDBC session options for warehouse dialect {conn.dialect!r}") from None
    return {"url": conn.jdbc_url, **conn.properties, "fetchsize": FETCH_SIZE, **session}


def query_options(query: str, dialect: str) -> dict[str, str]:
    """The JDBC options that run ``query``, which Spark sends as a derived table (``FROM (query) ...``).

    T-SQL allows no ``WITH`` inside a derived table: a T-SQL query starting with ``WITH`` goes as
    Spark's ``prepareQuery`` (the CTEs, sent in front of Spark's statement) and ``query`` (the main
    SELECT), as Spark documents for SQL Server (:func:`fabgen_runtime.sql.split_with`).
    """
    if dialect == "tsql":
        ctes, select = sql.split_with(query, dialect)
        if ctes:
            return {"prepareQuery": ctes, "query": select}
    return {"query": query}


def _jdbc(spark: SparkSession, conn: WarehouseConnection) -> DataFrameReader:
    reader = spark.read.format("jdbc").options(**jdbc_options(conn))
    if conn.dialect == "tsql":  # a Fabric Warehouse: an Entra token from notebookutils, per read
        from ...sources.odbc import fabric_token

        reader = reader.option("accessToken", fabric_token())
    return reader


def control_rows(
    spark: SparkSession, conn: WarehouseConnection, workspace: str, query: str, limit: int = 2
) -> list[dict[str, Any]]:
    """Run a small control query on the warehouse; return at most ``limit`` rows as dicts."""
    if conn.control == "odbc":
        from ...sources import odbc

        token = odbc.fabric_token() if conn.dialect == "tsql" else None
        return odbc.control_rows(conn.odbc, query, limit, token)
    if conn.dialect == "tsql":
        df = _fabric_query(spark, conn, workspace, query)
    else:
        df = _jdbc(spark, conn).options(**query_options(query, conn.dialect)).load()
    return [row.asDict() for row in df.limit(limit).collect()]


def _warehouse_dialect(name: str) -> sql.Dialect:
    if name not in _INTEGER_TYPES:
        raise PlatformError(f"{name!r} is not a warehouse dialect (known: {', '.join(_INTEGER_TYPES)})")
    return sql.dialect(name)


def key_probe_sql(dialect: str, schema: str, table: str) -> str:
    """The control query that finds a table's partition key: ``pk``, ``pk_type`` (and more per dialect).

    * ``postgres``: the single-column primary key from ``pg_index`` with ``est_rows``, the planner's
      row estimate (``pg_class.reltuples``); one row, or none when the table does not exist.
    * ``tsql``: the identity column and the first column of the primary key (``is_identity`` 1/0),
      from ``sys.columns``/``sys.types`` with ``sys.key_constraints``/``sys.index_columns`` (a Fabric
      Warehouse's keys are ``NONCLUSTERED NOT ENFORCED``); no row estimate (the bounds query counts).
    """
    d = _warehouse_dialect(dialect)
    if dialect == "postgres":
        return (
            "SELECT a.attname AS pk, format_type(a.atttypid, a.atttypmod) AS pk_type, "
            "c.reltuples AS est_rows "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary AND i.indnatts = 1 "
            "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0] "
            f"WHERE n.nspname = {d.string(schema.lower())} "
            f"AND c.relname = {d.string(table.lower())}"
        )
    return (  # tsql
        "SELECT c.name AS pk, t.name AS pk_type, c.is_identity AS is_identity "
        "FROM sys.columns AS c JOIN sys.types AS t ON t.user_type_id = c.user_type_id "
        f"WHERE c.object_id = OBJECT_ID({d.string(d.qualified(schema, table))}) "
        "AND (c.is_identity = 1 OR c.column_id IN ("
        "SELECT ic.column_id FROM sys.key_constraints AS k JOIN sys.index_columns AS ic "
        "ON ic.object_id = k.parent_object_id AND ic.index_id = k.unique_index_id "
        "WHERE k.parent_object_id = c.object_id AND k.type = 'PK' AND ic.key_ordinal = 1))"
    )


def bounds_sql(dialect: str, query: str, key: str, incremental_column: str | None = None) -> str:
    """The control query of a partitioned read: ``lo``/``hi`` of ``key`` over ``query``'s rows.

    * ``postgres``: plus ``hw``/``hw_type``, ``MAX(incremental_column)`` as text and its type, which
      bound every partition of an incremental read (rows committed meanwhile wait for the next run).
    * ``tsql``: plus ``n``, the rows to read (``COUNT_BIG``); incremental reads are never split there.
    """
    d = _warehouse_dialect(dialect)
    k = d.quote_identifier(key)
    if dialect == "postgres":
        select = f"MIN({k}) AS lo, MAX({k}) AS hi"
        if incremental_column:
            inc = d.quote_identifier(incremental_column)
            select += f", MAX({inc})::text AS hw, pg_typeof(MAX({inc}))::text AS hw_type"
        return f"SELECT {select} FROM ({query}) q"
    if incremental_column:  # tsql
        raise PlatformError("an incremental read of a Fabric Warehouse is not split into partitions")
    return f"SELECT MIN({k}) AS lo, MAX({k}) AS hi, COUNT_BIG(*) AS n FROM ({query}) AS q"


def _key_and_size(
    spark: SparkSession, conn: WarehouseConnection, plan: ExportPlan
) -> tuple[str | None, float]:
    """The single-column integer primary key of a PostgreSQL table (or None) and its row estimate."""
    source = plan.source
    query = key_probe_sql("postgres", source.schema, source.table)
    rows = control_rows(spark, conn, source.workspace, query)
    if not rows:
        raise SourceReadError(f"table {source.schema}.{source.table} not found in warehouse {conn.database}")
    row = rows[0]
    pk = row["pk"] if (row["pk_type"] or "") in _INTEGER_TYPES["postgres"] else None
    return pk, float(row["est_rows"] if row["est_rows"] is not None else -1)


def _partitioned_read(
    spark: SparkSession, conn: WarehouseConnection, plan: ExportPlan, pk: str, lo: Any, hi: Any, query: str
) -> DataFrame:
    """A parallel JDBC read of ``query`` (table mode), split on ``pk`` over ``[lo, hi]``."""
    n = partitions(spark)
    log.debug("%s: JDBC read in %d partitions on %s [%s, %s]", plan.config.key, n, pk, lo, hi)
    return (
        _jdbc(spark, conn)
        .option("dbtable", f"({query}) fabgen_q")
        .option("partitionColumn", pk.lower() if conn.dialect == "postgres" else pk)
        .option("lowerBound", str(lo))
        .option("upperBound", str(int(hi) + 1))
        .option("numPartitions", str(n))
        .load()
    )


def _partitioned(spark: SparkSession, conn: WarehouseConnection, plan: ExportPlan, pk: str) -> DataFrame:
    """PostgreSQL: a parallel JDBC read of the table-mode query, split on ``pk``."""
    d = sql.dialect("postgres")
    source = plan.source
    inc = source.incremental_column if plan.config.extract_type == "incremental" else None
    bounds_query = bounds_sql("postgres", source.query, pk, inc)
    bounds = control_rows(spark, conn, source.workspace, bounds_query)[0]
    if bounds["lo"] is None:  # no rows: one plain query keeps the schema
        return _jdbc(spark, conn).option("query", source.query).load()
    if inc and bounds["hw"] is not None:
        if not _TYPE_NAME.match(bounds["hw_type"]):
            raise SourceReadError(f"unexpected type {bounds['hw_type']!r} of {source.incremental_column}")
        high = f"{d.quote_identifier(inc)} <= CAST({d.string(bounds['hw'])} AS {bounds['hw_type']})"
        source = replace(source, filters=(*source.filters, high))
    query = source.query_from(source.qualified_table or "")
    return _partitioned_read(spark, conn, plan, pk, bounds["lo"], bounds["hi"], query)


def _tsql_key(spark: SparkSession, conn: WarehouseConnection, plan: ExportPlan) -> str | None:
    """A Fabric Warehouse table's integer partition key: its primary key's first column, else its
    identity column; None when it has neither or the warehouse refuses the catalog probe (warned)."""
    source = plan.source
    query = key_probe_sql("tsql", source.schema, source.table)
    refused: tuple[type[BaseException], ...] = (SourceReadError, *spark_errors())
    try:
        rows = control_rows(spark, conn, source.workspace, query)
    except refused as exc:
        detail = str(exc) if isinstance(exc, SourceReadError) else spark_message(exc)
        log.warning(
            "%s: reading warehouse %s in one query: its catalog probe for a partition key failed: %s",
            plan.config.key,
            conn.database,
            detail,
        )
        return None
    keys = [r for r in rows if str(r["pk_type"] or "").lower() in _INTEGER_TYPES["tsql"]]
    keys.sort(key=lambda r: bool(r["is_identity"]))  # the declared key first
    return str(keys[0]["pk"]) if keys else None


def _tsql_read(spark: SparkSession, conn: WarehouseConnection, plan: ExportPlan, pk: str) -> DataFrame:
    """A Fabric Warehouse table read over JDBC, split on ``pk`` when it holds enough rows."""
    source = plan.source
    bounds = control_rows(spark, conn, source.workspace, bounds_sql("tsql", source.query, pk))[0]
    if bounds["lo"] is None or int(bounds["n"] or 0) < SMALL_TABLE_ROWS:
        return _jdbc(spark, conn).options(**query_options(source.query, conn.dialect)).load()
    return _partitioned_read(spark, conn, plan, pk, bounds["lo"], bounds["hi"], source.query)


def _jdbc_read(spark: SparkSession, conn: WarehouseConnection, plan: ExportPlan) -> DataFrame:
    """A JDBC read of the plan's query: partitioned on an integer key for large tables.

    PostgreSQL: the single-column primary key, also for incremental reads (bounded by the high-water
    mark). A Fabric Warehouse: its key or identity column, for full and period reads only.
    """
    config, source = plan.config, plan.source
    columns = {c.lower() for c in config.source_columns or ()}
    if source.mode == "table" and partitions(spark) > 1:
        if conn.dialect == "postgres":
            pk, estimate = _key_and_size(spark, conn, plan)
            if pk and (not columns or pk.lower() in columns) and not 0 <= estimate < SMALL_TABLE_ROWS:
                return _partitioned(spark, conn, plan, pk)
        elif conn.dialect == "tsql" and config.extract_type != "incremental":
            key = _tsql_key(spark, conn, plan)
            if key and (not columns or key.lower() in columns):
                return _tsql_read(spark, conn, plan, key)
    return _jdbc(spark, conn).options(**query_options(source.query, conn.dialect)).load()


class WarehouseSource:
    """``source_type: warehouse``."""

    def read(self, spark: SparkSession, plan: ExportPlan, platform: Platform) -> SourceRead:
        config = plan.config
        conn = platform.warehouse(config.source_workspace, config.source_datastore)
        source = plan.source
        try:
            if conn.dialect == "tsql" and not conn.jdbc_url:  # Fabric's connector: one query
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
