"""The Spark engine and the Python engine write the same files from the same Delta table.

One Delta table is written once with Spark (decimals of every scale, timestamps with and without a
zone, dates, strings with quotes/newlines/commas/control characters/unicode, NaN/Infinity, NULLs)
and exported by both engines with the same config: csv and json must match byte for byte after
decompression (archives member by member), parquet value by value (pyarrow).

The table is one data file, so both engines read its rows in the same order (with several files,
Spark's read order follows its file splits, which is not part of either engine's contract).
"""

from __future__ import annotations

import io
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from fabgen_runtime import platform
from fabgen_runtime.engines.python import read as python_read
from fabgen_runtime.engines.python import write as python_write
from fabgen_runtime.engines.spark import sources, writer
from writer_support import decompress, make_plan, tar_members, unique_lakehouse, zip_members

pytestmark = pytest.mark.jvm

STRINGS = [
    "plain",
    "a,b;c|d\te",
    "say \"hi\" and 'bye'",
    'ends with quote"',
    "new\nline",
    "cr\ronly",
    "crlf\r\nline",
    "",
    "  lead and trail  ",
    'back\\slash \\" mixed',
    "ctl \x01\x1f\x7f nul\x00",
    "emoji 😀👍🏽 ünïcødé 日本語 \u2028",
    "#hash start",
    None,
]
DOUBLES = [0.1, 1e7, 1.5e-4, float("nan"), float("inf"), float("-inf"), -0.0, 5e-324, 2.0**60, 123456.789]
FLOATS = [0.1, 123456789.125, 1e21, 3.4e38, -2.5, None]
D38 = [
    "0.000000000000000000",
    "-0.000000000000000001",
    "99999999999999999999.999999999999999999",
    "12345.670000000000000000",
]
MOMENTS = [
    datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(2025, 3, 30, 2, 30, tzinfo=UTC),
]


def rows() -> list[tuple[Any, ...]]:
    out = []
    for i in range(60):
        out.append(
            (
                i + 1,
                None if i % 9 == 4 else (i * 7919) % 100_000 - 50_000,
                None if i % 7 == 3 else Decimal(D38[i % len(D38)]),
                Decimal("-12345678.90") if i % 2 else Decimal("0.00"),
                DOUBLES[i % len(DOUBLES)],
                FLOATS[i % len(FLOATS)],
                None if i % 5 == 2 else bool(i % 2),
                None if i % 8 == 1 else date(2024, 1, 1 + i % 28),
                None if i % 6 == 5 else MOMENTS[i % len(MOMENTS)],
                datetime(2023, 12, 31, 23, 0, i % 60, (i * 1234) % 1_000_000),
                STRINGS[i % len(STRINGS)],
                bytes(range(i % 200, i % 200 + 6)),
            )
        )
    return out


@pytest.fixture(scope="module")
def table(spark, local_platform) -> str:
    from pyspark.sql import types as T

    schema = T.StructType(
        [
            T.StructField("id", T.LongType()),
            T.StructField("qty", T.IntegerType()),
            T.StructField("d38", T.DecimalType(38, 18)),
            T.StructField("d10", T.DecimalType(10, 2)),
            T.StructField("f64", T.DoubleType()),
            T.StructField("f32", T.FloatType()),
            T.StructField("flag", T.BooleanType()),
            T.StructField("day", T.DateType()),
            T.StructField("ts", T.TimestampType()),
            T.StructField("ntz", T.TimestampNTZType()),
            T.StructField("note", T.StringType()),
            T.StructField("bin", T.BinaryType()),
        ]
    )
    name = "eq_" + uuid.uuid4().hex[:8]
    path = platform.table_uri(local_platform, "ws", "lh_gold", "dbo", name)
    spark.createDataFrame(rows(), schema).coalesce(1).write.format("delta").save(path)
    return name


