"""The runtime on either Fabric Spark runtime: real exports through the public API, read back independently.

The same file runs on both local engines and checks that the engine is the pair it claims:

* ``.venv-rt13`` (``scripts/compat-runtime-1.3.sh``): pyspark 3.5.5 + Delta 3.2 (Scala 2.12), Runtime 1.3;
* ``.venv`` (``pytest tests/compat``): pyspark 4.1.1 + Delta 4.2 (Scala 2.13), Runtime 2.0.

The main run does not collect ``tests/compat`` (``norecursedirs``): Runtime 2.0 is covered by
``tests/integration``; this file is for Runtime 1.3. Every export goes through
``ExportOrchestrator`` + ``ExportLogger`` (Delta state tables), and every output is read with
Python's own readers (gzip, zipfile, json), pandas and pyarrow, never with Spark. Data is small.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
import zipfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from importlib import metadata
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from fabgen_runtime import ExportLogger, ExportOrchestrator, platform
from fabgen_runtime.engines.spark import local_spark
from pg_support import pg_connect, recreate_database

pytestmark = pytest.mark.jvm

SERIES = ".".join(metadata.version("pyspark").split(".")[:2])
# What each Fabric runtime ships, as the local engine must reproduce it.
ENGINES = {
    "3.5": {"runtime": "1.3", "spark": "3.5.5", "scala": "2.12", "delta": "3.2.", "python": (3, 11)},
    "4.1": {"runtime": "2.0", "spark": "4.1.1", "scala": "2.13", "delta": "4.2.", "python": None},
}
ENGINE = ENGINES[SERIES]

WS = "WS_COMPAT"
SOURCE_LH = f"lh_src_rt{ENGINE['runtime'].replace('.', '')}"
TARGET_LH = "lh_out"
CONFIG_LH = {"workspace": WS, "lakehouse": "lh_config"}
RUN_DATE = "2025-06-30"
ROWS = 2_500
NEW_ROWS = 300
BASE_TIME = datetime(2025, 6, 1, 8, 0, 0)


# --------------------------------------------------------------------------- data


def order_rows(start: int, count: int) -> list[tuple]:
    """Deterministic orders: text with commas, quotes and non-ASCII, some nulls, two-place decimals."""
    rows = []
    for i in range(start, start + count):
        note = None if i % 97 == 0 else f'note {i}, "quoted" ünïcode' if i % 10 == 0 else f"note {i}"
        rows.append(
            (
                i,
                f"customer_{i % 37}",
                Decimal(i * 7 % 100_000) / Decimal(100),
                date(2025, 1, 1) + timedelta(days=i % 180),
                BASE_TIME + timedelta(minutes=i),
                note,
            )
        )
    return rows


ORDER_SCHEMA = (
    "order_id BIGINT, customer STRING, amount DECIMAL(18,2), order_date DATE, updated_at TIMESTAMP, "
    "note STRING"
)


def expected(rows: list[tuple]) -> dict[int, tuple]:
    return {r[0]: r for r in rows}


def write_orders(spark, rows: list[tuple], mode: str) -> None:
    uri = platform.table_uri(platform.current(), WS, SOURCE_LH, "dbo", "orders")
    spark.createDataFrame(rows, ORDER_SCHEMA).repartition(4).write.format("delta").mode(mode).save(uri)


def config(name: str, **fields) -> dict:
    row = {
        "export_group_name": "compat",
        "export_name": name,
        "is_active": True,
        "execution_group": 1,
        "source_type": "lakehouse",
        "source_workspace": WS,
        "source_datastore": SOURCE_LH,
        "source_schema": "dbo",
        "source_table": "orders",
        "target_workspace": WS,
        "target_lakehouse": TARGET_LH,
        "target_path": f"compat/{name}/{{run_date:%Y}}/",
        "target_filename_pattern": f"{name}_{{run_date:%Y%m%d}}.csv",
        "file_format": "csv",
        "file_format_options": {"header": "true"},
    }
    row.update(fields)
    return row


def check_csv(text: str, want: dict[int, tuple], header: bool = True) -> None:
    """CSV text has exactly ``want``'s rows (ids, amounts, dates, notes), read with pandas."""
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, header=0 if header else None)
    assert list(frame.columns)[:3] == ["order_id", "customer", "amount"]
    assert len(frame) == len(want)
    got = {int(r.order_id): r for r in frame.itertuples(index=False)}
    assert got.keys() == want.keys()
    for order_id, row in want.items():
        line = got[order_id]
        assert Decimal(line.amount) == row[2]
        assert line.order_date == row[3].isoformat()
        assert line.note == (row[5] or "")


