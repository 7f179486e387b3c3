"""Warehouse exports on both engines: Spark (JDBC) and Python (pyodbc) write the same files.

One PostgreSQL table (the local warehouse stand-in) with the types warehouse exports carry
(integers of three sizes, numeric(18,2) and numeric(38,18), real and double, booleans, dates,
timestamps with and without zone, text with quotes, separators, line breaks and unicode, NULLs)
is exported by whole runs of both engines with the same rows: csv and json files are equal byte
for byte, parquet by value. The incremental export on the Python engine moves its watermark as
Spark's does, and a period export resolves ``period_date_query`` over ODBC (no Spark).
"""

from __future__ import annotations

import gzip
import uuid
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from fabgen_runtime import ExportLogger, ExportOrchestrator
from fabgen_runtime.engines.python.state import PythonExportLogger
from pg_support import pg_execute, recreate_database
from run_support import csv_export_row

pytestmark = [pytest.mark.jvm, pytest.mark.warehouse]

WS = "WS_WHEQ"
WAREHOUSE = "wh_equivalence"
TABLE_SQL = """
CREATE SCHEMA dbo;
CREATE TABLE dbo.items (
    id bigint PRIMARY KEY, small smallint, mid integer, amount numeric(18,2), fine numeric(38,18),
    ratio double precision, approx real, flag boolean, day date, at timestamp, at_zone timestamptz,
    note text, code varchar(12));
INSERT INTO dbo.items
SELECT g,
       CASE WHEN g % 7 = 3 THEN NULL ELSE (g * 37 % 600 - 300)::smallint END,
       g * 7919 % 100000 - 50000,
       CASE WHEN g % 5 = 1 THEN NULL ELSE g * 12.34 - 500 END,
       CASE WHEN g % 4 = 0 THEN 99999999999999999999.999999999999999999 ELSE g / 7.0 END,
       CASE WHEN g % 6 = 2 THEN NULL ELSE g / 3.0 END,
       (g * 0.25)::real,
       CASE WHEN g % 3 = 0 THEN NULL ELSE g % 2 = 0 END,
       DATE '2024-01-01' + g,
       TIMESTAMP '2024-02-28 23:59:59.123456' + g * INTERVAL '1 hour',
       TIMESTAMPTZ '2025-03-30 01:30:00+00' + g * INTERVAL '17 minutes',
       (ARRAY['plain', 'a,b;c', 'say "hi"', E'new\\nline', E'crlf\\r\\nx', '',
              'ünïcødé 日本語 😀', NULL])[g % 8 + 1],
       'c' || g
FROM generate_series(1, 120) g;
CREATE FUNCTION dbo.fn_month(p date) RETURNS TABLE(start_date date, end_date date)
LANGUAGE sql AS $$ SELECT DATE '2024-01-10', DATE '2024-02-20' $$;
"""


@pytest.fixture(scope="module")
def engines(spark, local_platform, warehouse) -> dict[str, ExportOrchestrator]:
    recreate_database(WAREHOUSE)
    pg_execute(WAREHOUSE, TABLE_SQL)
    spark_logger = ExportLogger(f"{WS}/lh_cfg", spark=spark, platform=local_platform)
    python_logger = PythonExportLogger(f"{WS}/lh_cfg", platform=local_platform)
    return {
        "spark": ExportOrchestrator(spark, spark_logger, 2, platform=local_platform),
        "python": ExportOrchestrator(None, python_logger, 2, platform=local_platform),
    }


def row(engine: str, name: str, **overrides: Any) -> dict[str, Any]:
    source = dict(
        source_type="warehouse",
        source_workspace=WS,
        source_datastore=WAREHOUSE,
        source_schema="dbo",
        source_table="items",
    )
    return csv_export_row(f"eq_{engine}", name, source, (WS, f"lh_{engine}"), **overrides)


def run_both(engines, name: str, **overrides: Any) -> dict[str, list[Path]]:
    files = {}
    for engine, orchestrator in engines.items():
        result = orchestrator.process_exports(
            [row(engine, name, **overrides)], str(uuid.uuid4()), "2025-06-01"
        )
        (entry,) = result["results"]
        assert entry["status"] == "success", (engine, entry["error"])
        files[engine] = [Path(p) for p in entry["file_paths"]]
    assert [p.name for p in files["python"]] == [p.name for p in files["spark"]]
    return files


CASES = [
    ("csv", "none", {"header": "true"}),
    ("csv", "gzip", {"header": "true", "sep": ";", "quoteAll": "true", "nullValue": "NULL"}),
    ("json", "none", {}),
]


