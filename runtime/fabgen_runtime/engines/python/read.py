"""Lakehouse reads without Spark: a Delta table through delta-rs, pinned, pruned and streamed.

:func:`read` opens ``Tables/<schema>/<table>`` of the plan's source lakehouse with ``deltalake``
at its current version (recorded like the Spark source's ``source_version``: ``dbo.orders@12``),
selects only the plan's columns and pushes the plan's incremental / period filter down as a
``pyarrow.dataset`` expression of typed values (never SQL text); files whose min/max statistics
cannot match are skipped unopened. The rows stream as a ``pyarrow.RecordBatchReader``.

A table with deletion vectors (delta-rs's pyarrow dataset refuses those) or with column mapping
(whose files name columns by physical name) is read through :mod:`.dv_scan`: the same fragments,
file and row-group pruning, with each file's deleted rows dropped by position before the filter,
and for column mapping the files read under physical names and renamed back
(:mod:`.column_mapping`). Query mode (``source_query``) is :mod:`.query`'s: DuckDB over tables
opened here (:func:`open_table`, :func:`stream_table`). A table whose reader features the pyarrow
read would get wrong (unknown features) is refused before any file is written: :mod:`.features`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, Context, Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.dataset as ds

from ... import platform as platform_mod
from ...errors import ConfigError, ConfigIssue, SourceReadError
from ...sql import ISO_DATE, ISO_TIMESTAMP, NUMBER, parse_timestamp
from . import column_mapping, dv_scan, features, memory
from .column_mapping import ColumnMapping, ColumnMappingError
from .deletion_vectors import DeletionVectorError
from .onelake import StorageOptions, resolve

if TYPE_CHECKING:
    from deltalake import DeltaTable

    from ...plan import ExportPlan

BATCH_ROWS = 64 * 1024  # rows per record batch handed to the writer
READAHEAD_BATCHES = 4  # batches decoded ahead of the writer
SESSION_TIMEZONE = "UTC"  # how naive watermark/period values read against timestamp columns (as Spark's)


@dataclass
class PythonRead:
    """The source rows as a stream, and what the log records about the read."""

    reader: pa.RecordBatchReader
    version: str | None  # e.g. "dbo.orders@12", like SourceRead.version on Spark (None: a warehouse)
    path: str  # the Delta table's location
    files_total: int  # data files of the pinned version
    files_scanned: int  # data files left after the filter's statistics pruning
    filter: ds.Expression | None  # the pushed-down condition (None: every row)


def read(
    plan: ExportPlan,
    platform: platform_mod.Platform | None = None,
    storage_options: StorageOptions = None,
    batch_rows: int = BATCH_ROWS,
) -> PythonRead:
    """Open the plan's lakehouse table at its current version and stream the rows it selects.

    Raises :class:`ConfigError` for what this function does not read (query mode: :mod:`.query`; a
    non-lakehouse source) and :class:`SourceReadError` (naming the export) when the table cannot be
    read or uses a reader feature this engine would read wrongly (:func:`.features.check`).
    """
    config, source = plan.config, plan.source
    export = config.key
    if source is None or source.mode != "table":
        raise ConfigError(
            ConfigIssue(
                export, "source_query", "read.read reads a table; a query is run by engines.python.query"
            )
        )
    if source.source_type != "lakehouse":
        raise ConfigError(
            ConfigIssue(
                export, "source_type", f"the python engine reads lakehouse tables, not {source.source_type}"
            )
        )
    platform = platform or platform_mod.current()
    path = platform_mod.table_uri(
        platform, config.source_workspace, config.source_datastore, source.schema, source.table
    )
    opened = open_table(path, f"{source.schema}.{source.table}", export, storage_options)
    logical = opened.logical
    columns = select_columns(logical, config.source_columns, export)
    condition = source_filter(plan, logical, opened.names)
    needed = columns + [c for c in filter_columns(plan, logical) if c not in columns]
    reader = stream_table(opened, columns, needed, condition, batch_rows)
    files_total, files_scanned = opened.file_counts(condition)
    return PythonRead(reader, opened.version_label, path, files_total, files_scanned, condition)


@dataclass
class OpenTable:
    """A lakehouse Delta table opened at its current version, ready to stream columns of."""

    label: str  # e.g. "dbo.orders" (messages, the version label)
    export: str
    version: int
    dataset: ds.Dataset  # delta-rs's dataset, or dv_scan's fragments (physical names when mapped)
    dv_source: dv_scan.DvDataset | None  # set when the table is read through dv_scan
    mapping: ColumnMapping | None

    @property
    def version_label(self) -> str:
        """``dbo.orders@12``, as the Spark source records ``source_version``."""
        return f"{self.label}@{self.version}"

    @property
    def logical(self) -> pa.Schema:
        """The table's columns under their logical names."""
        return self.mapping.logical if self.mapping else self.dataset.schema

    @property
    def names(self) -> dict[str, str]:
        """Logical column name -> the name the files are scanned under (column mapping)."""
        return self.mapping.scan_names if self.mapping else {}

    @property
    def rescannable(self) -> bool:
        """Whether :attr:`dataset` can be scanned directly and more than once (no DV, no mapping)."""
        return self.dv_source is None

    def file_counts(self, condition: ds.Expression | None) -> tuple[int, int]:
        """(data files of the version, data files left after ``condition``'s statistics pruning)."""
        total = sum(1 for _ in self.dataset.get_fragments())
        if condition is None:
            return total, total
        return total, sum(1 for _ in self.dataset.get_fragments(filter=condition))