def result_of(result: dict, name: str) -> dict:
    assert result["success"], json.dumps(result, indent=1, default=str)
    return next(r for r in result["results"] if r["export_name"] == name)


def delta_rows(table: Path) -> list[dict]:
    """The rows of a Delta table's current version, read with pyarrow over the files its log keeps."""
    live: dict[str, dict] = {}
    for entry in sorted((table / "_delta_log").glob("*.json")):
        for line in entry.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                assert "deletionVector" not in action["add"] or action["add"]["deletionVector"] is None
                live[action["add"]["path"]] = action["add"]
            if "remove" in action:
                live.pop(action["remove"]["path"], None)
    rows: list[dict] = []
    for path in sorted(live):
        rows += pq.read_table(table / path).to_pylist()
    return rows


def delta_protocol(table: Path) -> dict:
    protocol: dict = {}
    for entry in sorted((table / "_delta_log").glob("*.json")):
        for line in entry.read_text().splitlines():
            action = json.loads(line)
            protocol = action.get("protocol", protocol)
    return protocol


def state_table(onelake_root: Path, name: str) -> Path:
    return onelake_root / WS / f"{CONFIG_LH['lakehouse']}.Lakehouse" / "Tables" / "dbo" / name


# --------------------------------------------------------------------------- the engine itself


def test_engine_is_the_fabric_runtime_pair(spark) -> None:
    assert spark.version == ENGINE["spark"]
    scala = spark.sparkContext._jvm.scala.util.Properties.versionNumberString()
    assert scala.startswith(ENGINE["scala"] + ".")
    assert metadata.version("delta-spark").startswith(ENGINE["delta"])
    jars = spark.conf.get("spark.jars")
    for coordinate in local_spark.local_jars():
        _group, artifact, version = coordinate.split(":")
        assert f"{artifact}-{version}.jar" in jars
    assert f"_{ENGINE['scala']}" in jars
    # The Delta jar on the JVM is the one for this runtime (its own version constant).
    assert spark.sparkContext._jvm.io.delta.package.VERSION().startswith(ENGINE["delta"])
    if ENGINE["python"]:
        assert sys.version_info[:2] == ENGINE["python"]


# --------------------------------------------------------------------------- lakehouse exports


