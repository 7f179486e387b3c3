"""The Python engine without a JVM: Delta tables written with delta-rs, exported, read back with
standard tools (csv, json, gzip, zipfile, tarfile, zstandard, brotli, pandas, pyarrow).

Byte-for-byte agreement with the Spark engine is checked by
``tests/integration/test_engine_equivalence.py``; here every format x codec, split parts, the
pushed-down filters, the pinned version, the metrics and the publish path are checked on their own.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake
from fabgen_runtime import compression, platform, publish
from fabgen_runtime.engines.python import read as python_read
from fabgen_runtime.engines.python import write as python_write
from fabgen_runtime.engines.python.numbers import java_double
from fabgen_runtime.errors import CompressionError, ConfigError, WriteError
from fabgen_runtime.protocol import publish as protocol
from fabgen_runtime.protocol.store import LocalFileStore
from writer_support import decompress, make_plan, tar_members, unique_lakehouse, zip_members

NOTES = [None, "", "a,b", 'say "hi"', "line1\nline2", "crlf\r\nend", "ünïcødé 日本語", "  both  ", "plain"]
START = datetime(2025, 1, 1, tzinfo=UTC)


def source_table(rows: int, first_id: int = 1) -> pa.Table:
    """Rows shaped like orders: NULLs in qty/updated_at/note, decimals, awkward strings."""
    ids = list(range(first_id, first_id + rows))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "qty": pa.array([None if i % 11 == 5 else i % 1000 - 500 for i in ids], pa.int32()),
            "amount": pa.array([Decimal(i * 12345) / 100 for i in ids], pa.decimal128(18, 2)),
            "order_date": pa.array([date(2025, 1, 1) + timedelta(days=i % 400) for i in ids], pa.date32()),
            "updated_at": pa.array(
                [
                    None if i % 13 == 7 else START + timedelta(seconds=i * 37, microseconds=i % 1000)
                    for i in ids
                ],
                pa.timestamp("us", tz="UTC"),
            ),
            "note": pa.array([NOTES[i % len(NOTES)] for i in ids], pa.string()),
        }
    )


def new_table(local_platform, *batches: pa.Table) -> tuple[str, str]:
    """A Delta table of one data file per batch (one commit each); returns (name, path)."""
    name = "t_" + uuid.uuid4().hex[:8]
    path = platform.table_uri(local_platform, "ws", "lh_gold", "dbo", name)
    for batch in batches:
        write_deltalake(path, batch, mode="append")
    return name, path


@pytest.fixture(scope="module")
def orders(local_platform) -> tuple[str, pa.Table]:
    table = source_table(500)
    name, _path = new_table(local_platform, table)
    return name, table


def export(local_platform, name: str, watermark: str | None = None, **config: Any):
    plan = make_plan(unique_lakehouse(), watermark=watermark, source_table=name, **config)
    stream = python_read.read(plan, local_platform)
    return plan, stream, python_write.write(stream.reader, plan, local_platform)


def _text(path: Path, codec: str, name: str) -> bytes:
    if codec == "none":
        return path.read_bytes()
    if codec in ("zip", "zipdeflate"):
        members = zip_members(path)
        assert list(members) == [name]
        return members[name]
    return decompress(path, codec)


def _csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def _expected_csv(table: pa.Table) -> list[list[str]]:
    out = []
    for row in table.to_pylist():
        moment = row["updated_at"]
        out.append(
            [
                str(row["id"]),
                "" if row["qty"] is None else str(row["qty"]),
                str(row["amount"]),
                row["order_date"].isoformat(),
                "" if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "" if row["note"] is None else row["note"],
            ]
        )
    return out


TEXT_CODECS = ["none", "gzip", "zip", "zipdeflate", "zstd", "brotli"]


@pytest.mark.parametrize("codec", TEXT_CODECS)
def test_csv_every_codec_reads_back(local_platform, orders, codec: str) -> None:
    name, table = orders
    plan, _stream, staged = export(
        local_platform, name, file_format="csv", compression=codec, file_format_options={"header": "true"}
    )
    (staged_file,) = staged.files
    expected_name = plan.output.filename if codec == "none" else plan.output.compressed_filename
    assert staged_file.name == expected_name and staged_file.rows == 500 == staged.rows
    header, *records = _csv_rows(_text(Path(staged_file.uri), codec, plan.output.filename))
    assert header == table.column_names
    assert records == _expected_csv(table)


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
    lines = _text(Path(staged_file.uri), codec, plan.output.filename).decode("utf-8").splitlines()
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
        header, *rows = _csv_rows(Path(staged_file.uri).read_bytes())
        assert header == table.column_names and len(rows) == staged_file.rows
        records += rows
    assert records == _expected_csv(table)


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


def test_incremental_filter_is_pushed_down_and_skips_files(local_platform) -> None:
    # Five commits, one file each, ids 1-100, 101-200, ...: a watermark inside the fourth file
    # leaves two files to scan; the first three are pruned by their min/max statistics (delta-rs
    # hands them to pyarrow as each fragment's guarantee) and never opened.
    batches = [source_table(100, first_id=1 + 100 * k) for k in range(5)]
    name, path = new_table(local_platform, *batches)
    _plan, stream, staged = export(
        local_platform,
        name,
        watermark="350",
        file_format="csv",
        extract_type="incremental",
        incremental_column="id",
    )
    assert stream.files_total == 5 and stream.files_scanned == 2
    dataset = DeltaTable(path).to_pyarrow_dataset()
    rows_read = sum(f.count_rows() for f in dataset.get_fragments(filter=stream.filter))
    assert rows_read == 200 < dataset.count_rows() == 500  # what the scan opens, not just what it keeps
    assert staged.rows == 150 and staged.max_watermark == "500" and staged.null_watermark_rows == 0


def test_timestamp_watermark_counts_nulls_and_max_like_pandas(local_platform, orders) -> None:
    name, table = orders
    frame = table.to_pandas()
    watermark = (START + timedelta(seconds=350 * 37)).strftime("%Y-%m-%dT%H:%M:%S")
    plan, stream, staged = export(
        local_platform,
        name,
        watermark=watermark,
        file_format="csv",
        extract_type="incremental",
        incremental_column="updated_at",
    )
    newer = frame[frame["updated_at"] > pd.Timestamp(watermark, tz="UTC")]
    assert staged.rows == len(newer) > 0  # NULL rows read (OR IS NULL), counted, not written
    assert staged.null_watermark_rows == int(frame["updated_at"].isna().sum()) > 0
    top = newer["updated_at"].max()
    assert staged.max_watermark == top.strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    assert plan.source.drops_null_incremental and stream.filter is not None
    (staged_file,) = staged.files
    ids = [int(r[0]) for r in _csv_rows(Path(staged_file.uri).read_bytes())[1:]]
    assert ids == newer["id"].tolist()


def test_first_incremental_run_counts_and_writes_nulls(local_platform, orders) -> None:
    name, table = orders
    frame = table.to_pandas()
    _plan, stream, staged = export(
        local_platform, name, file_format="json", extract_type="incremental", incremental_column="qty"
    )
    assert stream.filter is None and staged.rows == len(frame)
    assert staged.null_watermark_rows == int(frame["qty"].isna().sum()) > 0
    assert staged.max_watermark == str(int(frame["qty"].max()))


def test_period_filter_on_a_date_column(local_platform, orders) -> None:
    from fabgen_runtime.config import parse_config
    from fabgen_runtime.plan import RunContext, build_plan
    from writer_support import CONTEXT_NOW, export_row

    name, table = orders
    start, end = datetime(2025, 2, 1), datetime(2025, 2, 10)
    row = export_row(
        unique_lakehouse(),
        source_table=name,
        extract_type="period",
        period_filter_column="order_date",
        period_date_query="SELECT 1",
    )
    context = RunContext.create("2025-12-12", "UTC", now=CONTEXT_NOW)
    plan = build_plan(parse_config(row), context, period_start=start, period_end=end)
    stream = python_read.read(plan, local_platform)
    staged = python_write.write(stream.reader, plan, local_platform)
    days = table.to_pandas()["order_date"]
    expected = table.filter(pa.array(((days >= start.date()) & (days <= end.date())).tolist()))
    assert staged.rows == expected.num_rows > 0
    (staged_file,) = staged.files
    assert [r[0] for r in _csv_rows(Path(staged_file.uri).read_bytes())[1:]] == [
        str(i) for i in expected.column("id").to_pylist()
    ]


def test_read_is_pinned_to_the_version_it_opened(local_platform) -> None:
    name, path = new_table(local_platform, source_table(50), source_table(50, first_id=51))
    plan = make_plan(unique_lakehouse(), source_table=name, file_format="csv")
    stream = python_read.read(plan, local_platform)
    assert stream.version == f"dbo.{name}@1"
    write_deltalake(path, source_table(50, first_id=101), mode="append")  # version 2, after the read opened
    staged = python_write.write(stream.reader, plan, local_platform)
    assert staged.rows == 100 and DeltaTable(path).version() == 2


def test_source_columns_are_the_only_columns_read(local_platform, orders) -> None:
    name, _table = orders
    _plan, _stream, staged = export(
        local_platform, name, file_format="parquet", source_columns=["NOTE", "id"], compression="snappy"
    )
    assert pq.read_schema(staged.files[0].uri).names == ["note", "id"]


def test_query_mode_is_refused_naming_export_and_field(local_platform) -> None:
    plan = make_plan(unique_lakehouse(), source_table=None, source_query="SELECT 1 AS x")
    with pytest.raises(ConfigError, match="source_query") as caught:
        python_read.read(plan, local_platform)
    assert "sales/orders" in str(caught.value)


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
    header, *records = _csv_rows(decompress(Path(published.destination), "gzip"))
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


def test_watermark_of_an_early_timestamp_keeps_four_year_digits(local_platform) -> None:
    moments = [datetime(1, 1, 1, tzinfo=UTC), datetime(999, 12, 31, 23, 59, 59, 500000, tzinfo=UTC), None]
    table = pa.table({"id": [1, 2, 3], "ts": pa.array(moments, pa.timestamp("us", tz="UTC"))})
    name, _path = new_table(local_platform, table)
    _plan, _stream, staged = export(
        local_platform, name, file_format="csv", extract_type="incremental", incremental_column="ts"
    )
    assert staged.max_watermark == "0999-12-31T23:59:59.5" and staged.null_watermark_rows == 1
    lines = Path(staged.files[0].uri).read_bytes().splitlines()
    assert lines[1:] == [b"1,0001-01-01T00:00:00.000000Z", b"2,0999-12-31T23:59:59.500000Z", b"3,"]


def _peak_allocation(local_platform, files: int) -> tuple[int, int]:
    """Export a table of ``files`` files of 40,000 rows; Arrow's peak live bytes, and the table's."""
    name, path = new_table(
        local_platform, *[source_table(40_000, first_id=1 + 40_000 * k) for k in range(files)]
    )
    whole = DeltaTable(path).to_pyarrow_table().nbytes
    plan = make_plan(unique_lakehouse(), source_table=name, file_format="csv", compression="gzip")
    stream = python_read.read(plan, local_platform, batch_rows=8192)
    peaks: list[int] = []

    def watched():
        for batch in stream.reader:
            peaks.append(pa.total_allocated_bytes())
            yield batch

    staged = python_write.write(
        pa.RecordBatchReader.from_batches(stream.reader.schema, watched()), plan, local_platform
    )
    assert staged.rows == 40_000 * files and len(peaks) >= 5 * files
    return max(peaks), whole


def test_rows_stream_through_in_batches_never_the_whole_table(local_platform) -> None:
    # Memory follows a file's row group and the batch, not the table: four times the files, same peak.
    small_peak, small_whole = _peak_allocation(local_platform, 4)
    large_peak, large_whole = _peak_allocation(local_platform, 16)
    assert large_whole > 3.5 * small_whole
    assert large_peak < 1.5 * small_peak, (small_peak, large_peak)
    assert large_peak < large_whole / 2, (large_peak, large_whole)


@pytest.mark.parametrize(
    ("column", "watermark", "newer"),
    [
        ("amount", "30000.5", lambda f: f["amount"] > Decimal("30000.5")),
        ("qty", "-100", lambda f: f["qty"] > -100),
        ("qty", "-100.5", lambda f: f["qty"] > -100.5),
        ("amount", "30000.555", lambda f: f["amount"] > Decimal("30000.555")),
        ("order_date", "2025-12-01", lambda f: f["order_date"] > date(2025, 12, 1)),
        ("note", "plain", lambda f: f["note"] > "plain"),
    ],
)
def test_watermarks_compare_as_the_columns_type(local_platform, orders, column, watermark, newer) -> None:
    name, table = orders
    frame = table.to_pandas()
    _plan, _stream, staged = export(
        local_platform,
        name,
        watermark=watermark,
        file_format="csv",
        extract_type="incremental",
        incremental_column=column,
    )
    kept = frame[newer(frame).fillna(False).astype(bool)]
    assert staged.rows == len(kept) > 0
    assert staged.null_watermark_rows == int(frame[column].isna().sum())


def test_a_watermark_that_is_not_of_the_columns_type_names_the_field(local_platform, orders) -> None:
    name, _table = orders
    plan = make_plan(
        unique_lakehouse(),
        watermark="2025-01-01",
        source_table=name,
        file_format="csv",
        extract_type="incremental",
        incremental_column="qty",
    )
    with pytest.raises(ConfigError, match="incremental_column") as caught:
        python_read.read(plan, local_platform)
    assert "sales/orders" in str(caught.value)


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