def open_table(path: str, label: str, export: str, storage_options: StorageOptions = None) -> OpenTable:
    """The Delta table at ``path`` at its current version (:class:`SourceReadError` naming ``export``).

    A table with a reader feature this engine would read wrongly is refused (:func:`.features.check`).
    """
    from deltalake import DeltaTable
    from deltalake.exceptions import DeltaError, TableNotFoundError

    # Spark writes timestamps as INT96 by default: read them as microseconds (nanoseconds would
    # overflow before 1677 and after 2262).
    read_options = ds.ParquetReadOptions(coerce_int96_timestamp_unit="us")
    dv_source: dv_scan.DvDataset | None = None
    try:
        options = resolve(storage_options)
        table = DeltaTable(path, storage_options=options)
        version = table.version()
        features.check(table, label, export)  # unknown features: refused, not misread
        mapping = column_mapping.of(table)
        if _own_scan(table, mapping):
            dv_source = dv_scan.open_dataset(table, options, read_options, mapping.scan if mapping else None)
            dataset: ds.Dataset = dv_source.dataset
        else:
            dataset = table.to_pyarrow_dataset(parquet_read_options=read_options)
    except TableNotFoundError as exc:
        raise SourceReadError(
            f"cannot read lakehouse table {label}: no Delta table at {path}", export
        ) from exc
    except (DeltaError, OSError, DeletionVectorError, ColumnMappingError) as exc:
        raise SourceReadError(f"cannot read lakehouse table {label}: {exc}", export) from exc
    return OpenTable(label, export, version, dataset, dv_source, mapping)


def stream_table(
    opened: OpenTable,
    columns: list[str],
    needed: list[str],
    condition: ds.Expression | None,
    batch_rows: int = BATCH_ROWS,
) -> pa.RecordBatchReader:
    """``columns`` (logical names) of the rows matching ``condition``, as a streaming reader.

    ``needed`` holds ``columns`` first, then the other columns ``condition`` reads.
    """
    logical, names, label, export = opened.logical, opened.names, opened.label, opened.export
    schema = pa.schema([logical.field(c) for c in columns])
    if opened.dv_source is None:
        return pa.RecordBatchReader.from_batches(
            schema, _stream(opened.dataset, schema, condition, batch_rows)
        )
    scan_needed = [names.get(c, c) for c in needed]
    try:  # every DV (and in id mode every file's field ids) checked before the writer starts
        dv_scan.verify(opened.dv_source, condition)
        if opened.mapping is not None and opened.mapping.mode == "id":
            column_mapping.check_files(opened.dataset, condition, scan_needed)
    except (DeletionVectorError, ColumnMappingError, OSError) as exc:
        raise SourceReadError(f"cannot read lakehouse table {label}: {exc}", export) from exc
    scan = _dv_stream(
        opened.dv_source, scan_needed[: len(columns)], scan_needed, condition, batch_rows, label, export
    )
    mapping = opened.mapping
    batches = scan if mapping is None else (column_mapping.rename(b, schema) for b in scan)
    return pa.RecordBatchReader.from_batches(schema, batches)


def _own_scan(table: DeltaTable, mapping: ColumnMapping | None) -> bool:
    """Whether the table is read through :mod:`.dv_scan`'s fragments rather than
    ``to_pyarrow_dataset``: deletion vectors, column mapping, or reader version 2 (which
    deltalake 1.2.1's ``to_pyarrow_dataset`` refuses even with mapping mode ``none``)."""
    protocol = table.protocol()
    return mapping is not None or protocol.min_reader_version == 2 or dv_scan.uses_deletion_vectors(table)