def test_formats_and_codecs_through_the_orchestrator(spark, local_platform, onelake_root: Path) -> None:
    rows = order_rows(1, ROWS)
    write_orders(spark, rows, "overwrite")
    want = expected(rows)
    configs = [
        config(
            "csv_gzip",
            compression="gzip",
            compression_level=1,
            trigger_file_pattern="csv_gzip_{run_date:%Y%m%d}.done",
        ),
        config("csv_gzip9", compression="gzip", compression_level=9),
        config("csv_zip_split", compression="zip", max_rows_per_file=1_000),
        config(
            "parquet_snappy",
            file_format="parquet",
            file_format_options={},
            target_filename_pattern="parquet_snappy_{run_date:%Y%m%d}.parquet",
        ),
        config(
            "json_plain",
            file_format="json",
            file_format_options={},
            target_filename_pattern="json_plain_{run_date:%Y%m%d}.json",
        ),
        config(
            "json_zstd",
            file_format="json",
            file_format_options={},
            compression="zstd",
            compression_level=3,
            target_filename_pattern="json_zstd_{run_date:%Y%m%d}.json",
        ),
        config(
            "query_totals",
            source_table=None,
            execution_group=2,
            source_query="SELECT customer, COUNT(*) AS orders, SUM(amount) AS total FROM dbo.orders "
            "WHERE order_date <= DATE '{run_date:%Y-%m-%d}' GROUP BY customer",
            target_filename_pattern="query_totals_{run_date:%Y%m%d}.csv",
        ),
    ]
    logger = ExportLogger(CONFIG_LH, spark=spark, platform=local_platform)
    orchestrator = ExportOrchestrator(spark, logger, max_concurrency=2, platform=local_platform)
    result = orchestrator.process_exports(configs, run_date=RUN_DATE, execution_id="compat-formats")
    assert result["total_exports"] == 7 and result["successful"] == 7

    # csv + gzip: one gzip file (header member + Spark's members), a trigger written after it.
    entry = result_of(result, "csv_gzip")
    (path,) = entry["file_paths"]
    assert path.endswith("compat/csv_gzip/2025/csv_gzip_20250630.csv.gz")
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        text = handle.read()
    assert text.startswith("order_id,customer,amount,order_date,updated_at,note\n")
    check_csv(text, want)
    assert Path(entry["trigger_file_path"]).is_file() and Path(entry["trigger_file_path"]).stat().st_size == 0
    assert entry["rows_exported"] == ROWS and entry["total_bytes"] == Path(path).stat().st_size
    # The level is honoured on both runtimes (Hadoop 3.3 without native zlib ignores it: see writer).
    (path9,) = result_of(result, "csv_gzip9")["file_paths"]
    with gzip.open(path9, "rt", encoding="utf-8", newline="") as handle:
        assert handle.read() == text
    assert Path(path9).stat().st_size < Path(path).stat().st_size

    # zip with split: one archive, one entry per 1,000 rows, each with its own header.
    entry = result_of(result, "csv_zip_split")
    (path,) = entry["file_paths"]
    assert path.endswith("csv_zip_split_20250630.zip")
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert names == [f"csv_zip_split_20250630_part{n:04d}.csv" for n in (1, 2, 3)]
        texts = [archive.read(n).decode("utf-8") for n in names]
    frames = [pd.read_csv(io.StringIO(t), dtype=str, keep_default_na=False) for t in texts]
    assert [len(f) for f in frames] == [1_000, 1_000, 500]
    check_csv(texts[0] + "".join(t.split("\n", 1)[1] for t in texts[1:]), want)

    # parquet snappy: one file, several row groups joined JVM side, read with pyarrow.
    entry = result_of(result, "parquet_snappy")
    (path,) = entry["file_paths"]
    meta = pq.read_metadata(path)
    assert meta.num_rows == ROWS
    assert {meta.row_group(i).column(0).compression for i in range(meta.num_row_groups)} == {"SNAPPY"}
    table = pq.read_table(path).to_pylist()
    assert {r["order_id"]: r for r in table}.keys() == want.keys()
    sample = next(r for r in table if r["order_id"] == 10)
    assert sample["amount"] == want[10][2] and sample["order_date"] == want[10][3]
    assert sample["note"] == want[10][5]
    assert sample["updated_at"].replace(tzinfo=None) == want[10][4]  # UTC session time zone

    # json lines, plain and zstd (one frame per compressed piece, read as one stream).
    import zstandard

    entry = result_of(result, "json_plain")
    (plain,) = entry["file_paths"]
    entry = result_of(result, "json_zstd")
    (packed,) = entry["file_paths"]
    assert packed.endswith("json_zstd_20250630.json.zst")
    with open(packed, "rb") as handle:
        unpacked = zstandard.ZstdDecompressor().stream_reader(handle, read_across_frames=True).read()
    plain_text = Path(plain).read_text(encoding="utf-8")
    assert unpacked.decode("utf-8") == plain_text
    records = [json.loads(line) for line in plain_text.splitlines()]
    assert len(records) == ROWS
    got = {r["order_id"]: r for r in records}
    assert got.keys() == want.keys()
    assert Decimal(str(got[10]["amount"])) == want[10][2]
    assert got[10]["note"] == want[10][5]
    assert got[97]["note"] is None  # nulls are kept (the json format sets ignoreNullFields=false)

    # source_query over the lakehouse (Spark SQL, the table pinned to its Delta version).
    entry = result_of(result, "query_totals")
    (path,) = entry["file_paths"]
    totals = pd.read_csv(path, dtype=str).set_index("customer")
    for customer in {r[1] for r in rows}:
        mine = [r for r in rows if r[1] == customer]
        assert int(totals.loc[customer, "orders"]) == len(mine)
        assert Decimal(totals.loc[customer, "total"]) == sum(r[2] for r in mine)
    assert entry["source_version"] is not None

    # Nothing staged is left behind.
    files = onelake_root / WS / f"{TARGET_LH}.Lakehouse" / "Files"
    assert not list(files.rglob("_fabgen_staging*"))

    # The log table, read without Spark: five successful runs of this execution.
    log_rows = [
        r
        for r in delta_rows(state_table(onelake_root, "log_resource_export"))
        if r["master_execution_id"] == "compat-formats"
    ]
    assert sorted((r["export_name"], r["export_state"], r["rows_exported"]) for r in log_rows) == sorted(
        (c["export_name"], "success", 37 if c["export_name"] == "query_totals" else ROWS) for c in configs
    )


