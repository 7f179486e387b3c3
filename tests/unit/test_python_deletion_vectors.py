"""Deletion vectors without a JVM: the decoder against the protocol's own examples and against DVs
built from the format (tests/support/dv_support.py), every refusal, the log replay, and whole
Python-engine reads of delta-rs tables given deletion vectors by a hand-written commit.

Spark-written DVs are checked in tests/integration/test_python_engine_reader_features.py.
"""

from __future__ import annotations

import json
import random
import struct
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.fs as pa_fs
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake
from dv_support import delete_rows, dv_file, inline_descriptor, treemap, z85_encode
from fabgen_runtime.engines.python import delta_log
from fabgen_runtime.engines.python import read as python_read
from fabgen_runtime.engines.python import write as python_write
from fabgen_runtime.engines.python.deletion_vectors import (
    DeletionVectorError,
    Descriptor,
    decode_bitmap,
    deleted_rows,
    relative_path,
    z85_decode,
)
from fabgen_runtime.errors import SourceReadError
from python_engine_support import csv_rows, export, new_table, source_table
from writer_support import make_plan, unique_lakehouse

TABLE = "file:///data/tbl/"


def _local(tmp_path: Path) -> pa_fs.FileSystem:
    return pa_fs.SubTreeFileSystem(str(tmp_path), pa_fs.LocalFileSystem())


def test_protocol_example_relative_path_with_random_prefix() -> None:
    # PROTOCOL.md, "JSON Example 1": prefix "ab", UUID d2c639aa-8816-431a-aaf6-d3fe2512ff61
    dv = Descriptor("u", "ab^-aqEH.-t@S}K{vb[*k^", 4, 40, 6)
    assert relative_path(dv, TABLE) == "ab/deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin"
    assert dv.unique_id == "uab^-aqEH.-t@S}K{vb[*k^@4"
    assert relative_path(Descriptor("u", "^-aqEH.-t@S}K{vb[*k^", 1, 40, 6), TABLE).startswith(
        "deletion_vector_d2c"
    )


def test_protocol_example_inline() -> None:
    # PROTOCOL.md, "JSON Example 3": the row indexes are 3, 4, 7, 11, 18, 29. Its bytes are in Delta's
    # "native" serialization (big-endian magic 1681511376, bitmap count and size), not the portable
    # one Spark writes.
    dv = Descriptor.from_action(
        {
            "storageType": "i",
            "pathOrInlineDv": "wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L",
            "sizeInBytes": 40,
            "cardinality": 6,
        }
    )
    assert deleted_rows(dv, pa_fs.LocalFileSystem(), TABLE).tolist() == [3, 4, 7, 11, 18, 29]


def test_absolute_path_inside_the_table_only() -> None:
    inside = Descriptor("p", "file:/data/tbl/sub/deletion_vector_x.bin", 1, 8, 1)
    assert relative_path(inside, TABLE) == "sub/deletion_vector_x.bin"
    for outside in ("file:/data/other/dv.bin", "file:/data/tbl/../other/dv.bin", "s3://b/data/tbl/x.bin"):
        with pytest.raises(DeletionVectorError, match="outside the table folder"):
            relative_path(Descriptor("p", outside, 1, 8, 1), TABLE)
    with pytest.raises(DeletionVectorError, match="not a prefix and a Z85 UUID"):
        relative_path(Descriptor("u", "../" + z85_encode(bytes(16)), 1, 8, 1), TABLE)
    with pytest.raises(DeletionVectorError, match="storage type 'x' is not known"):
        relative_path(Descriptor("x", "abc", 1, 8, 1), TABLE)


def test_z85_round_trip_and_refusals() -> None:
    data = bytes(range(256)) + b"\x01\x02"
    assert z85_decode(z85_encode(data), len(data)) == data
    with pytest.raises(DeletionVectorError, match="not a Z85 character"):
        z85_decode("abc d")
    with pytest.raises(DeletionVectorError, match="multiple of 5"):
        z85_decode("abcd")


