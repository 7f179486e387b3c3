"""Helpers for the writer and publish tests: a tricky source table, plans, independent readers.

Readers use only the standard library and independent packages (csv, json, gzip, zipfile,
tarfile, brotli, zstandard, pyarrow) plus the ``gzip``/``unzip``/``zstd`` command-line tools,
never fabgen's own code. Where ``zstandard`` / ``brotli`` are not installed (the Fabric Python
notebook's package set, ``scripts/compat-python-notebook.sh``), zstd is read by the ``zstd`` tool
and brotli by pyarrow's own brotli decoder.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
import tarfile
import uuid
import zipfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

COLUMNS = ["id", "qty", "amount", "order_date", "updated_at", "note"]
NOTES = [
    None,
    "",
    "  leading",
    "trailing  ",
    "  both  ",
    "a,b",
    'say "hi"',
    "line1\nline2",
    "crlf\r\nend",
    "ünïcødé 日本語 ✓",
    "back\\slash",
    "|pipe|;semi",
    "tab\there",
    "'single'",
    "plain text value 01",
]
CONTEXT_NOW = datetime(2025, 12, 12, 14, 30, 22, tzinfo=UTC)


def source_rows(count: int) -> list[tuple]:
    """Deterministic rows shaped like orders, with nulls and every awkward string in NOTES."""
    rows = []
    base = datetime(2025, 1, 1, tzinfo=UTC)
    for i in range(count):
        rows.append(
            (
                i + 1,
                None if i % 11 == 5 else (i * 7) % 1000 - 500,
                None if i % 13 == 7 else (Decimal(i * 12345) / 100).quantize(Decimal("0.01")),
                None if i % 17 == 3 else date(2025, 1, 1) + timedelta(days=i % 400),
                base + timedelta(seconds=i * 37, microseconds=(i * 123457) % 1_000_000),
                NOTES[i % len(NOTES)],
            )
        )
    return rows


def source_df(spark, count: int = 2000, partitions: int = 3):
    """The rows as a DataFrame of ``partitions`` partitions, in row order."""
    from pyspark.sql import types as T

    schema = T.StructType(
        [
            T.StructField("id", T.LongType(), False),
            T.StructField("qty", T.IntegerType(), True),
            T.StructField("amount", T.DecimalType(18, 2), True),
            T.StructField("order_date", T.DateType(), True),
            T.StructField("updated_at", T.TimestampType(), True),
            T.StructField("note", T.StringType(), True),
        ]
    )
    rdd = spark.sparkContext.parallelize(source_rows(count), partitions)
    return spark.createDataFrame(rdd, schema)


def export_row(lakehouse: str, **changes: Any) -> dict[str, Any]:
    """A config row for an export into ``lakehouse`` (override any field with ``changes``)."""
    row: dict[str, Any] = {
        "export_group_name": "sales",
        "export_name": "orders",
        "is_active": True,
        "execution_group": 1,
        "source_type": "lakehouse",
        "source_workspace": "ws",
        "source_datastore": "lh_gold",
        "source_table": "orders",
        "target_workspace": "ws",
        "target_lakehouse": lakehouse,
        "target_path": "exports/sales/{run_date:%Y}",
        "target_filename_pattern": "orders_{run_date:%Y%m%d}.{ext}",
        "file_format": "csv",
    }
    row.update(changes)
    return {k: v for k, v in row.items() if v is not None}


def make_plan(
    lakehouse: str,
    watermark: str | None = None,
    period: tuple[datetime, datetime] | None = None,
    **changes: Any,
):
    """A fresh plan (new export run id) for an export into ``lakehouse``; with ``period``, a period
    export over those dates (its ``period_date_query`` is not run: the dates are given)."""
    from fabgen_runtime.configs import parse_config
    from fabgen_runtime.plan import RunContext, build_plan

    if period is not None:
        changes = {"extract_type": "period", "period_date_query": "SELECT 1", **changes}
    context = RunContext.create("2025-12-12", "UTC", execution_id="exec-1", now=CONTEXT_NOW)
    return build_plan(
        parse_config(export_row(lakehouse, **changes)),
        context,
        watermark=watermark,
        export_run_id=str(uuid.uuid4()),
        period_start=period[0] if period else None,
        period_end=period[1] if period else None,
    )


def unique_lakehouse() -> str:
    return "lh_" + uuid.uuid4().hex[:10]


def files_dir(platform, plan) -> Path:
    """Local path of the plan's target directory."""
    return (
        Path(platform.lakehouse_uri(plan.output.workspace, plan.output.lakehouse))
        / "Files"
        / plan.output.directory
    )


def staging_dir(platform, plan) -> Path:
    return (
        Path(platform.lakehouse_uri(plan.output.workspace, plan.output.lakehouse))
        / "Files"
        / plan.output.staging_directory
    )


# --------------------------------------------------------------------------- expected values


def csv_text(row: tuple, null: str = "") -> list[str]:
    """How a source row reads back from a CSV written with fabgen's defaults."""
    id_, qty, amount, day, moment, note = row
    return [
        str(id_),
        null if qty is None else str(qty),
        null if amount is None else str(amount),
        null if day is None else day.isoformat(),
        moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        null if note is None else note,
    ]


def json_record(row: tuple) -> dict[str, Any]:
    id_, qty, amount, day, moment, note = row
    return {
        "id": id_,
        "qty": qty,
        "amount": amount,
        "order_date": None if day is None else day.isoformat(),
        "updated_at": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "note": note,
    }


# --------------------------------------------------------------------------- readers


def check_tool(args: list[str]) -> None:
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{args}: {result.stdout}{result.stderr}"


def decompress(path: Path, codec: str) -> bytes:
    """The decompressed bytes of a .gz/.zst/.br file, checked with the standard tool where there is one."""
    data = path.read_bytes()
    if codec == "gzip":
        check_tool(["gzip", "-t", str(path)])
        return gzip.decompress(data)
    if codec == "zstd":
        check_tool(["zstd", "-q", "-t", str(path)])
        try:
            import zstandard
        except ImportError:
            tool = subprocess.run(["zstd", "-q", "-d", "-c", str(path)], capture_output=True, check=True)
            return tool.stdout
        return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True).read()
    if codec == "brotli":
        try:
            import brotli
        except ImportError:
            import pyarrow as pa

            return pa.CompressedInputStream(io.BytesIO(data), "brotli").read()
        return brotli.decompress(data)
    raise AssertionError(codec)


def zip_members(path: Path) -> dict[str, bytes]:
    check_tool(["unzip", "-t", str(path)])
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def tar_members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers()}


def read_csv(data: bytes, sep: str = ",", encoding: str = "utf-8") -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(encoding), newline=""), delimiter=sep))


def read_json_lines(data: bytes) -> list[dict[str, Any]]:
    text = data.decode("utf-8")
    assert text.endswith("\n")
    return [json.loads(line, parse_float=Decimal) for line in text.splitlines()]


def read_parquet(path: Path) -> list[tuple]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    out = []
    for record in table.to_pylist():
        moment = record["updated_at"]
        out.append(
            (
                record["id"],
                record["qty"],
                record["amount"],
                record["order_date"],
                moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment,
                record["note"],
            )
        )
    return out