CSV_COLUMNS = ["id", "qty", "d38", "d10", "f64", "f32", "flag", "day", "ts", "ntz", "note"]
CASES = [
    pytest.param("csv", "none", None, {"header": "true"}, id="csv"),
    pytest.param("csv", "gzip", None, {"header": "true", "lineSep": "\r\n"}, id="csv-crlf-gzip"),
    pytest.param("csv", "none", None, {"header": "true", "sep": ";", "quoteAll": "true"}, id="csv-quoteall"),
    pytest.param(
        "csv", "none", None, {"header": "false", "nullValue": "NULL", "emptyValue": ""}, id="csv-null"
    ),
    pytest.param("csv", "zip", 25, {"header": "true"}, id="csv-split-zip"),
    pytest.param("csv", "zstd", 25, {"header": "true"}, id="csv-split-tar-zstd"),
    pytest.param("csv", "zstd", None, {"header": "true"}, id="csv-zstd"),
    pytest.param("csv", "none", None, {"header": "true", "encoding": "UTF-16LE"}, id="csv-utf16le"),
    pytest.param("json", "none", None, {}, id="json"),
    pytest.param(
        "json", "gzip", None, {"lineSep": "\r\n", "encoding": "UTF-16BE"}, id="json-crlf-utf16be-gzip"
    ),
    pytest.param("json", "brotli", None, {"ignoreNullFields": "true"}, id="json-nonulls-brotli"),
    pytest.param("json", "none", 40, {"timeZone": "Asia/Tokyo"}, id="json-split-tokyo"),
]


def _texts(staged: writer.StagedOutput, codec: str) -> dict[str, bytes]:
    """Every data file's decompressed bytes by name (archive members by member name)."""
    out: dict[str, bytes] = {}
    for f in staged.files:
        path = Path(f.uri)
        if f.name.endswith(".zip"):
            out.update(zip_members(path))
        elif ".tar" in f.name:
            out.update(tar_members(decompress(path, codec)))
        elif codec == "none":
            out[f.name] = path.read_bytes()
        else:
            out[f.name] = decompress(path, codec)
    return out


def _both(
    spark, local_platform, table: str, **config: Any
) -> tuple[writer.StagedOutput, writer.StagedOutput]:
    spark_plan = make_plan(unique_lakehouse(), source_table=table, **config)
    read = sources.get("lakehouse").read(spark, spark_plan, local_platform)
    try:
        spark_staged = writer.write(read.df, spark_plan, local_platform)
    finally:
        read.close()
    python_plan = make_plan(unique_lakehouse(), source_table=table, **config)
    stream = python_read.read(python_plan, local_platform)
    assert stream.version == read.version  # the same pinned version, recorded the same way
    python_staged = python_write.write(stream.reader, python_plan, local_platform)
    return spark_staged, python_staged


@pytest.mark.parametrize(("fmt", "codec", "max_rows", "options"), CASES)
def test_text_formats_are_byte_identical(spark, local_platform, table, fmt, codec, max_rows, options) -> None:
    config: dict[str, Any] = dict(
        file_format=fmt, compression=codec, max_rows_per_file=max_rows, file_format_options=options
    )
    if fmt == "csv":
        config["source_columns"] = CSV_COLUMNS  # Spark's csv writer refuses binary
    spark_staged, python_staged = _both(spark, local_platform, table, **config)
    assert [f.name for f in python_staged.files] == [f.name for f in spark_staged.files]
    assert python_staged.part_rows == spark_staged.part_rows
    assert python_staged.rows == spark_staged.rows == len(rows())
    spark_texts, python_texts = _texts(spark_staged, codec), _texts(python_staged, codec)
    assert list(python_texts) == list(spark_texts)
    for name, expected in spark_texts.items():
        got = python_texts[name]
        if got != expected:
            lines = list(zip(got.splitlines(True), expected.splitlines(True), strict=False))
            first = next((pair for pair in lines if pair[0] != pair[1]), None)
            pytest.fail(
                f"{name}: first differing line python={first[0]!r} spark={first[1]!r}" if first else name
            )


