"""Read what the notebooks wrote, and their sources, with tools independent of Spark.

- :func:`count_rows`: rows of an exported file: csv (header or not, any separator and line ending,
  quoted newlines), JSON lines, parquet (any embedded codec), each plain or compressed as gzip (all
  members), zip (every entry), brotli or zstd (all frames).
- :func:`read_delta`: a Delta table as a pyarrow Table, from its transaction log and parquet files.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq
from writer_support import decompress

DATA_SUFFIXES = (".csv", ".json", ".parquet")
COMPRESSED_SUFFIXES = (".gz", ".zip", ".br", ".zst")
SINGLE_FILE_CODECS = {".gz": "gzip", ".zst": "zstd", ".br": "brotli"}


def _payloads(path: Path) -> Iterator[tuple[str, bytes]]:
    """(inner name, bytes) of each data file in ``path`` (one, or every zip entry)."""
    data = path.read_bytes()
    name = path.name
    if name.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    yield info.filename, archive.read(info)
    elif name.endswith(tuple(SINGLE_FILE_CODECS)):
        # every gzip member and every zstd frame (pieces compressed in parallel), checked by the tool
        suffix = next(s for s in SINGLE_FILE_CODECS if name.endswith(s))
        yield name[: -len(suffix)], decompress(path, SINGLE_FILE_CODECS[suffix])
    else:
        yield name, data


def count_rows(path: Path, file_format: str, options: Mapping[str, str] | None = None) -> int:
    """Data rows in one exported file (header lines not counted)."""
    options = options or {}
    total = 0
    for _name, data in _payloads(path):
        if file_format == "parquet":
            total += pq.ParquetFile(io.BytesIO(data)).metadata.num_rows
        elif file_format == "json":
            lines = data.decode(options.get("encoding", "utf-8")).splitlines()
            total += sum(1 for line in lines if line.strip())
        elif file_format == "csv":
            text = data.decode(options.get("encoding", "utf-8"))
            reader = csv.reader(
                io.StringIO(text, newline=""),
                delimiter=options.get("sep", options.get("delimiter", ",")),
                quotechar=options.get("quote", '"') or '"',
                escapechar=options.get("escape", "\\") or None,
            )
            rows = sum(1 for row in reader if row)
            header = options.get("header", "false").lower() == "true"
            total += rows - (1 if header and rows else 0)
        else:
            raise ValueError(f"unknown format {file_format!r}")
    return total


def is_data_file(path: Path) -> bool:
    """True for an exported data file (not a trigger file, not staging or hidden)."""
    name = path.name
    for suffix in COMPRESSED_SUFFIXES:
        if name.endswith(suffix) and suffix != ".zip":
            name = name[: -len(suffix)]
    return name.endswith(DATA_SUFFIXES) or path.name.endswith(".zip")


def read_delta(table: Path) -> pa.Table:
    """The current snapshot of the (unpartitioned) Delta table at ``table``.

    Replays ``_delta_log``: the last checkpoint when there is one, then every later JSON commit
    (``add`` and ``remove`` actions). Deletion vectors are refused rather than misread.
    """
    log = table / "_delta_log"
    files: dict[str, dict] = {}
    first = 0
    last = log / "_last_checkpoint"
    if last.exists():
        version = json.loads(last.read_text())["version"]
        checkpoint = pq.read_table(log / f"{version:020d}.checkpoint.parquet").to_pylist()
        for action in checkpoint:
            if action.get("add"):
                files[action["add"]["path"]] = action["add"]
        first = version + 1
    for commit in sorted(log.glob("*.json")):
        if int(commit.stem) < first:
            continue
        for line in commit.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                files[action["add"]["path"]] = action["add"]
            elif "remove" in action:
                files.pop(action["remove"]["path"], None)
    for add in files.values():
        if add.get("deletionVector") or add.get("partitionValues"):
            raise ValueError(f"{table}: deletion vectors and partitions are not supported by this reader")
    tables = [_normalised(pq.read_table(table / unquote(path))) for path in sorted(files)]
    return pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})


def _normalised(data: pa.Table) -> pa.Table:
    """One data file's columns in one type per Delta type, whichever engine wrote it: Spark writes
    ``string`` and INT96 timestamps (read as ``timestamp[ns]``), delta-rs ``string_view`` and
    ``timestamp[us, UTC]``; strings become ``string`` and timestamps naive UTC microseconds."""
    columns = []
    for column in data.columns:
        kind = column.type
        if pa.types.is_string_view(kind) or pa.types.is_large_string(kind):
            column = column.cast(pa.string())
        elif pa.types.is_list(kind) and (
            pa.types.is_string_view(kind.value_type) or pa.types.is_large_string(kind.value_type)
        ):
            column = column.cast(pa.list_(pa.string()))
        elif pa.types.is_timestamp(kind):
            column = column.cast(pa.timestamp(kind.unit)).cast(pa.timestamp("us"))
        columns.append(column)
    return pa.table(columns, names=data.column_names)
