"""The Python engine's writer without a JVM: every format x codec, split parts, empty exports, staged
sizes and checksums, writer options and the publish path, read back with standard tools (csv, json,
gzip, zipfile, tarfile, zstd, brotli, pandas, pyarrow).

Byte-for-byte agreement with the Spark engine is checked by
``tests/integration/test_engine_equivalence.py``; reads are in ``test_python_engine_read.py``.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fabgen_runtime import compression, publish
from fabgen_runtime.engines.python import read as python_read
from fabgen_runtime.engines.python import write as python_write
from fabgen_runtime.engines.python.numbers import java_double
from fabgen_runtime.errors import CompressionError, ConfigError, WriteError
from fabgen_runtime.protocol import publish as protocol
from fabgen_runtime.protocol.store import LocalFileStore
from python_engine_support import (
    TEXT_CODECS,
    csv_rows,
    expected_csv,
    export,
    new_table,
    source_table,
    text_of,
)
from writer_support import decompress, make_plan, tar_members, unique_lakehouse, zip_members


@pytest.mark.parametrize("codec", TEXT_CODECS)
def test_csv_every_codec_reads_back(local_platform, orders, codec: str) -> None:
    name, table = orders
    plan, _stream, staged = export(
        local_platform, name, file_format="csv", compression=codec, file_format_options={"header": "true"}
    )
    (staged_file,) = staged.files
    expected_name = plan.output.filename if codec == "none" else plan.output.compressed_filename
    assert staged_file.name == expected_name and staged_file.rows == 500 == staged.rows
    header, *records = csv_rows(text_of(Path(staged_file.uri), codec, plan.output.filename))
    assert header == table.column_names
    assert records == expected_csv(table)


@pytest.mark.parametrize(
    ("codec", "max_rows"), [*((c, None) for c in TEXT_CODECS), ("gzip", 200), ("none", 200)]
)
def test_staged_size_and_sha256_are_the_files(
    local_platform, orders, codec: str, max_rows: int | None
) -> None:
    """Taken while writing (or read back for zip): the journal's checksums must be the files' own."""
    name, _table = orders
    _plan, _stream, staged = export(
        local_platform, name, file_format="csv", compression=codec, max_rows_per_file=max_rows
    )
    assert staged.files
    for staged_file in staged.files:
        data = Path(staged_file.uri).read_bytes()
        assert (staged_file.size, staged_file.sha256) == (len(data), hashlib.sha256(data).hexdigest())


@pytest.mark.parametrize("codec", TEXT_CODECS)
def test_json_every_codec_reads_back(local_platform, orders, codec: str) -> None:
    name, table = orders
    plan, _stream, staged = export(local_platform, name, file_format="json", compression=codec)
    (staged_file,) = staged.files
    lines = text_of(Path(staged_file.uri), codec, plan.output.filename).decode("utf-8").splitlines()
    records = [json.loads(line, parse_float=Decimal) for line in lines]
    assert [list(r) for r in records[:1]] == [table.column_names]  # every field, in schema order
    frame = pd.read_json(io.StringIO("\n".join(lines)), lines=True, dtype=False)
    assert frame["id"].tolist() == table.column("id").to_pylist()
    assert [r["amount"] for r in records] == table.column("amount").to_pylist()
    assert [r["note"] for r in records] == table.column("note").to_pylist()
    assert [r["qty"] for r in records] == table.column("qty").to_pylist()  # NULLs as null


@pytest.mark.parametrize("codec", ["none", "snappy", "gzip", "zstd", "brotli", "lz4"])
def test_parquet_every_codec_reads_back(local_platform, orders, codec: str) -> None:
    name, table = orders
    _plan, _stream, staged = export(local_platform, name, file_format="parquet", compression=codec)
    (staged_file,) = staged.files
    got = pq.read_table(staged_file.uri)
    assert got.equals(table)
    assert pd.read_parquet(staged_file.uri)["id"].tolist() == table.column("id").to_pylist()
    written = pq.ParquetFile(staged_file.uri).metadata.row_group(0).column(0).compression
    assert written == {"none": "UNCOMPRESSED", "lz4": "LZ4"}.get(codec, codec.upper())


@pytest.mark.parametrize("codec", ["snappy", "lz4"])
def test_parquet_only_codecs_are_refused_for_text_before_writing(local_platform, orders, codec: str) -> None:
    name, _table = orders
    with pytest.raises((CompressionError, ConfigError), match=codec):
        export(local_platform, name, file_format="csv", compression=codec)


def test_split_plain_parts_hold_max_rows_each(local_platform, orders) -> None:
    name, table = orders
    plan, _stream, staged = export(
        local_platform, name, file_format="csv", max_rows_per_file=120, file_format_options={"header": "true"}
    )
    assert staged.part_rows == (120, 120, 120, 120, 20)
    assert [f.name for f in staged.files] == [plan.output.part_filename(n) for n in range(1, 6)]
    records = []
    for staged_file in staged.files:
        header, *rows = csv_rows(Path(staged_file.uri).read_bytes())
        assert header == table.column_names and len(rows) == staged_file.rows
        records += rows
    assert records == expected_csv(table)


@pytest.mark.parametrize("codec", ["gzip", "zstd", "brotli", "zip"])
def test_split_archives_hold_one_member_per_part(local_platform, orders, codec: str) -> None:
    name, table = orders
    plan, _stream, staged = export(
        local_platform, name, file_format="json", compression=codec, max_rows_per_file=200
    )
    (archive,) = staged.files
    path = Path(archive.uri)
    members = zip_members(path) if codec == "zip" else tar_members(decompress(path, codec))
    assert list(members) == [plan.output.part_filename(n) for n in (1, 2, 3)]
    ids = [json.loads(line)["id"] for data in members.values() for line in data.decode().splitlines()]
    assert ids == table.column("id").to_pylist()
    assert staged.part_rows == (200, 200, 100) and archive.rows == 500


def test_empty_export_has_one_header_only_file(local_platform) -> None:
    name, _path = new_table(local_platform, source_table(0))
    plan, _stream, staged = export(
        local_platform, name, file_format="csv", max_rows_per_file=10, file_format_options={"header": "true"}
    )
    (only,) = staged.files
    assert only.name == plan.output.part_filename(1) and staged.part_rows == (0,)
    assert Path(only.uri).read_bytes() == b"id,qty,amount,order_date,updated_at,note\n"


def test_unsupported_writer_option_is_refused_before_any_file(local_platform, orders) -> None:
    name, _table = orders
    plan = make_plan(
        unique_lakehouse(),
        source_table=name,
        file_format="csv",
        file_format_options={"timestampFormat": "yyyy-MM-dd"},
    )
    stream = python_read.read(plan, local_platform)
    with pytest.raises(WriteError, match="timestampFormat") as caught:
        python_write.write(stream.reader, plan, local_platform)
    assert "sales/orders" in str(caught.value)
    staging = Path(publish.staging_uri(plan, local_platform))
    assert not staging.exists() or not any(staging.rglob("*.csv"))


def test_staged_output_publishes_through_the_protocol_unchanged(local_platform, orders) -> None:
    name, table = orders
    plan, _stream, staged = export(
        local_platform, name, file_format="csv", compression="gzip", file_format_options={"header": "true"}
    )
    store = LocalFileStore()
    journal = publish.build_journal(staged, plan, local_platform, store)  # type: ignore[arg-type]
    done = protocol.publish(store, journal, publish.files_root(plan, local_platform), lambda _p: None)
    protocol.finish(store, done.staging)
    (published,) = done.files
    assert Path(published.destination).name == plan.output.compressed_filename
    assert not Path(staged.staging_uri).exists()
    header, *records = csv_rows(decompress(Path(published.destination), "gzip"))
    assert header == table.column_names and len(records) == table.num_rows
    manifest = json.loads(Path(publish.files_root(plan, local_platform), done.manifest_path).read_text())
    assert manifest["export_run_id"] == plan.export_run_id


@pytest.mark.parametrize(
    ("value", "single", "text"),
    [  # Spark 4.1 on Java 17 wrote these (tests/integration/test_engine_equivalence.py compares files)
        (1e7, False, "1.0E7"),
        (1.5e-4, False, "1.5E-4"),
        (0.001, False, "0.001"),
        (-0.0, False, "-0.0"),
        (9999999.0, False, "9999999.0"),
        (5e-324, False, "4.9E-324"),
        (2.0**60, False, "1.15292150460684698E18"),
        (2.0**70, False, "1.1805916207174113E21"),
        (123456789.125, False, "1.23456789125E8"),
        (float("nan"), False, "NaN"),
        (float("-inf"), False, "-Infinity"),
        (123456789.125, True, "1.23456792E8"),
        (0.1, True, "0.1"),
        (1e21, True, "1.0E21"),
        (5e-324, True, "0.0"),
    ],
)
def test_java_double_text(value: float, single: bool, text: str) -> None:
    assert java_double(value, single) == text


def test_every_registered_codec_is_covered() -> None:
    covered = set(TEXT_CODECS) | {"snappy", "lz4"}
    assert set(compression.names()) == covered


def test_parquet_writer_options_shape_row_groups_and_dictionary(local_platform, orders) -> None:
    name, table = orders
    options = {"parquet.block.size": "4096", "parquet.enable.dictionary": "false"}
    plan = make_plan(
        unique_lakehouse(),
        source_table=name,
        file_format="parquet",
        compression="zstd",
        file_format_options=options,
    )
    stream = python_read.read(plan, local_platform, batch_rows=100)  # batches of ~6 KiB
    staged = python_write.write(stream.reader, plan, local_platform)
    python_read_back = pq.ParquetFile(staged.files[0].uri)
    assert python_read_back.read().equals(table)
    assert python_read_back.metadata.num_row_groups == 5  # a row group once 4 KiB of rows are buffered
    note = python_read_back.metadata.row_group(0).column(table.column_names.index("note"))
    assert "RLE_DICTIONARY" not in note.encodings and "PLAIN_DICTIONARY" not in note.encodings
    _plan, _stream, default = export(local_platform, name, file_format="parquet", compression="zstd")
    assert pq.ParquetFile(default.files[0].uri).metadata.num_row_groups == 1


def test_json_strings_escape_like_jackson_on_both_paths() -> None:
    from fabgen_runtime.engines.python import values

    common = ['back\\slash "q"', "new\nline\r\ttab\b\f", "ünï 日本 \u2028 /", "", None]
    rare = [*common, "bell\x07 vt\x0b us\x1f nul\x00"]
    expected = {  # Jackson: short escapes, \u00XX upper-case for the rest, non-ASCII and / raw
        'back\\slash "q"': '"back\\\\slash \\"q\\""',
        "new\nline\r\ttab\b\f": '"new\\nline\\r\\ttab\\b\\f"',
        "ünï 日本 \u2028 /": '"ünï 日本 \u2028 /"',
        "": '""',
        "bell\x07 vt\x0b us\x1f nul\x00": '"bell\\u0007 vt\\u000B us\\u001F nul\\u0000"',
    }
    for strings in (common, rare):  # vectorised, and value by value when a rare control character is present
        got = values._json_string(pa.array(strings, values.TEXT)).to_pylist()
        assert got == [None if s is None else expected[s] for s in strings]
        assert [json.loads(g) for g in got if g is not None] == [s for s in strings if s is not None]


def test_parquet_row_groups_are_capped_in_rows_encoded_in_order_and_hashed_as_written(
    local_platform, orders, monkeypatch
) -> None:
    from fabgen_runtime.engines.python import parquet

    name, table = orders
    monkeypatch.setattr(parquet, "ROW_GROUP_ROWS", 250)
    plan = make_plan(unique_lakehouse(), source_table=name, file_format="parquet")
    stream = python_read.read(plan, local_platform, batch_rows=100)
    staged = python_write.write(stream.reader, plan, local_platform)
    written = pq.ParquetFile(staged.files[0].uri)
    assert written.read().equals(table)  # row groups encoded on the writer thread land in order
    sizes = [written.metadata.row_group(i).num_rows for i in range(written.metadata.num_row_groups)]
    assert sizes[:-1] == [300] * (len(sizes) - 1) and 0 < sizes[-1] <= 300  # full at >= 250 rows
    data = Path(staged.files[0].uri).read_bytes()
    assert (staged.files[0].size, staged.files[0].sha256) == (len(data), hashlib.sha256(data).hexdigest())


def test_a_parquet_row_group_that_fails_on_the_writer_thread_fails_the_file(tmp_path) -> None:
    from fabgen_runtime.engines.python import parquet

    schema = pa.schema([("id", pa.int64())])
    target = parquet.ParquetFile(
        str(tmp_path / "x.parquet"), schema, "snappy", None, parquet.ParquetOptions(block_size=1), {}
    )
    with pytest.raises((ValueError, pa.ArrowException)):  # raised once the failed row group is next
        # encoded on the thread: a fast thread fails before this call's own flush returns
        target.write(pa.record_batch([pa.array(["not a number"])], names=["id"]))
        for _ in range(parquet.threads() + 1):  # the writer waits for it with threads + 1 held at most
            target.write(pa.record_batch([pa.array([1])], names=["id"]))
    target.close(complete=False)


def test_a_failed_dictionary_choice_fails_every_row_group_and_the_file_closes(tmp_path, monkeypatch) -> None:
    """The first row group's thread chooses the dictionary columns and the others wait for it: when
    the choice fails, each of them fails with it (none waits forever) and the file still closes."""
    from fabgen_runtime.engines.python import parquet

    def broken(rows: pa.Table, page_size: int) -> list[str]:
        raise ValueError("dictionary test failed")

    monkeypatch.setattr(parquet, "dictionary_columns", broken)
    schema = pa.schema([("id", pa.int64())])
    target = parquet.ParquetFile(
        str(tmp_path / "x.parquet"), schema, "snappy", None, parquet.ParquetOptions(block_size=1), {}
    )
    with pytest.raises(ValueError, match="dictionary test failed"):
        for value in range(parquet.threads() + 2):
            target.write(pa.record_batch([pa.array([value])], names=["id"]))
        target.close()
    target.close(complete=False)  # returns: no thread is left waiting for the choice
    assert not [t for t in threading.enumerate() if t.name.startswith("fabgen-parquet")]