def _values_with_every_container() -> tuple[list[int], list[str]]:
    rng = random.Random(7)
    rows = sorted(rng.sample(range(0, 65536), 300))  # array
    rows += sorted(rng.sample(range(65536, 131072), 20000))  # bitmap
    rows += list(range(131072 + 100, 131072 + 40000))  # one run
    rows += [196608 + i for i in range(0, 60000, 2)]  # 30000 values, no runs: bitmap
    rows += [(5 << 32) + i for i in (0, 1, 2, 65535, 65536, 1 << 31)]  # a second bucket
    rows += [(1 << 62) + 12345]  # the largest bucket keys allowed (top bit clear)
    kinds: list[str] = []
    treemap(rows, kinds=kinds)
    return rows, kinds


def test_decoder_reads_array_bitmap_and_run_containers_in_several_buckets(tmp_path) -> None:
    rows, kinds = _values_with_every_container()
    assert {"array", "bitmap", "run"} <= set(kinds)
    assert decode_bitmap(treemap(rows)).tolist() == rows
    assert decode_bitmap(treemap(rows, allow_runs=False)).tolist() == rows
    small = [1, 5, 9]
    data, offsets = dv_file([treemap(small), treemap(rows), treemap([])])  # three DVs in one file
    (tmp_path / "deletion_vector_00000000-0000-0000-0000-000000000000.bin").write_bytes(data)
    path = z85_encode(bytes(16))
    for offset, expected in zip(offsets, [small, rows, []], strict=True):
        dv = Descriptor("u", path, offset, len(treemap(expected)), len(expected))
        got = deleted_rows(dv, _local(tmp_path), TABLE)
        assert got.dtype == np.uint64 and got.tolist() == expected


def _stored(tmp_path: Path, bitmap: bytes, cardinality: int) -> Descriptor:
    data, (offset,) = dv_file([bitmap])
    (tmp_path / "deletion_vector_00000000-0000-0000-0000-000000000000.bin").write_bytes(data)
    return Descriptor("u", z85_encode(bytes(16)), offset, len(bitmap), cardinality)


def _corrupt(tmp_path: Path, position: int, value: int) -> None:
    path = tmp_path / "deletion_vector_00000000-0000-0000-0000-000000000000.bin"
    data = bytearray(path.read_bytes())
    data[position] = value
    path.write_bytes(bytes(data))


def test_refusals(tmp_path) -> None:
    fs, bitmap = _local(tmp_path), treemap([1, 2, 3, 70000])
    with pytest.raises(DeletionVectorError, match="cardinality is 5"):
        deleted_rows(_stored(tmp_path, bitmap, 5), fs, TABLE)
    dv = _stored(tmp_path, bitmap, 4)
    _corrupt(tmp_path, 5 + 10, 0xFF)  # a bitmap byte: the CRC no longer matches
    with pytest.raises(DeletionVectorError, match="CRC-32 mismatch"):
        deleted_rows(dv, fs, TABLE)
    dv = _stored(tmp_path, bitmap, 4)
    _corrupt(tmp_path, 0, 2)
    with pytest.raises(DeletionVectorError, match="format version"):
        deleted_rows(dv, fs, TABLE)
    bad_magic = struct.pack("<I", 1681511376) + bitmap[4:]  # native magic, but little-endian
    with pytest.raises(DeletionVectorError, match="magic d0d33964 is neither"):
        deleted_rows(_stored(tmp_path, bad_magic, 4), fs, TABLE)
    with pytest.raises(DeletionVectorError, match="stored size"):
        deleted_rows(Descriptor("u", dv.path_or_inline, dv.offset, dv.size - 1, 4), fs, TABLE)
    with pytest.raises(DeletionVectorError, match="bytes follow"):
        decode_bitmap(bitmap + b"\0")
    with pytest.raises(DeletionVectorError, match="ends early"):
        decode_bitmap(bitmap[:-1])
    with pytest.raises(DeletionVectorError, match="top bit"):
        decode_bitmap(struct.pack("<IQI", 1681511377, 1, 1 << 31) + treemap([1])[12 + 4 :])
    with pytest.raises(DeletionVectorError, match="cookie"):
        decode_bitmap(struct.pack("<IQII", 1681511377, 1, 0, 99))
    with pytest.raises(FileNotFoundError):
        deleted_rows(Descriptor("u", z85_encode(b"\1" * 16), 1, 8, 1), fs, TABLE)
    assert issubclass(DeletionVectorError, SourceReadError)


