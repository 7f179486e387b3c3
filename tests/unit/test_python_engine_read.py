"""The Python engine's lakehouse reads without a JVM: filters pushed down to the files, watermarks and
their types, NULL counts, period filters, the pinned version, the columns read, and rows streamed in
batches (never the whole table in memory).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake
from fabgen_runtime.engines.python import memory as python_memory
from fabgen_runtime.engines.python import read as python_read
from fabgen_runtime.engines.python import write as python_write
from fabgen_runtime.errors import ConfigError
from python_engine_support import (
    START,
    csv_rows,
    export,
    new_table,
    source_table,
)
from writer_support import make_plan, unique_lakehouse


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
    ids = [int(r[0]) for r in csv_rows(Path(staged_file.uri).read_bytes())[1:]]
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
    name, table = orders
    start, end = datetime(2025, 2, 1), datetime(2025, 2, 10)
    plan = make_plan(
        unique_lakehouse(), period=(start, end), source_table=name, period_filter_column="order_date"
    )
    stream = python_read.read(plan, local_platform)
    staged = python_write.write(stream.reader, plan, local_platform)
    days = table.to_pandas()["order_date"]
    expected = table.filter(pa.array(((days >= start.date()) & (days <= end.date())).tolist()))
    assert staged.rows == expected.num_rows > 0
    (staged_file,) = staged.files
    assert [r[0] for r in csv_rows(Path(staged_file.uri).read_bytes())[1:]] == [
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

    engine_pool = python_memory.pool()  # the read's buffers; the text encoding uses the default pool
    extra = engine_pool if engine_pool.backend_name != pa.default_memory_pool().backend_name else None

    def watched():
        for batch in stream.reader:
            peaks.append(pa.total_allocated_bytes() + (extra.bytes_allocated() if extra else 0))
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
