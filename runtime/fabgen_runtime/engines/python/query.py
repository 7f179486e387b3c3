"""Lakehouse query mode without Spark: the Spark SQL query translated by sqlglot and run by DuckDB.

:func:`read_query` runs a plan's ``source_query`` (placeholders already rendered by the plan) and
:func:`period` a ``period_date_query``, as the Spark engine's ``LakehouseSource`` does:

1. The text is checked again (:mod:`.query_text`: one read-only query, tables of the row's
   ``source_datastore`` only, :func:`fabgen_runtime.query_guard.check_relations`) and translated
   (what DuckDB cannot run as Spark does is refused, as ``fabgen validate`` refuses it).
2. Every table it names (``table`` in ``source_schema``, ``schema.table``,
   ``<source_datastore>.schema.table``) is opened through this engine's Delta reader
   (:func:`.read.open_table`: pinned at its current version, deletion vectors and column mapping
   handled); a name that is not a table of the lakehouse is refused (:class:`QueryRefusedError`).
3. Each is registered in a fresh in-memory DuckDB connection under a generated name: a plain
   table as its ``pyarrow.dataset`` (DuckDB scans only the columns it needs and pushes filters down to
   the files' statistics; it may scan it more than once), a table read through :mod:`.dv_scan`
   (deletion vectors, column mapping) as one single-use stream per reference of only the columns
   the query uses (:func:`.query_text.needed_columns`), with every CTE ``MATERIALIZED`` so no
   stream is read twice.
4. Then the connection is closed to the outside (``enable_external_access=false``, configuration
   locked; no extension is installed or loaded): the query can read nothing but the registered
   tables. Its session time zone is UTC, as the Spark engine's.
5. The result streams as a ``pyarrow.RecordBatchReader`` (:func:`_arrow_reader`) into the same
   writers; DuckDB does not materialise it.

Watermarks and periods behave as on Spark: in query mode the user's query filters with
``{watermark}`` / ``{period_start_date}`` (rendered by the plan), and the writer takes the new
watermark as the maximum of ``incremental_column`` over the result.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
from sqlglot import exp
from sqlglot.errors import UnsupportedError

from ... import platform as platform_mod
from ... import query_guard
from ...config import DEFAULT_LAKEHOUSE_SCHEMA
from ...errors import QueryRefusedError, SourceReadError
from ...sources import period_from_rows
from . import query_text
from .onelake import StorageOptions
from .read import BATCH_ROWS, OpenTable, PythonRead, open_table, stream_table

if TYPE_CHECKING:
    from ...config import ExportConfig
    from ...plan import ExportPlan

log = logging.getLogger(__name__)
SESSION_TIMEZONE = "UTC"  # the Spark engine's session time zone
# Set when the connection opens: nothing is installed or loaded behind the query's back.
CONNECTION_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
}


@dataclass
class QuerySession:
    """One query's DuckDB connection, the tables registered in it and the DuckDB text."""

    connection: duckdb.DuckDBPyConnection
    sql: str
    tables: list[OpenTable] = field(default_factory=list)

    @property
    def versions(self) -> str:
        """``dbo.orders@12,dbo.customers@3``: what the log records as ``source_version``."""
        return ",".join(t.version_label for t in self.tables)


def _path(parts: tuple[str, ...], config: ExportConfig, platform: platform_mod.Platform) -> str:
    """Where the table ``parts`` of the row's source lakehouse lives (as the Spark engine resolves it)."""
    if len(parts) == 3:
        lakehouse, schema, table = parts
    elif len(parts) == 2:
        lakehouse, (schema, table) = config.source_datastore, parts
    else:
        lakehouse, schema, table = (
            config.source_datastore,
            config.schema or DEFAULT_LAKEHOUSE_SCHEMA,
            parts[0],
        )
    return platform_mod.table_uri(platform, config.source_workspace, lakehouse, schema, table)


def _translated(query: str, field_name: str, config: ExportConfig) -> exp.Expr:
    """The parsed query, refused (:class:`QueryRefusedError`) where validate would refuse it."""
    export, lakehouse = config.key, config.source_datastore
    problems = query_text.read_only_problems(query, lakehouse) + query_text.translation_problems(query)
    if problems:
        raise QueryRefusedError(f"the {field_name} {problems[0]}", export)
    tree = query_text.parse(query)
    query_guard.check_relations(query_text.relations(tree), lakehouse, export)
    return tree


def _open(
    tree: exp.Expr, config: ExportConfig, platform: platform_mod.Platform, options: StorageOptions
) -> dict[tuple[str, ...], OpenTable]:
    """Every table the query names, opened at its current version (keys: lower-case name parts)."""
    export = config.key
    opened: dict[tuple[str, ...], OpenTable] = {}
    for parts in query_text.relations(tree):
        key = tuple(p.lower() for p in parts)
        if key in opened:
            continue
        label = ".".join(parts)
        try:
            opened[key] = open_table(_path(parts, config, platform), label, export, options)
        except SourceReadError as exc:
            if "no Delta table" in str(exc):
                message = f"no table {label!r} in lakehouse {config.source_datastore}"
                raise QueryRefusedError(message, export) from exc
            raise
    return opened


