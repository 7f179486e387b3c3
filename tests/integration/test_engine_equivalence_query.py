"""Query mode on both engines: the same lakehouse ``source_query`` / ``period_date_query`` gives the
same files on Spark (Spark SQL) and on the Python engine (sqlglot to DuckDB).

The cases are :mod:`query_cases`' (joins, aggregates, window functions, CASE, dates and time zones,
strings, decimals, NULLs, placeholders with a watermark, a period): csv and json byte-identical,
parquet equal by value (DuckDB types some results differently: ``sum`` of integers is
``decimal(38,0)`` where Spark's is ``bigint``; the values are equal). The same cases' values are
checked without a JVM against pandas in ``tests/unit/test_python_engine_query.py``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from fabgen_runtime.engines.python import query as python_query
from fabgen_runtime.engines.python import write as python_write
from fabgen_runtime.engines.spark import sources, writer
from fabgen_runtime.engines.spark.lakehouse import LakehouseSource
from query_cases import CASES, PERIOD, PERIOD_QUERY, QueryCase, Tables, case_plan, write_tables
from writer_support import make_plan, unique_lakehouse

pytestmark = pytest.mark.jvm

FORMATS = [
    pytest.param("csv", {"header": "true"}, id="csv"),
    pytest.param("json", {}, id="json"),
]


@pytest.fixture(scope="module")
def tables(spark, local_platform) -> Tables:
    return write_tables(local_platform)


def _both(spark, local_platform, case: QueryCase, tables: Tables, **config: Any):
    spark_plan = case_plan(case, tables, **config)
    read = sources.get("lakehouse").read(spark, spark_plan, local_platform)
    try:
        spark_staged = writer.write(read.df, spark_plan, local_platform)
    finally:
        read.close()
    python_plan = case_plan(case, tables, **config)
    stream = python_query.read_query(python_plan, local_platform)
    # the same tables, pinned at the same versions (listed in each parser's order)
    assert sorted((stream.version or "").split(",")) == sorted((read.version or "").split(","))
    python_staged = python_write.write(stream.reader, python_plan, local_platform)
    return spark_staged, python_staged


@pytest.mark.parametrize(("fmt", "options"), FORMATS)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_query_text_files_are_byte_identical(spark, local_platform, tables, case, fmt, options) -> None:
    spark_staged, python_staged = _both(
        spark, local_platform, case, tables, file_format=fmt, file_format_options=options
    )
    assert python_staged.rows == spark_staged.rows > 0
    assert python_staged.max_watermark == spark_staged.max_watermark
    (spark_file,), (python_file,) = spark_staged.files, python_staged.files
    expected, got = Path(spark_file.uri).read_bytes(), Path(python_file.uri).read_bytes()
    if got != expected:
        pairs = zip(got.splitlines(True), expected.splitlines(True), strict=False)
        first = next((pair for pair in pairs if pair[0] != pair[1]), None)
        pytest.fail(f"{case.name}: first differing line python={first} spark" if first else case.name)


def _values(path: str) -> list[dict[str, Any]]:
    """Rows by value: timestamps as naive UTC (Spark writes INT96), numbers as Decimal."""
    table = pq.read_table(path, coerce_int96_timestamp_unit="us")
    columns = [pc.cast(c, pa.timestamp("us")) if pa.types.is_timestamp(c.type) else c for c in table.columns]
    rows = pa.table(columns, names=table.column_names).to_pylist()
    return [
        {k: Decimal(v) if isinstance(v, int) and not isinstance(v, bool) else v for k, v in row.items()}
        for row in rows
    ]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_query_parquet_is_equal_by_value(spark, local_platform, tables, case) -> None:
    spark_staged, python_staged = _both(spark, local_platform, case, tables, file_format="parquet")
    (spark_file,), (python_file,) = spark_staged.files, python_staged.files
    assert _values(python_file.uri) == _values(spark_file.uri)


def test_period_date_query_gives_the_same_dates(spark, local_platform, tables) -> None:
    config = make_plan(unique_lakehouse(), source_table=tables.orders).config
    query = PERIOD_QUERY.format(orders=f"dbo.{tables.orders}").replace("{run_date:%Y-%m-%d}", "2025-12-12")
    spark_dates = LakehouseSource().period(spark, config, query, local_platform)
    assert python_query.period(config, query, local_platform) == spark_dates == PERIOD