def _dv_stream(
    source: dv_scan.DvDataset,
    columns: list[str],
    needed: list[str],
    condition: ds.Expression | None,
    batch_rows: int,
    label: str,
    export: str,
) -> Iterator[pa.RecordBatch]:
    """:func:`.dv_scan.stream`, its failures as :class:`SourceReadError` naming export and table."""
    try:
        yield from dv_scan.stream(source, columns, needed, condition, batch_rows, READAHEAD_BATCHES)
    except (DeletionVectorError, OSError) as exc:
        raise SourceReadError(f"cannot read lakehouse table {label}: {exc}", export) from exc


def _stream(
    dataset: ds.Dataset, schema: pa.Schema, condition: ds.Expression | None, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """The rows, one row group at a time, in the dataset's file order.

    A dataset scanner reads ahead across files without bound when its consumer is slower than
    the decoder (the writer always is), so it would end up holding the table; scanning row group
    by row group keeps memory at one row group and a few batches. Row groups whose statistics
    cannot match the filter are skipped as well.
    """
    for fragment in dataset.get_fragments(filter=condition):
        parts = fragment.split_by_row_group(filter=condition, schema=dataset.schema)
        for part in parts:
            scanner = part.scanner(
                schema=dataset.schema,
                columns=schema.names,
                filter=condition,
                batch_size=batch_rows,
                batch_readahead=READAHEAD_BATCHES,
                use_threads=True,
                memory_pool=memory.pool(),
            )
            yield from scanner.to_batches()


def select_columns(schema: pa.Schema, wanted: list[str] | tuple[str, ...] | None, export: str) -> list[str]:
    """The table's column names for the config's ``source_columns`` (case-insensitive, as Spark)."""
    if not wanted:
        return list(schema.names)
    by_lower = {name.lower(): name for name in schema.names}
    missing = [c for c in wanted if c.lower() not in by_lower]
    if missing:
        raise ConfigError(
            ConfigIssue(export, "source_columns", f"not columns of the source table: {', '.join(missing)}")
        )
    return [by_lower[c.lower()] for c in wanted]


def _field(schema: pa.Schema, name: str, export: str, field_name: str) -> pa.Field:
    wanted = name.lower()
    for item in schema:
        if item.name.lower() == wanted:
            return item
    raise ConfigError(ConfigIssue(export, field_name, f"{name!r} is not a column of the source table"))


def filter_columns(plan: ExportPlan, schema: pa.Schema) -> list[str]:
    """The table's columns :func:`source_filter` reads (the incremental or period column)."""
    config, source = plan.config, plan.source
    export = config.key
    if config.extract_type == "incremental" and source.watermark not in (None, ""):
        return [_field(schema, config.incremental_column or "", export, "incremental_column").name]
    if config.extract_type == "period":
        return [_field(schema, config.period_filter_column or "", export, "period_filter_column").name]
    return []


def source_filter(
    plan: ExportPlan, schema: pa.Schema, names: dict[str, str] | None = None
) -> ds.Expression | None:
    """The plan's auto-filters as one dataset expression (None when the plan reads every row).

    ``schema`` holds the table's (logical) columns; ``names`` maps a logical column to the name
    the files are scanned under (a column-mapped table's physical name, :mod:`.column_mapping`).
    """
    names = names or {}
    config, source = plan.config, plan.source
    export = config.key
    conditions: list[ds.Expression] = []
    if config.extract_type == "incremental" and source.watermark not in (None, ""):
        column = _field(schema, config.incremental_column or "", export, "incremental_column")
        field = ds.field(names.get(column.name, column.name))
        try:
            value = typed_value(str(source.watermark), column.type)
        except ValueError as exc:
            raise ConfigError(ConfigIssue(export, "incremental_column", str(exc))) from None
        newer = field > value
        conditions.append((newer | field.is_null()) if source.drops_null_incremental else newer)
    if config.extract_type == "period":
        if source.period is None:
            raise ConfigError(ConfigIssue(export, "period_date_query", "the period dates are not known"))
        column = _field(schema, config.period_filter_column or "", export, "period_filter_column")
        scanned = ds.field(names.get(column.name, column.name))
        conditions.append(period_condition(scanned, column.type, *source.period))
    if not conditions:
        return None
    combined = conditions[0]
    for condition in conditions[1:]:
        combined = combined & condition
    return combined


def _moment(value: datetime, arrow_type: pa.DataType) -> pa.Scalar:
    """A naive datetime as a scalar of a timestamp column (wall time in the session time zone)."""
    tz = getattr(arrow_type, "tz", None)
    if tz is not None:
        from zoneinfo import ZoneInfo

        value = value.replace(tzinfo=ZoneInfo(SESSION_TIMEZONE))
    return pa.scalar(value, type=pa.timestamp("us", tz=tz))


def _bound(value: datetime, arrow_type: pa.DataType) -> pa.Scalar:
    """A period bound compared the way Spark compares it with a column of ``arrow_type``."""
    if pa.types.is_date(arrow_type) and value.time() == datetime.min.time():
        return pa.scalar(value.date(), type=pa.date32())
    if pa.types.is_timestamp(arrow_type):
        return _moment(value, arrow_type)
    if pa.types.is_date(arrow_type):
        raise ValueError(f"a period bound with a time of day ({value}) cannot compare with a date column")
    raise ValueError(f"period_filter_column must be a date or timestamp column, not {arrow_type}")


def period_condition(
    field: ds.Expression, arrow_type: pa.DataType, start: datetime, end: datetime
) -> ds.Expression:
    """``field >= start AND field < end + 1 day`` (end at midnight) or ``BETWEEN start AND end``.

    The same rule as :func:`fabgen_runtime.sql.period_filter`, on typed scalars.
    """
    if end.time() == datetime.min.time():
        after = end + timedelta(days=1)
        return (field >= _bound(start, arrow_type)) & (field < _bound(after, arrow_type))
    return (field >= _bound(start, arrow_type)) & (field <= _bound(end, arrow_type))


def _exact_number(number: Decimal, arrow_type: pa.DataType, text: str) -> pa.Scalar:
    """``col > number`` for an integer or decimal column, as a scalar of the column's own type.

    The column only holds multiples of its unit (1, or 10^-scale), so ``col > number`` is exactly
    ``col > floor(number)`` at that unit: no common type with more digits than 38 is needed.
    """
    scale = arrow_type.scale if pa.types.is_decimal(arrow_type) else 0
    floor = number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_FLOOR, context=Context(prec=80))
    try:
        if pa.types.is_integer(arrow_type):
            return pa.scalar(int(floor), type=pa.int64())
        return pa.scalar(floor, type=arrow_type)
    except (pa.ArrowInvalid, OverflowError):
        raise ValueError(f"watermark {text!r} is out of the range of a {arrow_type} column") from None