def test_log_replay_reconciles_add_and_remove_by_dv_and_reads_checkpoints(tmp_path) -> None:
    log = tmp_path / "_delta_log"
    log.mkdir()
    a, b, c = "a.parquet", "p=x%20y/b.parquet", "c.parquet"
    dv1, dv2 = inline_descriptor(treemap([1]), 1), inline_descriptor(treemap([1, 2]), 2)
    commits = [
        [
            {"protocol": {"minReaderVersion": 3}},
            {"add": {"path": a}},
            {"add": {"path": b}},
            {"add": {"path": c}},
        ],
        [{"add": {"path": a, "deletionVector": dv1}}, {"remove": {"path": a}}],
        [{"add": {"path": a, "deletionVector": dv2}}, {"remove": {"path": a, "deletionVector": dv1}}],
        [{"remove": {"path": c}}],
    ]
    for version, actions in enumerate(commits):
        (log / f"{version:020d}.json").write_text("\n".join(json.dumps(x) for x in actions))
    found = delta_log.deletion_vectors(_local(tmp_path), 3)
    assert found == {"a.parquet": Descriptor.from_action(dv2), "p=x y/b.parquet": None}
    assert delta_log.deletion_vectors(_local(tmp_path), 1)["a.parquet"] == Descriptor.from_action(dv1)

    # a checkpoint at version 2 (its rows: the live adds, one of them with a DV), older commits gone
    dv_type = pa.struct(
        [
            ("storageType", pa.string()),
            ("pathOrInlineDv", pa.string()),
            ("offset", pa.int32()),
            ("sizeInBytes", pa.int32()),
            ("cardinality", pa.int64()),
        ]
    )
    add_type = pa.struct([("path", pa.string()), ("deletionVector", dv_type)])
    adds = [
        None,
        {"path": a, "deletionVector": {**dv2, "offset": None}},
        {"path": b, "deletionVector": None},
        {"path": c, "deletionVector": None},
    ]
    pq.write_table(pa.table({"add": pa.array(adds, add_type)}), log / f"{2:020d}.checkpoint.parquet")
    for version in (0, 1, 2):
        (log / f"{version:020d}.json").unlink()
    assert delta_log.deletion_vectors(_local(tmp_path), 3) == found
    with pytest.raises(DeletionVectorError, match=r"lacks commit\(s\) \[0, 1\]"):
        delta_log.deletion_vectors(_local(tmp_path), 1)

    # a multi-part checkpoint at version 2 replaces the single one; an incomplete one (1 of 2 parts)
    # at version 3 is passed over
    (log / f"{2:020d}.checkpoint.parquet").unlink()
    for part, rows in ((1, adds[:2]), (2, adds[2:])):
        pq.write_table(
            pa.table({"add": pa.array(rows, add_type)}),
            log / f"{2:020d}.checkpoint.{part:010d}.0000000002.parquet",
        )
    pq.write_table(
        pa.table({"add": pa.array([], add_type)}), log / f"{3:020d}.checkpoint.0000000001.0000000002.parquet"
    )
    assert delta_log.deletion_vectors(_local(tmp_path), 3) == found


