"""Column-mapped Delta tables written from the Delta protocol, without a JVM (for the Python
engine's tests): a hand-written ``_delta_log`` (protocol 2/5, ``delta.columnMapping.*`` field
metadata, a RENAME and a DROP + ADD COLUMN as later metaData actions) and Parquet files under
physical names with field ids, statistics and partition values keyed by physical name, as Spark
writes them (docs/python-engine.md, "Column mapping")."""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


def _schema_field(name: str, kind: Any, physical: str, field_id: int) -> dict[str, Any]:
    metadata = {"delta.columnMapping.id": field_id, "delta.columnMapping.physicalName": physical}
    return {"name": name, "type": kind, "nullable": True, "metadata": metadata}


def _metadata(fields: list[dict[str, Any]], mode: str, table_id: str) -> dict[str, Any]:
    return {
        "metaData": {
            "id": table_id,
            "format": {"provider": "parquet", "options": {}},
            "schemaString": json.dumps({"type": "struct", "fields": fields}),
            "partitionColumns": ["re gion"],
            "configuration": {"delta.columnMapping.mode": mode, "delta.columnMapping.maxColumnId": "9"},
            "createdTime": 1,
        }
    }


def _add(root: Path, rel: str, data: pa.Table, region: str) -> dict[str, Any]:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(data, root / rel)
    stats = {
        "numRecords": data.num_rows,
        "minValues": {c: min(data.column(c).to_pylist()) for c in data.column_names if c != "col-2"},
        "maxValues": {c: max(data.column(c).to_pylist()) for c in data.column_names if c != "col-2"},
        "nullCount": {c: {"col-3": 0} if c == "col-2" else 0 for c in data.column_names},
    }
    add = {
        "path": rel,
        "partitionValues": {"col-9": region},
        "size": (root / rel).stat().st_size,
        "modificationTime": 1,
        "dataChange": True,
        "stats": json.dumps(stats, default=str),
    }
    return {"add": add}


def _ids(fields: dict[str, tuple[pa.DataType, int]], rows: dict[str, list[Any]], nested: bool) -> pa.Table:
    """Parquet columns with field ids (``col-2``, the struct, left out unless ``nested``)."""
    schema = pa.schema(
        [
            pa.field(n, t, True, {b"PARQUET:field_id": str(i).encode()})
            for n, (t, i) in fields.items()
            if nested or n != "col-2"
        ]
    )
    return pa.table({n: rows[n] for n in schema.names}, schema=schema)


def write_mapped_table(
    root: Path, mode: str, stray_id: bool = False, id_name: str = "order_id", nested: bool = True
) -> None:
    """A column-mapped table at ``root``: ids 1..40 (column ``id_name``) in two partitions of
    ``re gion``; ``note`` renamed to ``re mark``; ``day`` dropped and re-added (old files keep
    ``col-4``, the new ``day`` is ``col-5``); ``addr`` a struct (``zip code``) unless not ``nested``.
    ``stray_id``: the last file's ``col-1`` and ``col-6`` carry each other's field ids."""
    log = root / "_delta_log"
    log.mkdir(parents=True)
    table_id = str(uuid.uuid4())
    base = [
        _schema_field(id_name, "long", "col-1", 1),
        _schema_field(
            "addr",
            {"type": "struct", "fields": [_schema_field("zip code", "string", "col-3", 3)]},
            "col-2",
            2,
        ),
        _schema_field("re gion", "string", "col-9", 9),
    ]
    if not nested:
        base = [f for f in base if f["name"] != "addr"]
    first = [*base, _schema_field("note", "string", "col-6", 6), _schema_field("day", "date", "col-4", 4)]
    later = [*base, _schema_field("re mark", "string", "col-6", 6), _schema_field("day", "date", "col-5", 5)]
    protocol = {"protocol": {"minReaderVersion": 2, "minWriterVersion": 5}}
    commits: list[list[dict[str, Any]]] = [[protocol, _metadata(first, mode, table_id)]]
    old = {"col-1": (pa.int64(), 1), "col-2": (pa.struct([pa.field("col-3", pa.string())]), 2)}
    old |= {"col-6": (pa.string(), 6), "col-4": (pa.date32(), 4)}
    for part, region in ((0, "east"), (1, "we st")):
        ids = list(range(1 + part * 10, 11 + part * 10))
        rows = {"col-1": ids, "col-2": [{"col-3": f"z{i}"} for i in ids], "col-6": [f"n{i}" for i in ids]}
        data = _ids(old, rows | {"col-4": [date(2024, 1, i) for i in ids]}, nested)
        commits.append([_add(root, f"p{part}/old.parquet", data, region)])
    commits.append([_metadata(later, mode, table_id)])  # RENAME COLUMN note; DROP + ADD COLUMN day
    new = {
        "col-1": (pa.int64(), 1),
        "col-2": old["col-2"],
        "col-6": (pa.string(), 6),
        "col-5": (pa.date32(), 5),
    }
    if stray_id:  # a file whose col-6 carries the id of col-1
        new = {
            "col-1": (pa.int64(), 6),
            "col-2": old["col-2"],
            "col-6": (pa.string(), 1),
            "col-5": (pa.date32(), 5),
        }
    ids = list(range(21, 41))
    rows = {"col-1": ids, "col-2": [{"col-3": f"z{i}"} for i in ids], "col-6": [f"n{i}" for i in ids]}
    data = _ids(new, rows | {"col-5": [date(2025, 5, 1 + i % 28) for i in ids]}, nested)
    commits.append([_add(root, "p1/new.parquet", data, "we st")])
    for version, actions in enumerate(commits):
        text = "".join(json.dumps(a) + "\n" for a in actions)
        (log / f"{version:020d}.json").write_text(text, encoding="utf-8")
