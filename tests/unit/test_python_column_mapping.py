"""Column-mapped Delta tables in the Python engine (:mod:`fabgen_runtime.engines.python.column_mapping`),
without a JVM; also run by ``scripts/compat-python-notebook.sh`` on deltalake 1.2.1.

The name mapping itself (schema metadata -> physical names, nested structs inside structs, lists
and maps; partition columns kept logical; metadata dropped from the logical schema), the zero-copy
rename back, the field-id check of ``id`` mode, and whole reads of tables written here from the
Delta protocol (``_delta_log`` JSON by hand, Parquet files under physical names with field ids,
statistics and partition values keyed by physical name, a column renamed, one dropped and
re-added): logical names out, filter and partition pruning on physical names, ``id``-mode files
whose ids disagree refused. Spark-written tables: tests/integration/test_python_engine_column_mapping.py.
"""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from column_mapping_support import write_mapped_table
from fabgen_runtime import platform
from fabgen_runtime.engines.python import read as python_read
from fabgen_runtime.engines.python.column_mapping import (
    ColumnMappingError,
    build,
    check_field_ids,
    rename,
)
from fabgen_runtime.engines.python.features import unreadable
from fabgen_runtime.errors import SourceReadError
from writer_support import make_plan, unique_lakehouse

PN, ID = b"delta.columnMapping.physicalName", b"delta.columnMapping.id"


def _f(name: str, data_type: pa.DataType, physical: str, field_id: int) -> pa.Field:
    return pa.field(name, data_type, True, {PN: physical.encode(), ID: str(field_id).encode()})


NESTED = pa.schema(
    [
        _f("order id", pa.int64(), "col-1", 1),
        _f(
            "addr",
            pa.struct([_f("zip code", pa.string(), "col-3", 3), _f("city", pa.string(), "col-4", 4)]),
            "col-2",
            2,
        ),
        _f("items", pa.list_(pa.field("element", pa.struct([_f("k", pa.int64(), "col-6", 6)]))), "col-5", 5),
        _f("tags", pa.map_(pa.string(), pa.struct([_f("v w", pa.string(), "col-8", 8)])), "col-7", 7),
        _f("re gion", pa.string(), "col-9", 9),
    ]
)


def test_build_maps_nested_fields_and_keeps_partition_columns_logical() -> None:
    mapping = build("name", NESTED, ["re gion"])
    assert mapping.scan.names == ["col-1", "col-2", "col-5", "col-7", "re gion"]
    assert [f.name for f in mapping.scan.field("col-2").type] == ["col-3", "col-4"]
    assert mapping.scan.field("col-5").type.value_type.field(0).name == "col-6"
    assert mapping.scan.field("col-7").type.item_type.field(0).name == "col-8"
    assert mapping.scan_names == {
        "order id": "col-1",
        "addr": "col-2",
        "items": "col-5",
        "tags": "col-7",
        "re gion": "re gion",
    }
    assert mapping.logical.names == NESTED.names
    assert [f.name for f in mapping.logical.field("addr").type] == ["zip code", "city"]
    assert all(f.metadata is None for f in mapping.logical)
    assert mapping.logical.field("addr").type.field(0).metadata is None


def test_rename_views_scan_batches_under_logical_names() -> None:
    mapping = build("name", NESTED, ["re gion"])
    rows = [
        {
            "col-1": 1,
            "col-2": {"col-3": "1 0", "col-4": None},
            "col-5": [{"col-6": 7}, None],
            "col-7": [("a", {"col-8": "x"})],
            "re gion": "east",
        },
        {"col-1": None, "col-2": None, "col-5": None, "col-7": None, "re gion": None},
    ]
    batch = pa.RecordBatch.from_pylist(rows, schema=mapping.scan)
    out = rename(batch, mapping.logical)
    assert out.schema == mapping.logical
    assert out.to_pylist() == [
        {
            "order id": 1,
            "addr": {"zip code": "1 0", "city": None},
            "items": [{"k": 7}, None],
            "tags": [("a", {"v w": "x"})],
            "re gion": "east",
        },
        {"order id": None, "addr": None, "items": None, "tags": None, "re gion": None},
    ]


def test_a_field_without_physical_name_is_refused() -> None:
    schema = pa.schema([_f("a", pa.struct([pa.field("b", pa.int32())]), "col-1", 1)])
    with pytest.raises(ColumnMappingError, match=r"column a\.b has no delta\.columnMapping\.physicalName"):
        build("name", schema, [])