def test_incremental_watermark_across_two_runs(spark, local_platform, onelake_root: Path) -> None:
    first = order_rows(1, ROWS)
    write_orders(spark, first, "overwrite")
    row = config(
        "orders_changes",
        extract_type="incremental",
        incremental_column="updated_at",
        incremental_initial_watermark="2025-01-01 00:00:00",
        target_filename_pattern="orders_changes_{run_date:%Y%m%d}_{run_id}.csv",
    )
    logger = ExportLogger(CONFIG_LH, spark=spark, platform=local_platform)
    orchestrator = ExportOrchestrator(spark, logger, max_concurrency=1, platform=local_platform)

    one = result_of(
        orchestrator.process_exports([row], run_date=RUN_DATE, execution_id="compat-inc-1"), "orders_changes"
    )
    assert one["rows_exported"] == ROWS
    last = max(r[4] for r in first)
    assert one["watermark"] == last.isoformat()
    (path,) = one["file_paths"]
    check_csv(Path(path).read_text(encoding="utf-8"), expected(first))

    # New rows arrive (later updated_at); the second run exports exactly those.
    later = order_rows(ROWS + 1, NEW_ROWS)
    write_orders(spark, later, "append")
    two = result_of(
        orchestrator.process_exports([row], run_date=RUN_DATE, execution_id="compat-inc-2"), "orders_changes"
    )
    assert two["rows_exported"] == NEW_ROWS
    (path2,) = two["file_paths"]
    assert path2 != path  # {run_id} keeps both runs' files
    check_csv(Path(path2).read_text(encoding="utf-8"), expected(later))
    newest = max(r[4] for r in later)
    assert two["watermark"] == newest.isoformat()

    # The watermark table, read without Spark, holds the second run's value; the API agrees.
    marks = [
        r
        for r in delta_rows(state_table(onelake_root, "log_resource_export_watermark"))
        if r["export_name"] == "orders_changes"
    ]
    assert len(marks) == 1
    assert marks[0]["watermark_value"] == newest.isoformat()
    assert marks[0]["updated_by_run_id"] == two["export_run_id"]
    stored = logger.get_watermark("compat", "orders_changes")
    assert stored is not None and stored.value == newest.isoformat()

    # A third run with nothing new: a warning, no file rows, the watermark stays.
    three = orchestrator.process_exports([row], run_date=RUN_DATE, execution_id="compat-inc-3")
    (entry,) = three["results"]
    assert entry["status"] == "warning" and entry["rows_exported"] == 0
    assert logger.get_watermark("compat", "orders_changes").value == newest.isoformat()

    # The state tables stay readable by both runtimes' Delta (no table feature newer than Delta 3.2).
    for name in ("log_resource_export", "log_resource_export_watermark"):
        protocol = delta_protocol(state_table(onelake_root, name))
        assert protocol.get("minReaderVersion", 1) == 1, protocol
        assert protocol.get("minWriterVersion", 2) <= 2, protocol


# --------------------------------------------------------------------------- warehouse (JDBC)