def _normalised(table: pa.Table) -> pa.Table:
    """Timestamps as naive UTC microseconds: Spark writes a zoned timestamp as INT96 (no zone in the
    file, read back naive), the Python engine as INT64 micros adjusted to UTC (read back tz=UTC)."""
    columns = []
    for column in table.columns:
        if pa.types.is_timestamp(column.type):
            column = pc.cast(column, pa.timestamp("us"))
        columns.append(column)
    return pa.table(columns, names=table.column_names)


@pytest.mark.parametrize("codec", ["snappy", "zstd", "gzip", "lz4", "none"])
def test_parquet_is_equal_by_value(spark, local_platform, table, codec) -> None:
    spark_staged, python_staged = _both(
        spark, local_platform, table, file_format="parquet", compression=codec
    )
    (spark_file,), (python_file,) = spark_staged.files, python_staged.files
    assert python_file.name == spark_file.name
    expected = _normalised(
        pq.read_table(io.BytesIO(Path(spark_file.uri).read_bytes()), coerce_int96_timestamp_unit="us")
    )
    got = _normalised(pq.read_table(io.BytesIO(Path(python_file.uri).read_bytes())))
    assert got.column_names == expected.column_names
    assert pq.read_schema(python_file.uri).field("ts").type == pa.timestamp("us", tz="UTC")
    for name in expected.column_names:
        assert got.column(name).type == expected.column(name).type, name
        left, right = got.column(name).to_pylist(), expected.column(name).to_pylist()
        same = [a == b or (a != a and b != b) for a, b in zip(left, right, strict=True)]  # NaN == NaN
        assert all(same), (name, [(a, b) for a, b, s in zip(left, right, same, strict=True) if not s][:3])
    written = pq.ParquetFile(python_file.uri).metadata.row_group(0).column(0).compression
    assert written == pq.ParquetFile(spark_file.uri).metadata.row_group(0).column(0).compression


def test_parquet_row_groups_encoded_in_parallel_read_back_in_spark(spark, local_platform, table) -> None:
    """A small parquet.block.size makes the Python engine encode many row groups on its threads and
    join them under one footer (engines/python/parquet_footer.py); Spark's own reader (parquet-mr,
    vectorised) reads every row of the joined file as the source holds it."""
    plan = make_plan(
        unique_lakehouse(),
        source_table=table,
        file_format="parquet",
        compression="zstd",
        file_format_options={"parquet.block.size": "1024"},
    )
    stream = python_read.read(plan, local_platform, batch_rows=8)
    (staged,) = python_write.write(stream.reader, plan, local_platform).files
    assert pq.ParquetFile(staged.uri).metadata.num_row_groups > 3
    source = spark.read.format("delta").load(
        platform.table_uri(local_platform, "ws", "lh_gold", "dbo", table)
    )
    exported = spark.read.parquet(staged.uri)
    columns = source.columns
    assert exported.count() == source.count()
    assert exported.select(*columns).exceptAll(source.select(*columns)).count() == 0
    assert source.select(*columns).exceptAll(exported.select(*columns)).count() == 0


def test_incremental_watermark_and_null_count_agree(spark, local_platform, table) -> None:
    config = dict(
        file_format="csv",
        source_columns=CSV_COLUMNS,
        extract_type="incremental",
        incremental_column="ts",
        file_format_options={"header": "true"},
    )
    spark_plan = make_plan(unique_lakehouse(), watermark="1970-01-01T00:00:00", source_table=table, **config)
    read = sources.get("lakehouse").read(spark, spark_plan, local_platform)
    try:
        spark_staged = writer.write(read.df, spark_plan, local_platform)
    finally:
        read.close()
    python_plan = make_plan(unique_lakehouse(), watermark="1970-01-01T00:00:00", source_table=table, **config)
    stream = python_read.read(python_plan, local_platform)
    python_staged = python_write.write(stream.reader, python_plan, local_platform)
    assert python_staged.rows == spark_staged.rows
    assert python_staged.null_watermark_rows == spark_staged.null_watermark_rows > 0
    assert python_staged.max_watermark == spark_staged.max_watermark
    assert _texts(python_staged, "none") == _texts(spark_staged, "none")