def test_field_ids_of_id_mode() -> None:
    wanted = list(build("id", NESTED, ["re gion"]).scan)[:2]
    good = [
        pa.field(f.name, f.type, True, {b"PARQUET:field_id": str(i + 1).encode()})
        for i, f in enumerate(wanted)
    ]
    check_field_ids(good, wanted, "f.parquet")  # nested ids absent in the file: nothing to contradict
    check_field_ids([], wanted, "f.parquet")  # columns added later: NULL, as Spark reads them
    wrong_id = [pa.field("col-1", pa.int64(), True, {b"PARQUET:field_id": b"9"})]
    with pytest.raises(ColumnMappingError, match=r"f\.parquet: column col-1 has field id 9"):
        check_field_ids(wrong_id, wanted, "f.parquet")
    moved = [pa.field("old name", pa.int64(), True, {b"PARQUET:field_id": b"1"})]
    with pytest.raises(ColumnMappingError, match="field id 1 is stored as 'old name'"):
        check_field_ids(moved, wanted, "f.parquet")


@pytest.mark.parametrize(
    ("configuration", "features", "expected"),
    [
        ({"delta.columnMapping.mode": "name"}, None, []),
        ({"delta.columnMapping.mode": "id"}, ["columnMapping", "deletionVectors"], []),
        ({"delta.columnMapping.mode": "Name "}, None, []),
        ({"delta.columnMapping.mode": "weird"}, None, ["columnMapping"]),
    ],
)
def test_features_accept_known_modes(configuration, features, expected) -> None:
    assert unreadable(2 if features is None else 3, features, configuration) == expected


# ---- whole reads of tables written from the protocol


def mapped_table(local_platform, mode: str, stray_id: bool = False) -> str:
    """A new column-mapped table in ``lh_gold`` (:func:`column_mapping_support.write_mapped_table`)."""
    name = "cm_" + uuid.uuid4().hex[:8]
    write_mapped_table(Path(platform.table_uri(local_platform, "ws", "lh_gold", "dbo", name)), mode, stray_id)
    return name


def _read(local_platform, name: str, **config: Any) -> tuple[python_read.PythonRead, list[dict[str, Any]]]:
    plan = make_plan(unique_lakehouse(), source_table=name, **config)
    result = python_read.read(plan, local_platform)
    return result, result.reader.read_all().to_pylist()


@pytest.mark.parametrize("mode", ["name", "id"])
def test_read_maps_names_after_rename_and_drop(local_platform, mode) -> None:
    name = mapped_table(local_platform, mode)
    result, rows = _read(local_platform, name)
    assert result.reader.schema.names == ["order_id", "addr", "re gion", "re mark", "day"]
    assert result.files_total == 3
    assert sorted(r["order_id"] for r in rows) == list(range(1, 41))
    by_id = {r["order_id"]: r for r in rows}
    assert by_id[3] == {
        "order_id": 3,
        "addr": {"zip code": "z3"},
        "re gion": "east",
        "re mark": "n3",
        "day": None,
    }
    assert by_id[33] == {
        "order_id": 33,
        "addr": {"zip code": "z33"},
        "re gion": "we st",
        "re mark": "n33",
        "day": date(2025, 5, 6),
    }


def test_filter_and_columns_on_logical_names_prune_by_physical_statistics(local_platform) -> None:
    name = mapped_table(local_platform, "name")
    result, rows = _read(
        local_platform,
        name,
        watermark="25",
        extract_type="incremental",
        incremental_column="ORDER_ID",
        source_columns=["day", "Order_Id"],
    )
    assert result.reader.schema.names == ["day", "order_id"]
    assert sorted(rows, key=lambda r: r["order_id"]) == [
        {"day": date(2025, 5, 1 + i % 28), "order_id": i} for i in range(26, 41)
    ]
    assert (result.files_total, result.files_scanned) == (3, 1)  # the old files' max id is 10 / 20


def test_id_mode_refuses_a_file_whose_field_ids_disagree(local_platform) -> None:
    name = mapped_table(local_platform, "id", stray_id=True)
    plan = make_plan(unique_lakehouse(), source_table=name)
    with pytest.raises(SourceReadError) as caught:
        python_read.read(plan, local_platform)
    assert caught.value.export == plan.config.key
    assert f"dbo.{name}" in str(caught.value) and "p1/new.parquet" in str(caught.value)
