"""Column mapping: a Delta table whose data files name its columns by physical name (or field id).

With ``delta.columnMapping.mode`` ``name`` or ``id`` (reader version 2, or the ``columnMapping``
reader feature at 3) every schema field, nested struct fields included, carries
``delta.columnMapping.physicalName`` and ``delta.columnMapping.id`` in its metadata. The data
files store each column under its physical name (``col-<uuid>`` for columns Spark created with
mapping on; the old name for columns that existed when mapping was enabled), and a rename or a
DROP COLUMN changes only the schema: old files keep the old physical names. In ``id`` mode the
reader must match Parquet field ids; Spark writes the physical names too, so this module reads by
physical name and checks each file's field ids against the schema (:func:`check_field_ids`),
refusing a file whose ids and names disagree rather than guessing.

delta-rs (1.2.1 and 1.6.6) gives the schema with that metadata (``DeltaTable.schema().to_arrow()``),
min/max statistics keyed by physical name, and partition values keyed by the *logical* partition
column name (``RawDeltaTable.dataset_partitions`` refuses a schema in which a partition column
has its physical name). So :func:`of` builds the **scan schema** the fragments are read with:
data columns (and their nested struct fields) under physical names, partition columns under
their logical names. Filters and column selections are translated to scan names
(:attr:`ColumnMapping.scan_names`); batches are renamed back to the logical schema by
:func:`rename` (a zero-copy ``Array.view`` per column: same layout, logical field names).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.dataset as ds

from ...errors import SourceReadError

if TYPE_CHECKING:
    from deltalake import DeltaTable

MODE = "delta.columnMapping.mode"
MODES = ("none", "name", "id")
PHYSICAL_NAME = b"delta.columnMapping.physicalName"
FIELD_ID = b"delta.columnMapping.id"
PARQUET_FIELD_ID = b"PARQUET:field_id"


class ColumnMappingError(SourceReadError):
    """A column-mapped table (or one of its files) this engine cannot read correctly."""


@dataclass(frozen=True)
class ColumnMapping:
    """How a column-mapped table's files are read and renamed back."""

    mode: str  # "name" or "id"
    logical: pa.Schema  # the table's schema as the export sees it (no column-mapping metadata)
    scan: pa.Schema  # the schema the fragments are read with (physical names; partitions logical)
    scan_names: dict[str, str]  # top-level logical name -> scan name


def mode_of(configuration: Mapping[str, str | None]) -> str:
    """The table's column mapping mode, lower case (``none`` when the property is absent)."""
    return (configuration.get(MODE) or "none").strip().lower()


def _mapped(data_type: pa.DataType, rename: bool, path: str) -> pa.DataType:
    """``data_type`` with its nested fields mapped (physical names when ``rename``, else logical).

    Struct fields are named (and mapped); list elements and map keys/values are unnamed in Delta
    and keep their Arrow names, their own nested structs mapped.
    """
    if pa.types.is_struct(data_type):
        return pa.struct([_field(data_type.field(i), rename, path) for i in range(data_type.num_fields)])
    if pa.types.is_map(data_type):
        key = _field(data_type.key_field, rename, path, named=False)
        item = _field(data_type.item_field, rename, path, named=False)
        return pa.map_(key, item, keys_sorted=data_type.keys_sorted)
    if pa.types.is_large_list(data_type):
        return pa.large_list(_field(data_type.value_field, rename, path, named=False))
    if pa.types.is_fixed_size_list(data_type):
        return pa.list_(_field(data_type.value_field, rename, path, named=False), data_type.list_size)
    if pa.types.is_list(data_type):
        return pa.list_(_field(data_type.value_field, rename, path, named=False))
    return data_type


def _plain_metadata(field: pa.Field) -> dict[bytes, bytes] | None:
    """The field's metadata without the column-mapping keys (None when nothing is left)."""
    kept = {k: v for k, v in (field.metadata or {}).items() if not k.startswith(b"delta.columnMapping.")}
    return kept or None


def physical_name(field: pa.Field, path: str) -> str:
    """The field's ``delta.columnMapping.physicalName`` (``ColumnMappingError`` when it has none)."""
    name = (field.metadata or {}).get(PHYSICAL_NAME)
    if not name:
        raise ColumnMappingError(f"column {path} has no {PHYSICAL_NAME.decode()} in the table's schema")
    return str(name.decode("utf-8"))