@pytest.mark.parametrize(("fmt", "codec", "options"), CASES, ids=[f"{f}-{c}" for f, c, _o in CASES])
def test_text_files_are_byte_identical(engines, fmt: str, codec: str, options: dict[str, str]) -> None:
    name = f"t_{fmt}_{codec}"
    suffix = ".csv" if fmt == "csv" else ".json"
    files = run_both(
        engines,
        name,
        file_format=fmt,
        compression=codec,
        file_format_options=options,
        target_filename_pattern=name + "_{run_date:%Y%m%d}" + suffix,
    )

    def text(path: Path) -> bytes:
        return gzip.decompress(path.read_bytes()) if codec == "gzip" else path.read_bytes()

    for spark_file, python_file in zip(files["spark"], files["python"], strict=True):
        expected, got = text(spark_file), text(python_file)
        if got != expected:
            pairs = zip(got.splitlines(True), expected.splitlines(True), strict=False)
            first = next((p for p in pairs if p[0] != p[1]), None)
            pytest.fail(f"{python_file.name}: first differing line python={first!r}")
        assert len(expected.splitlines()) > 100


def test_parquet_is_equal_by_value(engines) -> None:
    files = run_both(
        engines,
        "t_parquet",
        file_format="parquet",
        compression="snappy",
        file_format_options={},
        target_filename_pattern="t_parquet_{run_date:%Y%m%d}.parquet",
    )
    expected = pq.read_table(files["spark"][0], coerce_int96_timestamp_unit="us")
    got = pq.read_table(files["python"][0])
    assert got.column_names == expected.column_names
    for name in expected.column_names:
        left, right = got.column(name), expected.column(name)
        if str(left.type).startswith("timestamp"):
            left, right = pc.cast(left, "timestamp[us]"), pc.cast(right, "timestamp[us]")
        assert left.type == right.type, name
        assert left.to_pylist() == right.to_pylist(), name


def test_incremental_and_period_exports_agree(engines) -> None:
    incremental = dict(
        extract_type="incremental",
        incremental_column="at",
        incremental_initial_watermark="2024-03-02T00:00:00",
        target_filename_pattern="inc_{run_id}.csv",
    )
    period = dict(
        extract_type="period",
        period_filter_column="day",
        period_date_query="SELECT start_date, end_date FROM dbo.fn_month('{run_date:%Y-%m-%d}')",
        target_filename_pattern="period_{run_date:%Y%m%d}.csv",
    )
    for name, overrides in (("t_inc", incremental), ("t_period", period)):
        texts, marks = {}, {}
        for engine, orchestrator in engines.items():
            result = orchestrator.process_exports(
                [row(engine, name, **overrides)], str(uuid.uuid4()), "2025-06-01"
            )
            (entry,) = result["results"]
            assert entry["status"] == "success", (engine, entry["error"])
            texts[engine] = b"".join(Path(p).read_bytes() for p in entry["file_paths"])
            marks[engine] = entry["watermark"]
        assert texts["python"] == texts["spark"], name
        assert marks["python"] == marks["spark"], name
        assert texts["python"].count(b"\n") > 10, name


def test_query_mode_exports_agree(engines) -> None:
    """A ``source_query`` (expressions, ORDER BY; a filter on a run-date placeholder) runs on both
    engines as a derived table: the same bytes.

    ``amount * 2`` is cast: PostgreSQL's result is an unconstrained ``numeric``, which Spark's JDBC
    reader types ``decimal(38,18)`` and psqlODBC reports as precision 28 with the operands' scale (a
    stand-in difference: a Fabric Warehouse's T-SQL decimals always carry their precision).
    """
    queries = {
        "q_expr": (
            "SELECT id, note, CAST(amount * 2 AS numeric(20,2)) AS doubled, "
            "CASE WHEN flag THEN 'y' ELSE 'n' END AS yes_no "
            "FROM dbo.items WHERE id % 3 = 0 ORDER BY id"
        ),
        "q_dated": "SELECT id, day, at_zone FROM dbo.items WHERE day < DATE '{run_date:%Y-%m-%d}' - 500",
    }
    for name, query in queries.items():
        texts = {}
        for engine, orchestrator in engines.items():
            exported = row(
                engine, name, source_table=None, source_query=query, target_filename_pattern=f"{name}.csv"
            )
            result = orchestrator.process_exports([exported], str(uuid.uuid4()), "2025-06-01")
            (entry,) = result["results"]
            assert entry["status"] == "success", (engine, entry["error"])
            texts[engine] = b"".join(Path(p).read_bytes() for p in entry["file_paths"])
        assert texts["python"] == texts["spark"], name
        assert texts["python"].count(b"\n") > 10, name