def _register(session_tables: dict[tuple[str, ...], OpenTable], tree: exp.Expr, con: Any) -> str:
    """Register the tables in ``con`` and return the query's DuckDB text reading them."""
    counter = itertools.count(1)
    needed = query_text.needed_columns(tree, {k: t.logical.names for k, t in session_tables.items()})
    names: dict[int, str] = {}
    by_table: dict[tuple[str, ...], str] = {}
    ctes = query_text.cte_names(tree)
    single_use = False
    for table in tree.find_all(exp.Table):
        parts = query_text.table_parts(table)
        key = tuple(p.lower() for p in parts) if parts else None
        if key is None or key not in session_tables or (len(key) == 1 and key[0] in ctes):
            continue
        opened = session_tables[key]
        if opened.rescannable and key in by_table:
            names[id(table)] = by_table[key]
            continue
        name = f"fabgen_source_{next(counter)}"
        if opened.rescannable:
            con.register(name, opened.dataset)
            by_table[key] = name
        else:  # one single-use stream per reference, of the columns the query reads
            single_use = True
            columns = _columns(needed, key, opened)
            con.register(name, stream_table(opened, columns, columns, None))
        names[id(table)] = name
    return query_text.duckdb_sql(tree, names, materialize=single_use)


def _columns(
    needed: dict[tuple[str, ...], list[str]] | None, key: tuple[str, ...], opened: OpenTable
) -> list[str]:
    """The columns a single-use stream reads: those the query uses (every one when not known, the
    first when it uses none, e.g. ``count(*)``)."""
    names = list(opened.logical.names)
    if needed is None or key not in needed:
        return names
    return needed[key] or names[:1]


def _connect() -> Any:
    con = duckdb.connect(":memory:", config=CONNECTION_CONFIG)
    con.execute(f"SET TimeZone = '{SESSION_TIMEZONE}'")
    return con


def seal(con: Any) -> None:
    """Close the connection to the outside: no file, URL or extension; the setting locked."""
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def open_session(
    query: str,
    field_name: str,
    config: ExportConfig,
    platform: platform_mod.Platform | None = None,
    storage_options: StorageOptions = None,
) -> QuerySession:
    """Check, translate and register ``query``'s tables in a sealed DuckDB connection."""
    platform = platform or platform_mod.current()
    tree = _translated(query, field_name, config)
    tables = _open(tree, config, platform, storage_options)
    con = _connect()
    try:
        try:
            sql = _register(tables, tree, con)
        except UnsupportedError as exc:
            message = f"the {field_name} has no DuckDB translation: {exc}; {query_text.HINT}"
            raise QueryRefusedError(message, config.key) from exc
        seal(con)
    except BaseException:
        con.close()
        raise
    log.debug(
        "%s: DuckDB runs %s over %s", config.key, sql, ",".join(t.version_label for t in tables.values())
    )
    return QuerySession(con, sql, list(tables.values()))


def _failed(field_name: str, exc: BaseException, export: str) -> SourceReadError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return SourceReadError(f"the {field_name} failed in DuckDB: {first}", export)


def _arrow_reader(cursor: Any, batch_rows: int) -> pa.RecordBatchReader:
    """The result as a stream of record batches: ``to_arrow_reader`` where DuckDB has it (1.5 and later
    deprecate ``fetch_record_batch``), else ``fetch_record_batch`` (1.4, Fabric's Python kernel)."""
    if hasattr(cursor, "to_arrow_reader"):
        return cursor.to_arrow_reader(batch_rows)
    return cursor.fetch_record_batch(batch_rows)


def _batches(session: QuerySession, reader: pa.RecordBatchReader, export: str) -> Iterator[pa.RecordBatch]:
    """The result's batches; the connection is closed after the last one (or on an error)."""
    try:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except duckdb.Error as exc:
                raise _failed("source_query", exc, export) from exc
            yield batch
    finally:
        session.connection.close()


def read_query(
    plan: ExportPlan,
    platform: platform_mod.Platform | None = None,
    storage_options: StorageOptions = None,
    batch_rows: int = BATCH_ROWS,
) -> PythonRead:
    """Run the plan's lakehouse ``source_query`` in DuckDB and stream its rows."""
    config = plan.config
    session = open_session(plan.source.query, "source_query", config, platform, storage_options)
    try:
        result = _arrow_reader(session.connection.execute(session.sql), batch_rows)
    except duckdb.Error as exc:
        session.connection.close()
        raise _failed("source_query", exc, config.key) from exc
    except BaseException:
        session.connection.close()
        raise
    reader = pa.RecordBatchReader.from_batches(result.schema, _batches(session, result, config.key))
    files = sum(t.file_counts(None)[0] for t in session.tables)
    path = session.tables[0].label if session.tables else ""
    return PythonRead(reader, session.versions or None, path, files, files, None)


def period(
    config: ExportConfig,
    query: str,
    platform: platform_mod.Platform | None = None,
    storage_options: StorageOptions = None,
) -> tuple[datetime, datetime]:
    """``(start_date, end_date)`` of a lakehouse ``period_date_query`` (rendered), run in DuckDB."""
    session = open_session(query, "period_date_query", config, platform, storage_options)
    try:
        cursor = session.connection.execute(session.sql)
        columns = [d[0] for d in cursor.description or []]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchmany(2)]
    except duckdb.Error as exc:
        raise _failed("period_date_query", exc, config.key) from exc
    finally:
        session.connection.close()
    return period_from_rows(rows, config.key)
