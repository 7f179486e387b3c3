"""Lakehouse query mode on the Python engine, without a JVM: Spark SQL through sqlglot, run by DuckDB.

Each case of :mod:`query_cases` (joins, aggregates, windows, CASE, dates and time zones, strings,
decimals, NULLs, placeholders, periods) runs through the engine's read (:mod:`.query`) and its
values are compared with rows computed independently with pandas; the same cases are compared with
the Spark engine's files in ``tests/integration/test_engine_equivalence_query.py`` (JVM). Also: the
result streams, the DuckDB connection cannot read files, the tables are pinned and only the needed
columns are read, and what is not a read-only query of the lakehouse is refused at run time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from fabgen_runtime import platform
from fabgen_runtime.engines.python import query as python_query
from fabgen_runtime.engines.python import query_text
from fabgen_runtime.engines.python import write as python_write
from fabgen_runtime.engines.python.engine import PythonEngine
from fabgen_runtime.errors import QueryRefusedError, SourceReadError
from python_engine_support import csv_rows
from query_cases import CASES, PERIOD, PERIOD_QUERY, QueryCase, Tables, case_plan, write_tables
from writer_support import make_plan, unique_lakehouse


@pytest.fixture(scope="module")
def tables(local_platform) -> Tables:
    return write_tables(local_platform)


def _same(got: Any, expected: Any) -> bool:
    if isinstance(got, float) or isinstance(expected, float):
        return got is not None and expected is not None and abs(float(got) - float(expected)) < 1e-9
    return bool(got == expected)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_query_values_match_pandas(local_platform, tables, case: QueryCase) -> None:
    read = python_query.read_query(case_plan(case, tables), local_platform)
    got = read.reader.read_all().to_pylist()
    expected = case.expected(*tables.frames())
    assert len(got) == len(expected) > 0
    assert list(got[0]) == list(expected[0])  # the column names (and order) of the query
    for row, want in zip(got, expected, strict=True):
        bad = {k: (row[k], want[k]) for k in want if not _same(row[k], want[k])}
        assert not bad, f"row {want}: got/expected {bad}"
    assert read.version is not None and read.version.startswith(f"dbo.{tables.orders}@0")


def test_a_query_export_writes_csv_and_the_watermark(local_platform, tables) -> None:
    case = next(c for c in CASES if c.name == "placeholders-incremental")
    plan = case_plan(case, tables, file_format="csv", file_format_options={"header": "true"})
    read = PythonEngine().read(plan, local_platform).read
    staged = python_write.write(read.reader, plan, local_platform)
    expected = case.expected(*tables.frames())
    rows = csv_rows(Path(staged.files[0].uri).read_bytes())
    assert rows[0] == ["id", "amount", "updated_at"]
    assert [int(r[0]) for r in rows[1:]] == [r["id"] for r in expected]
    top = max(r["updated_at"] for r in expected)
    assert staged.max_watermark == top.strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")


def test_period_date_query_runs_in_duckdb(local_platform, tables) -> None:
    plan = make_plan(unique_lakehouse(), source_table=tables.orders)
    query = PERIOD_QUERY.format(orders=f"dbo.{tables.orders}").replace("{run_date:%Y-%m-%d}", "2025-12-12")
    assert PythonEngine().period(plan.config, query, local_platform) == PERIOD


def test_bare_and_three_part_names_resolve_in_the_source_lakehouse(local_platform, tables) -> None:
    query = (
        f"SELECT count(*) AS n FROM {tables.orders} o "
        f"JOIN lh_gold.dbo.{tables.customers} c ON o.id % 10 = c.id"
    )
    plan = make_plan(unique_lakehouse(), source_table=None, source_query=query)
    assert python_query.read_query(plan, local_platform).reader.read_all().to_pylist() == [{"n": 60}]


def test_only_the_columns_the_query_uses_are_read(tables) -> None:
    tree = query_text.parse(
        f"WITH big AS (SELECT id, amount FROM dbo.{tables.orders} WHERE qty > 0) "
        f"SELECT b.id, c.name AS n FROM big b JOIN dbo.{tables.customers} c ON b.id = c.id"
    )
    orders_key, customers_key = ("dbo", tables.orders), ("dbo", tables.customers)
    needed = query_text.needed_columns(
        tree,
        {orders_key: tables.orders_rows.schema.names, customers_key: tables.customers_rows.schema.names},
    )
    assert needed == {orders_key: ["id", "qty", "amount"], customers_key: ["id", "name"]}


def test_the_result_streams_in_batches(local_platform) -> None:
    path = platform.table_uri(local_platform, "ws", "lh_gold", "dbo", "q_big")
    write_deltalake(path, pa.table({"id": pa.array(range(300_000), pa.int64())}), mode="overwrite")
    plan = make_plan(
        unique_lakehouse(), source_table=None, source_query="SELECT id, id * 2 AS twice FROM q_big"
    )
    reader = python_query.read_query(plan, local_platform, batch_rows=10_000).reader
    sizes = [batch.num_rows for batch in reader]
    assert sum(sizes) == 300_000 and max(sizes) <= 10_000 * 2 and len(sizes) > 10


def test_the_connection_cannot_read_files_or_be_reopened(local_platform, tables, tmp_path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    plan = make_plan(
        unique_lakehouse(), source_table=None, source_query=f"SELECT id FROM dbo.{tables.orders}"
    )
    session = python_query.open_session(plan.source.query, "source_query", plan.config, local_platform)
    try:
        for sql in (
            f"SELECT * FROM read_csv('{secret}')",
            f"SELECT * FROM '{secret}'",
            "SET enable_external_access = true",
            "INSTALL httpfs",
        ):
            with pytest.raises(python_query.duckdb.Error):
                session.connection.execute(sql).fetchall()
        setting = "SELECT current_setting('enable_external_access')"
        assert session.connection.execute(setting).fetchone() == (False,)
        assert len(session.connection.execute(session.sql).fetchall()) == 60  # the tables still read
    finally:
        session.connection.close()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELECT * FROM read_parquet('/etc/x.parquet')", "reads files with read_parquet"),
        ("SELECT * FROM parquet.`/etc/x.parquet`", "a file path, not a table"),
        ("SELECT * FROM other_lh.dbo.t", "outside the source lakehouse"),
        ("SELECT * FROM dbo.no_such_table", "no table 'dbo.no_such_table' in lakehouse lh_gold"),
        ("SELECT array_sort(array(2, 1), (l, r) -> 1) AS s", "use engine: spark for this export"),
    ],
)
def test_run_time_refusals(local_platform, query: str, message: str) -> None:
    # the rendered query's own check (the plan's static check would refuse most of these first)
    config = make_plan(unique_lakehouse()).config
    with pytest.raises(QueryRefusedError, match=message) as caught:
        python_query.open_session(query, "source_query", config, local_platform)
    assert "sales/orders" in str(caught.value)


def test_a_failing_query_is_a_source_read_error(local_platform, tables) -> None:
    plan = make_plan(
        unique_lakehouse(), source_table=None, source_query=f"SELECT no_column FROM dbo.{tables.orders}"
    )
    with pytest.raises(SourceReadError, match="source_query failed in DuckDB"):
        python_query.read_query(plan, local_platform)


def test_a_table_with_deletion_vectors_is_read_once_per_reference(local_platform) -> None:
    # dv_scan's streams can be read once: a self-join and a CTE read twice still see every live row
    from deltalake import DeltaTable
    from dv_support import delete_rows

    path = platform.table_uri(local_platform, "ws", "lh_gold", "dbo", "q_dv")
    write_deltalake(
        path, pa.table({"id": pa.array(range(10), pa.int64()), "v": [f"r{i}" for i in range(10)]})
    )
    (file,) = DeltaTable(path).file_uris()
    delete_rows(Path(path), {Path(file).name: [0, 5]})
    query = (
        "WITH live AS (SELECT id, v FROM dbo.q_dv) "
        "SELECT a.id, b.v FROM live a JOIN live b ON a.id = b.id "
        "JOIN q_dv c ON c.id = a.id ORDER BY a.id"
    )
    plan = make_plan(unique_lakehouse(), source_table=None, source_query=query)
    read = python_query.read_query(plan, local_platform)
    rows = read.reader.read_all().to_pylist()
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 6, 7, 8, 9]
    assert rows[0] == {"id": 1, "v": "r1"}
    assert read.version == "dbo.q_dv@1,q_dv@1"  # each name as written, as the Spark engine records it