@pytest.mark.parametrize("inline", [False, True], ids=["dv-file", "inline"])
def test_python_read_drops_deleted_rows_before_the_filter(local_platform, inline) -> None:
    # Three files of 1000 rows (ids 1..3000), written by delta-rs; row groups of 100 rows, so
    # statistics prune some row groups and the running row position must count them.
    name, path = new_table(local_platform)
    for k in range(3):
        write_deltalake(path, source_table(1000, first_id=1 + 1000 * k), mode="append", **_small_row_groups())
    files = sorted(DeltaTable(path).file_uris())
    first, second = (Path(files[0]).name, Path(files[1]).name)
    ids_of = {Path(f).name: pq.read_table(f, columns=["id"]).column(0).to_pylist() for f in files}
    deletions = {first: list(range(0, 1000, 7)), second: list(range(250, 900))}
    delete_rows(Path(path), deletions, inline=inline)
    deleted = {ids_of[f][i] for f, rows in deletions.items() for i in rows}
    live = sorted(set(range(1, 3001)) - deleted)

    _plan, stream, staged = export(local_platform, name, file_format="csv")
    got = sorted(int(r[0]) for r in csv_rows(Path(staged.files[0].uri).read_bytes())[1:])
    assert got == live and staged.rows == len(live)

    _plan, stream, staged = export(
        local_platform,
        name,
        watermark="1500",
        file_format="csv",
        extract_type="incremental",
        incremental_column="id",
        source_columns=["note", "id"],
    )
    assert stream.files_total == 3 and stream.files_scanned == 2
    rows = csv_rows(Path(staged.files[0].uri).read_bytes())
    assert rows[0] == ["note", "id"] and sorted(int(r[1]) for r in rows[1:]) == [i for i in live if i > 1500]
    assert staged.max_watermark == str(max(live))

    # period on order_date (2025-01-01 + id % 400 days), a column the export does not select
    start, end = datetime(2025, 2, 1), datetime(2025, 2, 10)
    plan = make_plan(
        unique_lakehouse(),
        period=(start, end),
        source_table=name,
        file_format="csv",
        period_filter_column="order_date",
        source_columns=["id"],
    )
    staged = python_write.write(python_read.read(plan, local_platform).reader, plan, local_platform)
    rows = csv_rows(Path(staged.files[0].uri).read_bytes())
    in_period = [i for i in live if 31 <= i % 400 <= 40]
    assert rows[0] == ["id"] and sorted(int(r[0]) for r in rows[1:]) == in_period and in_period


def _small_row_groups() -> dict:
    from deltalake import WriterProperties

    return {"writer_properties": WriterProperties(max_row_group_size=100)}


def test_python_read_refuses_a_dv_that_fails_its_checks(local_platform) -> None:
    name, path = new_table(local_platform, source_table(50))
    (file,) = [Path(f).name for f in DeltaTable(path).file_uris()]
    (dv,) = delete_rows(Path(path), {file: [1, 2]}).values()
    dv_path = Path(path) / relative_path(Descriptor.from_action(dv), TABLE)
    data = bytearray(dv_path.read_bytes())
    data[-1] ^= 0xFF  # the CRC
    dv_path.write_bytes(bytes(data))
    plan = make_plan(unique_lakehouse(), source_table=name, file_format="csv")
    with pytest.raises(
        SourceReadError, match=rf"cannot read lakehouse table dbo.{name}: .*CRC-32 mismatch"
    ) as caught:
        python_read.read(plan, local_platform)  # refused when the read opens, before any writing
    assert caught.value.export == plan.config.key

    # a DV that passes its own checks but deletes a row past the file's end: refused while streaming
    bitmap = treemap([1, 50])
    dv_path.write_bytes(dv_file([bitmap])[0])
    assert len(bitmap) == dv["sizeInBytes"]  # same size, same cardinality: the log entry still fits
    stream = python_read.read(plan, local_platform)
    with pytest.raises(SourceReadError, match="deletes row 50 of 50"):
        stream.reader.read_all()
