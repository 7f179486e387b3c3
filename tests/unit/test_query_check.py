"""``fabgen validate`` parses lakehouse queries with sqlglot for both engines: one read-only SELECT of
tables of the row's lakehouse, no file readers or paths (exit 2, naming export, field and problem);
and for ``engine: python`` what DuckDB cannot run as Spark does (with the hint ``engine: spark``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from fabgen.cli import main
from fabgen_runtime.engines.python import query_text
from sample_projects import EXPORTS, write_project


def _row(query: str, field: str = "source_query") -> dict[str, object]:
    row: dict[str, object] = {**EXPORTS[0], "export_name": "q"}
    if field == "source_query":
        row.update(source_table=None, source_query=query)
    else:
        row.update(extract_type="period", period_filter_column="created_at", period_date_query=query)
    return row


def _validate(tmp_path: Path, row: dict[str, object], engine: str) -> Result:
    root = write_project(tmp_path, [*EXPORTS, row], groups={"sales": {"engine": engine}})
    return CliRunner().invoke(main, ["validate", "-p", str(root)])


def _errors(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("Error: ")]


HOSTILE = [
    # each passes the lexer's static check (query_guard) and is refused by the sqlglot layer
    (
        "SELECT * FROM read_parquet('/lakehouse/default/Files/x.parquet')",
        "reads files with read_parquet(...)",
    ),
    ("SELECT * FROM read_csv_auto('x.csv') AS t", "reads files with read_csv_auto(...)"),
    ("SELECT * FROM 'data.parquet'", "not a table name of plain identifiers"),
    ("SELECT * FROM dbo.t WHERE id IN (SELECT id FROM delta_scan('/x'))", "reads files with delta_scan(...)"),
    ("SELECT * FROM sql_keywords()", "calls the table function sql_keywords(...)"),
]


@pytest.mark.parametrize("engine", ["spark", "python"])
@pytest.mark.parametrize(("query", "problem"), HOSTILE)
def test_validate_refuses_hostile_queries_on_both_engines(tmp_path, engine, query, problem) -> None:
    result = _validate(tmp_path, _row(query), engine)
    assert result.exit_code == 2, result.output
    errors = _errors(result)
    assert any(
        line.startswith("Error: exports/exports.yaml: sales/q source_query: ") and problem in line
        for line in errors
    ), errors


def test_validate_refuses_a_hostile_period_date_query(tmp_path) -> None:
    query = "SELECT start_date, end_date FROM read_json('/x.json')"
    result = _validate(tmp_path, _row(query, "period_date_query"), "spark")
    assert result.exit_code == 2
    assert any("sales/q period_date_query: reads files with read_json(...)" in e for e in _errors(result))


def test_validate_refuses_untranslatable_queries_for_python_only(tmp_path) -> None:
    query = "SELECT id,\n  transform_keys(m, (k, v) -> k + 1) AS t FROM dbo.customers"
    assert _validate(tmp_path / "spark", _row(query), "spark").exit_code == 0
    result = _validate(tmp_path / "python", _row(query), "python")
    assert result.exit_code == 2
    (line,) = _errors(result)
    assert line.startswith("Error: exports/exports.yaml: sales/q source_query: transform_keys(...) at line 2")
    assert line.endswith("use engine: spark for this export (engine: python)")


def test_validate_passes_read_only_queries(tmp_path) -> None:
    query = (
        "WITH recent AS (SELECT * FROM dbo.orders WHERE order_date >= DATE '{run_date:%Y-%m-%d}') "
        "SELECT r.id, c.name FROM recent r JOIN lh_gold.dbo.customers c ON r.customer_id = c.id "
        "LATERAL VIEW explode(array(1, 2)) t AS n"
    )
    for engine in ("spark", "python"):
        result = _validate(tmp_path / engine, _row(query), engine)
        assert result.exit_code == 0, result.output


def test_a_query_sqlglot_cannot_parse_is_left_to_spark_and_refused_for_python(tmp_path, caplog) -> None:
    query = "SELECT id FROM dbo.t CLUSTER BY BY id"  # not SQL sqlglot parses (nor Spark)
    with caplog.at_level(logging.WARNING, logger="fabgen.query_check"):
        assert _validate(tmp_path / "spark", _row(query), "spark").exit_code == 0
    assert "not checked by sqlglot" in caplog.text
    result = _validate(tmp_path / "python", _row(query), "python")
    assert result.exit_code == 2
    assert any("is not Spark SQL sqlglot can parse" in e for e in _errors(result))


def test_read_only_problems_name_statements_and_nodes() -> None:
    assert query_text.read_only_problems("SELECT 1 AS a; SELECT 2 AS b", "lh") == [
        "must be one query, found 2 statements"
    ]
    assert "is read-only: INSERT" in " ".join(query_text.read_only_problems("INSERT INTO t SELECT 1", "lh"))
    assert query_text.read_only_problems("SELECT * FROM lh.dbo.t", "lh") == []
    assert query_text.read_only_problems("SELECT * FROM a.b.c.d", "lh")[0].startswith("reads a.b.c.d")
