"""Reading a Delta table with deletion vectors: delta-rs's fragments, our DVs, rows dropped by position.

delta-rs (1.2.1 and 1.6.6) loads such a table but its ``to_pyarrow_dataset`` refuses it. This
module builds the same dataset ``to_pyarrow_dataset`` would: one Parquet fragment per live data
file, with the partition values and min/max statistics delta-rs computes for it as the fragment's
guarantee (``RawDeltaTable.dataset_partitions``, the call ``to_pyarrow_dataset`` itself makes),
over delta-rs's own filesystem (``DeltaStorageHandler``: the table's storage options, so OneLake's
bearer token on Fabric). Each file's deletion vector comes from :mod:`.delta_log` and
:mod:`.deletion_vectors`; the live files of both must agree.

:func:`stream` reads each file row group by row group, as the plain path does, keeps a running
row position (row groups skipped by statistics count through their metadata's ``num_rows``), drops
the rows whose position the DV holds, and only then applies the filter. Memory: one row group's
batches and one file's deleted positions (``uint64``, 8 bytes per deleted row).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pa_fs

from . import delta_log, memory
from .deletion_vectors import DeletionVectorError, Descriptor, Rows, deleted_rows

if TYPE_CHECKING:
    from deltalake import DeltaTable

READER_FEATURE = "deletionVectors"


@dataclass
class DvDataset:
    """The table's dataset and what is needed to apply its deletion vectors."""

    dataset: ds.FileSystemDataset
    filesystem: pa_fs.FileSystem  # rooted at the table folder
    table_uri: str
    vectors: dict[str, Descriptor | None]  # fragment path -> its DV (None: no row deleted)


def uses_deletion_vectors(table: DeltaTable) -> bool:
    """True when the table's protocol lists the ``deletionVectors`` reader feature."""
    return READER_FEATURE in (table.protocol().reader_features or [])


def _file_sizes(table: DeltaTable) -> dict[str, int]:
    """Each live file's size by its decoded relative path, as ``to_pyarrow_dataset`` hands its
    filesystem (no size request per file opened)."""
    actions = pa.table(table.get_add_actions(flatten=True)).select(["path", "size_bytes"])
    paths, sizes = actions.column(0).to_pylist(), actions.column(1).to_pylist()
    return {unquote(path): int(size) for path, size in zip(paths, sizes, strict=True)}


def open_dataset(
    table: DeltaTable,
    storage_options: dict[str, str] | None,
    read_options: ds.ParquetReadOptions,
    schema: pa.Schema | None = None,
) -> DvDataset:
    """The dataset ``to_pyarrow_dataset`` would build, and each file's deletion vector.

    ``schema`` is the schema the files are read with (default: the table's; a column-mapped
    table's scan schema, :mod:`.column_mapping`). A table without the ``deletionVectors`` reader
    feature gets no log replay: every file's DV is None. Raises :class:`DeletionVectorError` when
    this deltalake lacks the fragment call, or when the log replay's live files differ from
    delta-rs's.
    """
    from deltalake.fs import DeltaStorageHandler

    partitions = getattr(getattr(table, "_table", None), "dataset_partitions", None)
    if partitions is None:
        raise DeletionVectorError("this deltalake version has no RawDeltaTable.dataset_partitions")
    filesystem = pa_fs.PyFileSystem(DeltaStorageHandler(table.table_uri, storage_options, _file_sizes(table)))
    schema = schema if schema is not None else pa.schema(table.schema().to_arrow())
    file_format = ds.ParquetFileFormat(
        read_options=read_options,
        default_fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=True),
    )
    fragments = [
        file_format.make_fragment(path, filesystem=filesystem, partition_expression=expression)
        for path, expression in partitions(schema, None)
    ]
    paths = {fragment.path for fragment in fragments}
    if not uses_deletion_vectors(table):
        vectors: dict[str, Descriptor | None] = dict.fromkeys(paths)
    else:
        vectors = delta_log.deletion_vectors(filesystem, table.version())
    if paths != set(vectors):
        odd = sorted(paths.symmetric_difference(vectors))[:3]
        raise DeletionVectorError(f"the Delta log replay and delta-rs disagree on the live files ({odd})")
    dataset = ds.FileSystemDataset(fragments, schema, file_format, filesystem)
    return DvDataset(dataset, filesystem, table.table_uri, vectors)


def verify(source: DvDataset, condition: ds.Expression | None) -> int:
    """Decode (and so check) the DV of every file the read will scan; the number of DVs checked.

    Run before the rows are streamed, so a DV that fails its checks stops the export before any
    file is written. Each decoded DV is dropped at once (memory: one DV at a time).
    """
    checked = 0
    for fragment in source.dataset.get_fragments(filter=condition):
        descriptor = source.vectors[fragment.path]
        if descriptor is not None:
            deleted_rows(descriptor, source.filesystem, source.table_uri)
            checked += 1
    return checked


def _kept(deleted: Rows, start: int, count: int) -> pa.Array:
    """The keep mask of rows ``start .. start + count - 1`` of a file."""
    low, high = np.searchsorted(deleted, [start, start + count])
    mask = np.ones(count, dtype=bool)
    mask[(deleted[low:high] - np.uint64(start)).astype(np.int64)] = False
    return pa.array(mask)


def _row_group_starts(fragment: ds.ParquetFileFragment) -> list[int]:
    """The first row position of each row group, and the file's row count last."""
    metadata = fragment.metadata
    starts = [0]
    for index in range(metadata.num_row_groups):
        starts.append(starts[-1] + metadata.row_group(index).num_rows)
    return starts


def stream(
    source: DvDataset,
    columns: list[str],
    needed: list[str],
    condition: ds.Expression | None,
    batch_rows: int,
    readahead: int,
) -> Iterator[pa.RecordBatch]:
    """The live rows, ``columns`` only, filtered by ``condition`` after the deleted rows are dropped.

    ``needed`` is ``columns`` plus the columns ``condition`` reads.
    """
    schema = source.dataset.schema
    for fragment in source.dataset.get_fragments(filter=condition):
        descriptor = source.vectors[fragment.path]
        deleted = (
            None if descriptor is None else deleted_rows(descriptor, source.filesystem, source.table_uri)
        )
        starts = _row_group_starts(fragment)
        if deleted is not None and len(deleted) and int(deleted[-1]) >= starts[-1]:
            raise DeletionVectorError(
                f"the deletion vector of {fragment.path} deletes row {deleted[-1]} of {starts[-1]}"
            )
        for part in fragment.split_by_row_group(filter=condition, schema=schema):
            (group,) = part.row_groups
            position = starts[group.id]
            scanner = part.scanner(
                schema=schema,
                columns=needed if deleted is not None else columns,
                filter=None if deleted is not None else condition,
                batch_size=batch_rows,
                batch_readahead=readahead,
                use_threads=True,
                memory_pool=memory.pool(),
            )
            for batch in scanner.to_batches():
                if deleted is None:
                    yield batch
                    continue
                rows = pa.Table.from_batches([batch]).filter(_kept(deleted, position, batch.num_rows))
                position += batch.num_rows
                if condition is not None:
                    rows = rows.filter(condition)
                yield from rows.select(columns).to_batches()
            if deleted is not None and position != starts[group.id + 1]:
                raise DeletionVectorError(
                    f"{fragment.path} row group {group.id}: read {position - starts[group.id]} rows, "
                    f"its metadata says {starts[group.id + 1] - starts[group.id]}"
                )