@pytest.mark.warehouse
def test_warehouse_source_over_jdbc(spark, local_platform, warehouse) -> None:
    database = f"wh_compat_rt{ENGINE['runtime'].replace('.', '')}"
    recreate_database(database, warehouse)
    conn = pg_connect(database, warehouse)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE SCHEMA dbo")
        cur.execute(
            "CREATE TABLE dbo.payments (payment_id int PRIMARY KEY, paid_on date, amount numeric(18,2),"
            " payer text, posted_at timestamp)"
        )
        cur.execute(
            "INSERT INTO dbo.payments SELECT g, DATE '2025-06-01' + (g % 30), g * 1.25,"
            " 'payer, ' || (g % 11), TIMESTAMP '2025-06-01 00:00:00' + g * INTERVAL '1 minute'"
            " FROM generate_series(1, 1000) g"
        )
    conn.close()

    base = {"source_type": "warehouse", "source_datastore": database, "source_table": "payments"}
    configs = [
        config(
            "wh_table",
            **base,
            source_columns=["payment_id", "paid_on", "amount", "payer"],
            compression="gzip",
            target_filename_pattern="wh_table_{run_date:%Y%m%d}.csv",
        ),
        config(
            "wh_query",
            **{**base, "source_table": None},
            file_format="parquet",
            file_format_options={},
            source_query="SELECT payment_id, amount FROM dbo.payments WHERE amount > 1000",
            target_filename_pattern="wh_query_{run_date:%Y%m%d}.parquet",
        ),
        config(
            "wh_period",
            **base,
            extract_type="period",
            period_filter_column="paid_on",
            period_date_query="SELECT DATE '{run_date:%Y-%m-%d}' - 29 AS start_date,"
            " DATE '{run_date:%Y-%m-%d}' - 25 AS end_date",
            target_filename_pattern="wh_period_{period_start_date:%Y%m%d}_{period_end_date:%Y%m%d}.json",
            file_format="json",
            file_format_options={},
        ),
        config(
            "wh_incremental",
            **base,
            extract_type="incremental",
            incremental_column="posted_at",
            incremental_initial_watermark="2025-06-01 10:00:00",
            target_filename_pattern="wh_incremental_{run_date:%Y%m%d}.csv",
        ),
    ]
    logger = ExportLogger(CONFIG_LH, spark=spark, platform=local_platform)
    orchestrator = ExportOrchestrator(spark, logger, max_concurrency=2, platform=local_platform)
    result = orchestrator.process_exports(configs, run_date=RUN_DATE, execution_id="compat-wh")

    entry = result_of(result, "wh_table")
    (path,) = entry["file_paths"]
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        lines = list(csv.reader(handle))
    assert lines[0] == ["payment_id", "paid_on", "amount", "payer"]
    body = {int(r[0]): r for r in lines[1:]}
    assert body.keys() == set(range(1, 1001))
    assert body[7] == ["7", (date(2025, 6, 1) + timedelta(days=7)).isoformat(), "8.75", "payer, 7"]

    entry = result_of(result, "wh_query")
    (path,) = entry["file_paths"]
    table = pq.read_table(path).to_pylist()
    assert {r["payment_id"] for r in table} == {g for g in range(1, 1001) if g * Decimal("1.25") > 1000}
    assert entry["rows_exported"] == len(table)

    # period: paid_on from 2025-06-01 to 2025-06-05 inclusive (the period_date_query ran in PostgreSQL).
    entry = result_of(result, "wh_period")
    (path,) = entry["file_paths"]
    assert path.endswith("wh_period_20250601_20250605.json")
    records = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]
    assert sorted(r["payment_id"] for r in records) == [g for g in range(1, 1001) if g % 30 <= 4]
    assert {r["paid_on"] for r in records} == {f"2025-06-0{d}" for d in range(1, 6)}

    # incremental: posted_at > 10:00 means minutes 601..1000.
    entry = result_of(result, "wh_incremental")
    assert entry["rows_exported"] == 400
    (path,) = entry["file_paths"]
    frame = pd.read_csv(path, dtype=str)
    assert sorted(int(v) for v in frame["payment_id"]) == list(range(601, 1001))
    last = datetime(2025, 6, 1, tzinfo=UTC).replace(tzinfo=None) + timedelta(minutes=1000)
    assert entry["watermark"] == last.isoformat()
