"""The export config's query rules: source_table or source_query, period_date_query, what queries read."""

from __future__ import annotations

import pytest
from config_rows import KEY, base, fails, with_pattern
from fabgen_runtime.configs import parse_config

# --------------------------------------------------------------------------- source_table or source_query


def test_both_source_table_and_source_query() -> None:
    fails(base(source_query="SELECT 1"), "source_query", "mutually exclusive")


def test_neither_source_table_nor_source_query() -> None:
    fails(base(source_table=None), "source_table", "source_table or source_query")


def test_period_without_period_date_query() -> None:
    fails(
        base(extract_type="period", period_filter_column="order_date"),
        "period_date_query",
        "required for period",
    )


def test_period_table_mode_without_period_filter_column() -> None:
    fails(
        base(extract_type="period", period_date_query="SELECT start_date, end_date FROM p"),
        "period_filter_column",
        "required for period extracts from source_table",
    )


def test_period_query_mode_needs_no_filter_column_and_rejects_one() -> None:
    row = base(
        source_table=None,
        source_query="SELECT * FROM t",
        extract_type="period",
        period_date_query="SELECT start_date, end_date FROM p",
    )
    assert parse_config(row).extract_type == "period"
    fails({**row, "period_filter_column": "d"}, "period_filter_column", "only applies with source_table")


def test_period_fields_on_other_extract_types() -> None:
    fails(base(period_date_query="SELECT 1"), "period_date_query", "only applies to period")


# --------------------------------------------------------------------------- a lakehouse query reads tables

ONELAKE = "abfss://ws_other@onelake.dfs.fabric.microsoft.com/lh_x.Lakehouse/Tables/dbo/t"

# (a query reading a path or files, what the message names): the run refuses each (query_guard)
PATH_READS = [
    ("SELECT * FROM parquet.`/some/path`", "reads the path parquet.`/some/path` (a file path, not a table)"),
    (f"SELECT * FROM delta.`{ONELAKE}`", f"reads the path delta.`{ONELAKE}`"),
    ("SELECT * FROM csv.`Files/x.csv`", "reads the path csv.`Files/x.csv`"),
    ("SELECT value FROM json.`Files/in/*.json` j", "reads the path json.`Files/in/*.json`"),
    ("SELECT * FROM text.`/etc/passwd`", "reads the path text.`/etc/passwd`"),
    ("SELECT * FROM orc.`Files/o`", "reads the path orc.`Files/o`"),
    ("SELECT path, length FROM binaryFile.`Files/bin`", "reads the path binaryFile.`Files/bin`"),
    ("SELECT * FROM read_files('Files/x.csv', format => 'csv')", "reads files with read_files(...)"),
    ("SELECT * FROM dbo.orders o JOIN parquet.`/p` p ON o.id = p.id", "reads the path parquet.`/p`"),
    ("SELECT * FROM dbo.orders o, parquet.`/p` p WHERE o.id = p.id", "reads the path parquet.`/p`"),
    ("SELECT * FROM dbo.orders WHERE id IN (SELECT id FROM delta.`/d`)", "reads the path delta.`/d`"),
    ("WITH s AS (SELECT * FROM parquet.`/p`) SELECT * FROM s", "reads the path parquet.`/p`"),
    ("SELECT * FROM (parquet.`/p`)", "reads the path parquet.`/p`"),
    ("SELECT * FROM dbo.orders UNION ALL TABLE delta.`/d`", "reads the path delta.`/d`"),
    ("SELECT * FROM /* c */ parquet . `/p`", "reads the path parquet.`/p`"),
]


@pytest.mark.parametrize(("query", "words"), PATH_READS, ids=[q for q, _ in PATH_READS])
def test_a_lakehouse_query_reading_a_path_fails_validate(query: str, words: str) -> None:
    issue = fails(with_pattern("source_query", query), "source_query", words)
    assert "name a table of the source lakehouse" in issue.message


@pytest.mark.parametrize(("query", "words"), PATH_READS[:3], ids=[q for q, _ in PATH_READS[:3]])
def test_a_period_date_query_reading_a_path_fails_validate(query: str, words: str) -> None:
    dates = query.replace("SELECT *", "SELECT min(d) AS start_date, max(d) AS end_date")
    fails(with_pattern("period_date_query", dates), "period_date_query", words)


def test_a_table_of_another_lakehouse_fails_validate() -> None:
    """Three-part names name the lakehouse: only the row's source_datastore may be read (as at run time)."""
    issue = fails(
        with_pattern("source_query", "SELECT * FROM dbo.orders o JOIN lh_other.dbo.secrets s ON o.id = s.id"),
        "source_query",
        "lh_other.dbo.secrets",
        "outside the source lakehouse 'lh_gold'",
    )
    assert str(issue).startswith(f"{KEY} source_query: ")


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM dbo.orders",
        "SELECT * FROM orders",
        "SELECT * FROM lh_gold.dbo.orders",
        "SELECT * FROM LH_GOLD.dbo.orders o JOIN dbo.`customers` c ON o.c = c.id",
        "SELECT o.delta, o.parquet, delta FROM dbo.orders o",
        "SELECT 'parquet.`x`' AS s, \"delta.`/y`\" AS t FROM dbo.orders",
        "SELECT * FROM dbo.orders -- FROM parquet.`/p`\n",
        "SELECT * FROM dbo.orders /* JOIN delta.`/d` */",
        "SELECT o.`my col`, EXTRACT(YEAR FROM o.`order date`) FROM dbo.orders o",
        "SELECT trim(BOTH FROM o.`a b`), substring(o.note FROM 2) FROM dbo.orders o",
        "SELECT a.b.c, x.read_files FROM dbo.orders a",
        "SELECT * FROM dbo.orders LATERAL VIEW explode(o.items) e AS `item x`, `item y`",
        "SELECT * FROM range(10)",
        "SELECT * FROM dbo.orders VERSION AS OF 3",
        "SELECT * FROM dbo.orders WHERE d > '{run_date:%Y-%m-%d}'",
    ],
)
def test_lakehouse_queries_that_read_tables_pass(query: str) -> None:
    parse_config(with_pattern("source_query", query))


def test_paths_are_a_lakehouse_rule() -> None:
    """A warehouse query is T-SQL or PostgreSQL: backquotes and Spark file reads mean nothing there."""
    row = base(
        source_type="warehouse",
        source_datastore="wh_sales",
        source_schema="dbo",
        source_table=None,
        source_query="SELECT * FROM dbo.orders o JOIN wh_other.dbo.t x ON o.id = x.id",
    )
    parse_config(row)
