"""Values leave byte-for-byte as stored: a round trip per type, format and option combination.

Every type the issue lists goes through the real writer (Spark, staging, publish) and is read back
with independent readers only: Python's csv and json modules, gzip, and pyarrow. Decimals must
appear in plain notation with their scale, line breaks inside values must survive any lineSep.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import struct
from datetime import UTC, date, datetime
from decimal import Context, Decimal
from pathlib import Path
from typing import Any

import pytest
from fabgen_runtime.engines.spark import publish, writer
from fabgen_runtime.errors import WriteError
from writer_support import decompress, files_dir, make_plan, unique_lakehouse

pytestmark = pytest.mark.jvm

STRINGS = [
    "a,b;c|d\te",
    "say \"hi\" and 'bye'",
    "new\nline",
    "cr\ronly",
    "crlf\r\nline",
    "two\n\nbreaks\r\n\r\n",
    "tab\there",
    "nul\x00char",
    "emoji 😀👍🏽 ünïcødé 日本語",
    "",
    "  lead and trail  ",
    "x" * 100_000,
]
D38 = [
    "-99999999999999999999.999999999999999999",
    "99999999999999999999.999999999999999999",
    "0.000000000000000000",
    "-0.000000000000000001",
    "0.000000000000000001",
    "12345.670000000000000000",
]
F64 = [-1.7976931348623157e308, 1.7976931348623157e308, math.nan, math.inf, -math.inf, -0.0, 5e-324, 0.1]
F32 = [-3.4028234663852886e38, 3.4028234663852886e38, math.nan, math.inf, -math.inf, -0.0, 1.4e-45, 0.1]
DATES = [date(1, 1, 1), date(9999, 12, 31), date(1582, 10, 4), date(1970, 1, 1), date(2024, 2, 29)]
DATES.append(date(2, 2, 2))
MOMENTS = [
    datetime(1970, 1, 1, 0, 0, 0, 1),
    datetime(2199, 12, 31, 23, 59, 59, 999999),
    datetime(2025, 3, 30, 2, 30, 0),
    datetime(2000, 1, 1),
    datetime(1999, 12, 31, 23, 59, 59, 500000),
    datetime(2038, 1, 19, 3, 14, 8),
]
INTS = [  # tinyint, smallint, int, bigint
    (-128, -32768, -(2**31), -(2**63)),
    (127, 32767, 2**31 - 1, 2**63 - 1),
    (0, 0, 0, 0),
    (-1, -1, -1, -1),
    (1, 1, 1, 1),
    (42, 4242, 424242, 42424242424242),
]
N = len(STRINGS)


def f32(value: float) -> float:
    return value if math.isnan(value) else struct.unpack("f", struct.pack("f", value))[0]


def source_rows() -> list[dict[str, Any]]:
    rows = []
    for i in range(N):
        k = i % 6
        i8, i16, i32, i64 = INTS[k]
        rows.append(
            dict(
                id=i + 1,
                i8=i8,
                i16=i16,
                i32=i32,
                i64=i64,
                d38=Decimal(D38[k]),
                d10=Decimal("-12345678.90") if k % 2 else Decimal("0.00"),
                d38_0=Decimal(10**37 * (1 if k % 2 else -1)),
                f64=F64[i % len(F64)],
                f32=F32[i % len(F32)],
                day=DATES[k],
                ts=MOMENTS[k].replace(tzinfo=UTC),
                ntz=MOMENTS[(k + 1) % 6],
                bin=bytes(range(i * 7 % 256, i * 7 % 256 + 5)) + b'\x00\r\n,"',
                s=STRINGS[i],
            )
        )
    return rows


@pytest.fixture(scope="module")
def source(spark):
    from pyspark.sql import types as T

    schema = T.StructType(
        [
            T.StructField("id", T.IntegerType()),
            T.StructField("i8", T.ByteType()),
            T.StructField("i16", T.ShortType()),
            T.StructField("i32", T.IntegerType()),
            T.StructField("i64", T.LongType()),
            T.StructField("d38", T.DecimalType(38, 18)),
            T.StructField("d10", T.DecimalType(10, 2)),
            T.StructField("d38_0", T.DecimalType(38, 0)),
            T.StructField("f64", T.DoubleType()),
            T.StructField("f32", T.FloatType()),
            T.StructField("day", T.DateType()),
            T.StructField("ts", T.TimestampType()),
            T.StructField("ntz", T.TimestampNTZType()),
            T.StructField("bin", T.BinaryType()),
            T.StructField("s", T.StringType()),
        ]
    )
    rows = [tuple(r.values()) for r in source_rows()]
    return spark.createDataFrame(spark.sparkContext.parallelize(rows, 3), schema)


def output_files(platform, plan) -> list[Path]:
    folder = files_dir(platform, plan)
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.exists() else []


def plain(value: Decimal, scale: int) -> str:
    return format(value.quantize(Decimal(1).scaleb(-scale), context=Context(prec=80)), "f")


def same_float(text: str | float, expected: float) -> bool:
    value = float(text)
    if math.isnan(expected):
        return math.isnan(value)
    return value == expected and math.copysign(1, value) == math.copysign(1, expected)


def check_text_row(got: dict[str, Any], row: dict[str, Any], number: Any) -> None:
    """One row read back as text (csv) or JSON values, against the source row."""
    assert int(got["id"]) == row["id"]
    for name in ("i8", "i16", "i32", "i64"):
        assert int(got[name]) == row[name], name
    assert number(got["d38"]) == plain(row["d38"], 18)
    assert number(got["d10"]) == plain(row["d10"], 2)
    assert number(got["d38_0"]) == plain(row["d38_0"], 0)
    assert same_float(got["f64"], row["f64"]), (got["f64"], row["f64"])
    # A float is written as the shortest text that reads back as the same float32 value.
    assert same_float(f32(float(got["f32"])), f32(row["f32"])), (got["f32"], row["f32"])
    assert got["day"] == row["day"].isoformat()
    assert datetime.fromisoformat(got["ts"]) == row["ts"] and got["ts"].endswith("Z")
    assert datetime.fromisoformat(got["ntz"]) == row["ntz"]
    assert got["s"] == row["s"], (got["s"][:40], row["s"][:40])


CSV_CASES = [
    pytest.param({}, "none", id="csv"),
    pytest.param({"lineSep": "\r\n"}, "none", id="csv-crlf"),
    pytest.param({"lineSep": "\r"}, "none", id="csv-cr"),
    pytest.param({"lineSep": "\r\n", "sep": ";", "quoteAll": "true"}, "gzip", id="csv-crlf-gzip"),
]


@pytest.mark.parametrize(("options", "codec"), CSV_CASES)
def test_csv_round_trip(source, local_platform, options: dict[str, str], codec: str) -> None:
    df = source.drop("bin")  # csv has no binary type (Spark refuses it)
    plan = make_plan(unique_lakehouse(), file_format_options={"header": "true", **options}, compression=codec)
    publish.publish(writer.write(df, plan, local_platform), plan, local_platform)
    (path,) = output_files(local_platform, plan)
    data = decompress(path, codec) if codec != "none" else path.read_bytes()
    separator = options.get("lineSep", "\n").encode()
    assert data.endswith(separator)
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=options.get("sep", ","))
    header, *records = list(reader)
    assert header == df.columns
    rows = source_rows()
    assert len(records) == len(rows)
    for record, row in zip(records, rows, strict=True):
        check_text_row(dict(zip(header, record, strict=True)), row, number=str)
    # Decimals in plain notation with their scale, nothing scientific.
    for text in (b"0.000000000000000000", b"-0.000000000000000001", b"-12345678.90"):
        assert text in data
    assert b"0E-18" not in data and b"1E-18" not in data


def test_csv_split_with_crlf_keeps_line_breaks_in_values(source, local_platform) -> None:
    df = source.drop("bin")
    plan = make_plan(
        unique_lakehouse(), file_format_options={"header": "true", "lineSep": "\r\n"}, max_rows_per_file=5
    )
    publish.publish(writer.write(df, plan, local_platform), plan, local_platform)
    files = output_files(local_platform, plan)
    assert len(files) == 3
    records = []
    for path in files:
        header, *part = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8"), newline="")))
        records += [dict(zip(header, r, strict=True)) for r in part]
    for got, row in zip(records, source_rows(), strict=True):
        check_text_row(got, row, number=str)


JSON_CASES = [
    pytest.param({}, "none", id="json"),
    pytest.param({"lineSep": "\r\n"}, "gzip", id="json-crlf-gzip"),
    pytest.param({"encoding": "UTF-16LE"}, "none", id="json-utf16le"),
]


@pytest.mark.parametrize(("options", "codec"), JSON_CASES)
def test_json_round_trip(source, local_platform, options: dict[str, str], codec: str) -> None:
    plan = make_plan(unique_lakehouse(), file_format="json", file_format_options=options, compression=codec)
    publish.publish(writer.write(source, plan, local_platform), plan, local_platform)
    (path,) = output_files(local_platform, plan)
    data = decompress(path, codec) if codec != "none" else path.read_bytes()
    text = data.decode(options.get("encoding", "utf-8").lower().replace("utf-16le", "utf-16-le"))
    separator = options.get("lineSep", "\n")
    assert text.endswith(separator)
    lines = text[: -len(separator)].split(separator)
    rows = source_rows()
    assert len(lines) == len(rows)
    for line, row in zip(lines, rows, strict=True):
        got = json.loads(line, parse_float=str)  # the number's own text, to see its notation
        assert isinstance(got["d38"], str) and isinstance(got["i64"], int)  # numbers, not strings
        assert base64.b64decode(got["bin"]) == row["bin"]
        check_text_row(got, row, number=lambda v: v if isinstance(v, str) else str(v))
    assert '"d38":0.000000000000000000' in text and '"d38":-0.000000000000000001' in text
    assert "E-18" not in text


REBASE = "spark.sql.parquet.datetimeRebaseModeInWrite"


@pytest.mark.parametrize("codec", ["snappy", "zstd"])
def test_parquet_round_trip(spark, source, local_platform, codec: str) -> None:
    import pyarrow.parquet as pq

    plan = make_plan(unique_lakehouse(), file_format="parquet", compression=codec)
    previous = spark.conf.get(REBASE)
    if previous.upper() == "EXCEPTION":  # Spark 3.5's default (Runtime 1.3): dates before 1582 refused
        with pytest.raises(WriteError):
            writer.write(source, plan, local_platform)
        assert output_files(local_platform, plan) == []
        spark.conf.set(REBASE, "CORRECTED")  # the session setting docs/output-files.md tells users to set
        plan = make_plan(unique_lakehouse(), file_format="parquet", compression=codec)
    try:
        publish.publish(writer.write(source, plan, local_platform), plan, local_platform)
    finally:
        spark.conf.set(REBASE, previous)
    (path,) = output_files(local_platform, plan)
    table = pq.read_table(path)
    assert str(table.schema.field("d38").type) == "decimal128(38, 18)"
    for got, row in zip(table.to_pylist(), source_rows(), strict=True):
        for name in ("id", "i8", "i16", "i32", "i64", "day", "bin", "s", "ntz"):
            assert got[name] == row[name], name
        for name in ("d38", "d10", "d38_0"):
            scale = table.schema.field(name).type.scale
            assert got[name] == row[name] and got[name].as_tuple().exponent == -scale
        assert same_float(got["f64"], row["f64"]) and same_float(got["f32"], f32(row["f32"]))
        moment = got["ts"]
        assert (moment if moment.tzinfo else moment.replace(tzinfo=UTC)) == row["ts"]