def _field(field: pa.Field, rename: bool, parent: str, named: bool = True) -> pa.Field:
    """One field, mapped: under its physical name (``rename``) or its logical one, metadata kept
    on physical fields (the ids :func:`check_field_ids` needs) and dropped from logical ones."""
    path = f"{parent}.{field.name}" if parent and named else parent or field.name
    name = physical_name(field, path) if rename and named else field.name
    data_type = _mapped(field.type, rename, path)
    metadata = field.metadata if rename else _plain_metadata(field)
    return pa.field(name, data_type, field.nullable, metadata)


def of(table: DeltaTable) -> ColumnMapping | None:
    """The table's column mapping (None for mode ``none``); ``ColumnMappingError`` for a mode
    this engine does not know or a field without a physical name."""
    configuration = table.metadata().configuration or {}
    mode = mode_of(configuration)
    if mode == "none":
        return None
    if mode not in MODES:
        raise ColumnMappingError(f"unknown column mapping mode {mode!r} ({MODE})")
    schema = pa.schema(table.schema().to_arrow())
    return build(mode, schema, table.metadata().partition_columns)


def build(mode: str, schema: pa.Schema, partition_columns: Iterable[str]) -> ColumnMapping:
    """The mapping of a table schema (delta-rs's arrow schema, with column-mapping metadata)."""
    partitions = set(partition_columns)
    logical = pa.schema([_field(f, False, "") for f in schema])
    scan_fields = [f if f.name in partitions else _field(f, True, "") for f in schema]
    scan = pa.schema(scan_fields)
    names = scan.names
    if len(set(names)) != len(names):
        raise ColumnMappingError(f"two columns share a name in the files: {sorted(names)}")
    return ColumnMapping(mode, logical, scan, dict(zip(schema.names, names, strict=True)))


def rename(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` (scan names, in ``schema``'s order) under ``schema``'s logical names (zero copy)."""
    arrays = [column.view(field.type) for column, field in zip(batch.columns, schema, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _file_id(field: pa.Field) -> int | None:
    raw = (field.metadata or {}).get(PARQUET_FIELD_ID)
    return int(raw) if raw else None


def _children(data_type: pa.DataType) -> list[pa.Field]:
    if pa.types.is_struct(data_type):
        return [data_type.field(i) for i in range(data_type.num_fields)]
    if pa.types.is_map(data_type):
        return [data_type.key_field, data_type.item_field]
    if (
        pa.types.is_list(data_type)
        or pa.types.is_large_list(data_type)
        or pa.types.is_fixed_size_list(data_type)
    ):
        return [data_type.value_field]
    return []


def check_field_ids(file_fields: list[pa.Field], wanted: list[pa.Field], where: str) -> None:
    """``id`` mode: each wanted field found by physical name in the file has the schema's field id,
    and no file field holds a wanted id under another name (nested fields too).

    ``ColumnMappingError`` names the file and the column otherwise: reading by name would then read
    another column's values (or NULLs) where the protocol says to read by id.
    """
    by_name = {f.name: f for f in file_fields}
    by_id = {i: f for f in file_fields if (i := _file_id(f)) is not None}
    for field in wanted:
        raw = (field.metadata or {}).get(FIELD_ID)
        if raw is None:
            continue  # a partition column (not in the file) or an unnamed list/map child
        expected = int(raw)
        found = by_name.get(field.name)
        holder = by_id.get(expected)
        if found is not None and _file_id(found) not in (None, expected):
            raise ColumnMappingError(
                f"{where}: column {field.name} has field id {_file_id(found)}, "
                f"the table's schema says {expected}"
            )
        if holder is not None and holder.name != field.name:
            raise ColumnMappingError(
                f"{where}: field id {expected} is stored as {holder.name!r}, not under its physical name "
                f"{field.name!r} (files keyed by field id only are not read by the python engine)"
            )
        if found is not None:
            check_field_ids(_children(found.type), _children(field.type), where)


def check_files(dataset: ds.Dataset, condition: ds.Expression | None, scan_columns: list[str]) -> int:
    """``id`` mode: :func:`check_field_ids` on the footer of every file the read will scan (its
    ``scan_columns``); the number of files checked. Run before the rows are streamed."""
    wanted = [dataset.schema.field(name) for name in scan_columns]
    checked = 0
    for fragment in dataset.get_fragments(filter=condition):
        check_field_ids(list(fragment.physical_schema), wanted, fragment.path)
        checked += 1
    return checked