def typed_value(text: str, arrow_type: pa.DataType) -> Any:
    """The watermark text as a value of the incremental column's type (``ValueError`` on a mismatch).

    Numbers compare as numbers, ISO dates and timestamps as dates and timestamps, anything else as
    a string: the rules of :func:`fabgen_runtime.sql.typed_literal`, driven by the column's actual
    type rather than the stored one.
    """
    value = text.strip()
    if pa.types.is_integer(arrow_type) or pa.types.is_decimal(arrow_type) or pa.types.is_floating(arrow_type):
        if not NUMBER.match(value):
            raise ValueError(f"watermark {text!r} is not a number but the column is {arrow_type}")
        if pa.types.is_floating(arrow_type):
            return pa.scalar(float(value), type=pa.float64())
        return _exact_number(Decimal(value), arrow_type, text)
    if pa.types.is_date(arrow_type):
        if ISO_DATE.match(value):
            return pa.scalar(date.fromisoformat(value), type=pa.date32())
        if ISO_TIMESTAMP.match(value):
            moment = parse_timestamp(value)
            if moment.time() == datetime.min.time():
                return pa.scalar(moment.date(), type=pa.date32())
            raise ValueError(f"watermark {text!r} has a time of day but the column is a date")
        raise ValueError(f"watermark {text!r} is not an ISO date (YYYY-MM-DD) but the column is a date")
    if pa.types.is_timestamp(arrow_type):
        if ISO_TIMESTAMP.match(value):
            return _moment(parse_timestamp(value), arrow_type)
        if ISO_DATE.match(value):
            return _moment(datetime.fromisoformat(value), arrow_type)
        raise ValueError(f"watermark {text!r} is not an ISO timestamp but the column is a timestamp")
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return pa.scalar(text, type=pa.string())
    raise ValueError(f"an incremental_column of type {arrow_type} is not supported by the python engine")
