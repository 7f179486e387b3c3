"""Shared pieces of the Python engine's unit tests (``tests/unit/test_python_engine_*.py``): source
tables written with delta-rs, one export through the engine's read and write, and the readers that
check the files with standard tools."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import write_deltalake
from fabgen_runtime import platform
from fabgen_runtime.engines.python import read as python_read
from fabgen_runtime.engines.python import write as python_write
from writer_support import decompress, make_plan, unique_lakehouse, zip_members

TEXT_CODECS = ["none", "gzip", "zip", "zipdeflate", "zstd", "brotli"]
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


def orders_table(local_platform) -> tuple[str, pa.Table]:
    """A new 500-row orders table (name, rows): the ``orders`` fixture of tests/unit/conftest.py."""
    table = source_table(500)
    name, _path = new_table(local_platform, table)
    return name, table


def export(local_platform, name: str, watermark: str | None = None, **config: Any):
    plan = make_plan(unique_lakehouse(), watermark=watermark, source_table=name, **config)
    stream = python_read.read(plan, local_platform)
    return plan, stream, python_write.write(stream.reader, plan, local_platform)


def text_of(path: Path, codec: str, name: str) -> bytes:
    if codec == "none":
        return path.read_bytes()
    if codec in ("zip", "zipdeflate"):
        members = zip_members(path)
        assert list(members) == [name]
        return members[name]
    return decompress(path, codec)


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def expected_csv(table: pa.Table) -> list[list[str]]:
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
