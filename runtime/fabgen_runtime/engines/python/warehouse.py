"""Warehouse reads without Spark: the plan's query over ODBC (pyodbc), streamed as Arrow batches.

The same SQL text the Spark engine runs (``plan.source.query``, quoted for the warehouse's
dialect) goes through the warehouse's ODBC connection (:mod:`fabgen_runtime.sources.odbc`: on
Fabric ODBC Driver 18 with an Entra token, locally PostgreSQL's driver), in a read-only session
whose time zone is UTC, fetched ``BATCH_ROWS`` rows at a time (psqlODBC: a server-side cursor,
``UseDeclareFetch``), so the result never sits whole in memory. Column types come from the
cursor's description and are read as Spark's JDBC reader reads them: ``smallint``/``int``/
``bigint`` by their precision, ``real``/``double precision``, ``numeric(p,s)`` as
``decimal(p,s)``, text, dates, timestamps (as UTC instants, like Spark with a UTC session) and
binary; any other type is a :class:`SourceReadError` naming the column.

A ``source_query`` runs as Spark's JDBC reader runs it, as a derived table (:func:`source_sql`).
Session set-up statements follow the connection's dialect (:data:`SESSION_SETUP`): PostgreSQL's
read-only session and UTC time zone on the local stand-in, none on a Fabric Warehouse (T-SQL).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ... import sql
from ...errors import ConfigError, ConfigIssue, SourceReadError
from ...sources import odbc
from .read import BATCH_ROWS, PythonRead

if TYPE_CHECKING:
    from ...plan import ExportPlan
    from ...platform import Platform

#: psqlODBC: a server-side cursor fetched in batches, booleans as booleans (not '1'/'0' text)
POSTGRES_STREAMING = {"UseDeclareFetch": "1", "Fetch": str(BATCH_ROWS), "BoolsAsChar": "0"}
SESSION_SETUP = {
    "postgres": ("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", "SET TIME ZONE 'UTC'"),
    "tsql": (),
}
MAX_DECIMAL_PRECISION = 38


def arrow_type(column: Sequence[Any], export: str) -> pa.DataType:
    """The Arrow type of one cursor-description column, as Spark's JDBC reader types it."""
    name, code, _display, _size, precision, scale = column[:6]
    if code is bool:
        return pa.bool_()
    if code is int:
        return pa.int16() if precision <= 5 else pa.int32() if precision <= 10 else pa.int64()
    if code is float:
        return pa.float32() if precision <= 9 else pa.float64()
    if code is Decimal:
        if not 0 < precision <= MAX_DECIMAL_PRECISION:
            raise SourceReadError(
                f"column {name!r}: a decimal of precision {precision} cannot be exported by the python "
                "engine (give the column a precision of at most 38)",
                export,
            )
        return pa.decimal128(precision, scale or 0)
    if code is str:
        return pa.string()
    if code is dt.datetime:
        return pa.timestamp("us", tz="UTC")
    if code is dt.date:
        return pa.date32()
    if code in (bytes, bytearray):
        return pa.binary()
    raise SourceReadError(
        f"column {name!r}: its type ({getattr(code, '__name__', code)}) is not supported by the python "
        "engine's warehouse reads",
        export,
    )


def connection_string(base: str, dialect: str) -> str:
    """The warehouse's ODBC connection string, plus the streaming options of its driver."""
    if dialect != "postgres":
        return base
    return base + ";" + odbc.connection_string(POSTGRES_STREAMING)


def source_sql(query: str, mode: str, dialect: str = "postgres") -> str:
    """The SQL sent: table mode's query as built, a ``source_query`` as a derived table.

    Spark's JDBC reader runs its ``query`` option as ``SELECT * FROM (<query>) <alias>``; the same
    wrapping here gives the same rows and the same refusals (one query, never a command: with
    :mod:`fabgen_runtime.query_guard`'s static check and, locally, the read-only session). T-SQL
    allows no ``WITH`` in a derived table: there a query's CTEs go in front of the wrapping, as the
    Spark engine sends them in ``prepareQuery`` (:func:`fabgen_runtime.sql.split_with`).
    """
    if mode == "table":
        return query
    ctes, select = sql.split_with(query, dialect) if dialect == "tsql" else ("", query)
    return f"{ctes}SELECT * FROM ({select}) AS fabgen_source_query"


def read(plan: ExportPlan, platform: Platform, batch_rows: int = BATCH_ROWS) -> PythonRead:
    """Run the plan's warehouse query over ODBC and stream its rows (see the module docstring)."""
    config, source = plan.config, plan.source
    export = config.key
    if source is None:
        raise ConfigError(ConfigIssue(export, "source_type", "the plan names no warehouse source"))
    conn = platform.warehouse(config.source_workspace, config.source_datastore)
    if not conn.odbc:  # Fabric without the warehouse's SQL endpoint: only Spark's connector could read it
        raise ConfigError(
            ConfigIssue(
                export,
                "source_datastore",
                f"the python engine reads warehouse {config.source_datastore} over ODBC, which needs its "
                "sql_endpoint in the environment's settings (fabgen.yaml environments.<env>.warehouses)",
            )
        )
    token = odbc.fabric_token() if conn.dialect == "tsql" else None
    pyodbc = odbc.pyodbc_module()
    try:
        connection = odbc.connect(connection_string(conn.odbc, conn.dialect), token)
        cursor = connection.cursor()
        for statement in SESSION_SETUP.get(conn.dialect, ()):
            cursor.execute(statement)
        cursor.execute(source_sql(source.query, source.mode, conn.dialect))
    except pyodbc.Error as exc:
        raise SourceReadError(
            f"reading warehouse {config.source_datastore} failed: {odbc.message(exc)}", export
        ) from exc
    if cursor.description is None:
        connection.close()
        raise SourceReadError("the warehouse query returned no result set", export)
    schema = pa.schema([pa.field(c[0], arrow_type(c, export)) for c in cursor.description])
    batches = _batches(connection, cursor, schema, batch_rows, export, pyodbc.Error)
    label = f"{source.schema}.{source.table}"
    return PythonRead(pa.RecordBatchReader.from_batches(schema, batches), None, label, 0, 0, None)


def _batches(
    connection: Any, cursor: Any, schema: pa.Schema, batch_rows: int, export: str, error: type[Exception]
) -> Iterator[pa.RecordBatch]:
    try:
        while True:
            try:
                rows = cursor.fetchmany(batch_rows)
            except error as exc:
                raise SourceReadError(
                    f"reading the warehouse rows failed: {odbc.message(exc)}", export
                ) from exc
            if not rows:
                return
            columns = list(zip(*rows, strict=True))
            yield pa.RecordBatch.from_arrays(
                [pa.array(values, type=field.type) for values, field in zip(columns, schema, strict=True)],
                schema=schema,
            )
    finally:
        connection.close()
