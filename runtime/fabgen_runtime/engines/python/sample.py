"""The first rows of a lakehouse table, read as an export reads it (``fabgen local load --env E``).

:func:`sample` opens the Delta table at ``path`` with delta-rs (``storage_options``: OneLake's bearer
token), refuses what the Python engine would read wrongly (:mod:`.features`), and reads live rows in
the table's file order until it has ``limit``: through :mod:`.dv_scan` for a table with deletion
vectors, column mapping or reader version 2 (each file's deleted rows dropped, physical names renamed
back to the logical ones by :mod:`.column_mapping`), else through delta-rs's pyarrow dataset. The rows
keep the table's Arrow types (Spark's INT96 timestamps as microseconds); :class:`Sample` also carries
what a copy needs to keep the table's shape: its partition columns and column mapping mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.dataset as ds

from ...errors import SourceReadError
from . import column_mapping, dv_scan, features
from .column_mapping import ColumnMappingError
from .deletion_vectors import DeletionVectorError
from .onelake import StorageOptions, resolve

if TYPE_CHECKING:
    from deltalake import DeltaTable

BATCH_ROWS = 64 * 1024


@dataclass(frozen=True)
class Sample:
    """Rows of a table and the shape of the table they came from."""

    rows: pa.Table  # logical names, the table's Arrow types
    version: int  # the table version read
    partition_columns: list[str]
    column_mapping_mode: str  # "none", "name" or "id"
    rows_in_table: int | None  # live rows of that version, when delta-rs's statistics give it


def _own_scan(table: DeltaTable, mapping: column_mapping.ColumnMapping | None) -> bool:
    protocol = table.protocol()
    return mapping is not None or protocol.min_reader_version == 2 or dv_scan.uses_deletion_vectors(table)


def _count(table: DeltaTable) -> int | None:
    """Live rows from the add actions' statistics (None when a file has none, or rows are deleted)."""
    if dv_scan.uses_deletion_vectors(table):
        return None
    actions = pa.table(table.get_add_actions(flatten=True))
    if "num_records" not in actions.column_names:
        return None
    counts = actions.column("num_records").to_pylist()
    return None if any(c is None for c in counts) else int(sum(counts))


def sample(path: str, limit: int, storage_options: StorageOptions = None, label: str = "") -> Sample:
    """Up to ``limit`` live rows of the table at ``path``, in file order (:class:`SourceReadError`
    naming ``label`` when the table cannot be read)."""
    from deltalake import DeltaTable
    from deltalake.exceptions import DeltaError, TableNotFoundError

    label = label or path
    read_options = ds.ParquetReadOptions(coerce_int96_timestamp_unit="us")
    try:
        options = resolve(storage_options)
        table = DeltaTable(path, storage_options=options)
        features.check(table, label, label)
        mapping = column_mapping.of(table)
        if _own_scan(table, mapping):
            source = dv_scan.open_dataset(table, options, read_options, mapping.scan if mapping else None)
            schema = mapping.logical if mapping else source.dataset.schema
            names = source.dataset.schema.names
            batches = dv_scan.stream(source, names, names, None, BATCH_ROWS, 2)
            if mapping is not None:
                batches = (column_mapping.rename(b, schema) for b in batches)
        else:
            dataset = table.to_pyarrow_dataset(parquet_read_options=read_options)
            schema = dataset.schema
            batches = iter(dataset.to_batches(batch_size=BATCH_ROWS))
        kept: list[pa.RecordBatch] = []
        have = 0
        for batch in batches:
            if have >= limit:
                break
            kept.append(batch.slice(0, limit - have))
            have += kept[-1].num_rows
        rows = pa.Table.from_batches(kept, schema=schema)
        metadata = table.metadata()
        return Sample(
            rows,
            table.version(),
            list(metadata.partition_columns),
            column_mapping.mode_of(metadata.configuration or {}),
            _count(table),
        )
    except TableNotFoundError as exc:
        raise SourceReadError(f"cannot read lakehouse table {label}: no Delta table at {path}") from exc
    except (DeltaError, OSError, DeletionVectorError, ColumnMappingError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SourceReadError(f"cannot read lakehouse table {label}: {first}") from exc
