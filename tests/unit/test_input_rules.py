"""Issue 10's rules through ``fabgen validate`` (and run/plan arguments): one failing config per rule.

Each case writes one bad row into a scaffolded project; validate exits 2 with a red line naming the
file, the export and the field, and writes nothing (the project's files are unchanged).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from config_rows import base
from fabgen.cli import main
from fabgen_runtime import query_guard, writer_options
from fabgen_runtime.errors import QueryRefusedError

LONG = "x" * 240


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def errors(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("Error: ")]


def project(tmp_path: Path) -> Path:
    assert run("init", str(tmp_path / "p")).exit_code == 0
    return tmp_path / "p"


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def warehouse(**changes: Any) -> dict[str, Any]:
    return base(source_type="warehouse", source_schema="dbo", source_datastore="wh_sales", **changes)


def query(sql: str, **changes: Any) -> dict[str, Any]:
    return base(source_table=None, source_query=sql, **changes)


# (row, field, words in the message)
RULES = [
    (query("DELETE FROM delta.`/tmp/t` WHERE id > 0"), "source_query", "starting with SELECT or WITH"),
    (query("SELECT * FROM t; DROP TABLE t"), "source_query", "one query, found 2 statements"),
    (query("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d"), "source_query", "DELETE"),
    (query("SELECT reflect('java.lang.System', 'exit', 1)"), "source_query", "REFLECT"),
    (warehouse(source_table=None, source_query="SELECT id INTO dbo.copy FROM dbo.t"), "source_query", "INTO"),
    (warehouse(source_table=None, source_query="EXEC dbo.p"), "source_query", "not EXEC"),
    (
        base(extract_type="period", period_filter_column="d", period_date_query="UPDATE t SET x = 1"),
        "period_date_query",
        "not UPDATE",
    ),
    (query("SELECT * FROM parquet.`/some/path`"), "source_query", "reads the path parquet.`/some/path`"),
    (query("SELECT * FROM read_files('Files/in')"), "source_query", "reads files with read_files(...)"),
    (query("SELECT * FROM lh_other.dbo.t"), "source_query", "outside the source lakehouse 'lh_gold'"),
    (
        base(
            extract_type="period",
            period_filter_column="d",
            period_date_query="SELECT min(d) AS start_date, max(d) AS end_date FROM delta.`Tables/dbo/t`",
        ),
        "period_date_query",
        "reads the path delta.`Tables/dbo/t` (a file path, not a table)",
    ),
    (base(file_format_options={"compression": "gz"}), "file_format_options", "compression is set by fabgen"),
    (base(file_format_options={"path": "/tmp/x"}), "file_format_options", "path is set by fabgen"),
    (base(file_format_options={"encoding": "UTF-16"}), "file_format_options", "byte order mark"),
    (base(file_format_options={"encoding": "latin1"}), "file_format_options", "cannot hold every character"),
    (base(file_format_options={"encoding": "UTF-32BE"}), "file_format_options", "Spark 4"),
    (
        base(file_format="json", file_format_options={"encoding": "UTF-32LE"}),
        "file_format_options",
        "refuses UTF-32LE/UTF-32BE",
    ),
    (base(file_format_options={"heder": "true"}), "file_format_options", "heder is not a csv writer option"),
    (base(file_format_options={"timeZone": "Mars/Olympus"}), "file_format_options", "not a known timezone"),
    (base(file_format_options={"lineSep": "||"}), "file_format_options", "lineSep"),
    (base(file_format_options={"lineSep": "\r", "encoding": "UTF-16LE"}), "file_format_options", "UTF-8 for"),
    (base(file_format="parquet", file_format_options={"header": "1"}), "file_format_options", "parquet"),
    (
        base(target_filename_pattern="o_{run_date:%Y}.csv", trigger_file_pattern="o_{run_date:%Y}.csv"),
        "trigger_file_pattern",
        "also the name of a data file",
    ),
    (
        base(compression="gzip", trigger_file_pattern="orders.csv.gz", target_filename_pattern="orders.csv"),
        "trigger_file_pattern",
        "also the name of a data file",
    ),
    (base(export_name=LONG), "target_filename_pattern", "OneLake allows 255"),
    (base(target_path="/".join(["a" * 200] * 6)), "target_filename_pattern", "OneLake allows 1024"),
    (base(target_path="b" * 300), "target_path", "folder name of 300 characters"),
    (
        base(max_rows_per_file=10, target_filename_pattern="o_{part:.0e}.csv"),
        "target_filename_pattern",
        "split files need distinct names",
    ),
]


@pytest.mark.parametrize(("row", "field", "words"), RULES, ids=[f"{r[1]}-{r[2][:24]}" for r in RULES])
def test_each_rule_fails_validate_naming_file_export_and_field(
    tmp_path: Path, row: dict[str, Any], field: str, words: str
) -> None:
    root = project(tmp_path)
    (root / "exports" / "bad.yaml").write_text(yaml.safe_dump({"exports": [row]}))
    before = snapshot(root)
    result = run("validate", "-p", str(root))
    assert result.exit_code == 2, result.output
    key = f"{row['export_group_name']}/{row['export_name']}"
    wanted = f"Error: exports/bad.yaml: {key} {field}:"
    hits = [line for line in errors(result) if line.startswith(wanted) and words in line]
    assert hits, (wanted, words, errors(result))
    assert snapshot(root) == before


def test_duplicate_key_in_a_yaml_row(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "exports" / "dup.yaml").write_text(
        "exports:\n  - export_name: a\n    source_table: t\n    export_name: b\n"
    )
    lines = errors(run("validate", "-p", str(root)))
    message = "duplicate key 'export_name' on line 4 (first on line 2); remove one"
    assert f"Error: exports/dup.yaml export_name: {message}" in lines, lines


def test_duplicate_key_in_a_json_row(tmp_path: Path) -> None:
    root = project(tmp_path)
    row = json.dumps(base(), indent=1)
    text = "[" + row.replace('"is_active": true,', '"is_active": true,\n "is_active": false,') + "]"
    (root / "exports" / "dup.json").write_text(text)
    result = run("validate", "-p", str(root))
    assert result.exit_code == 2
    line_of = {n + 1: line for n, line in enumerate(text.splitlines())}
    repeat = max(n for n, line in line_of.items() if '"is_active"' in line)
    first = min(n for n, line in line_of.items() if '"is_active"' in line)
    expected = f"duplicate key 'is_active' on line {repeat} (first on line {first})"
    wanted = "Error: exports/dup.json is_active:"
    assert any(line.startswith(wanted) and expected in line for line in errors(result)), errors(result)


def test_unknown_timezone_in_fabgen_yaml(tmp_path: Path) -> None:
    root = project(tmp_path)
    settings = root / "fabgen.yaml"
    settings.write_text(settings.read_text().replace("timezone: UTC", "timezone: Mars/Olympus"))
    result = run("validate", "-p", str(root))
    assert result.exit_code == 2
    assert any(
        line.startswith("Error: fabgen.yaml defaults.timezone:") and "Mars/Olympus" in line
        for line in errors(result)
    ), errors(result)


@pytest.mark.parametrize("command", ["run", "plan"])
@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--timezone", "Mars/Olympus"], "--timezone"),
        (["--run-date", "2025-13-45"], "--run-date"),
        (["--run-date", "yesterday"], "--run-date"),
    ],
)
def test_run_and_plan_arguments_are_checked_before_spark(
    tmp_path: Path, command: str, args: list[str], field: str
) -> None:
    root = project(tmp_path)
    before = snapshot(root)
    result = run(command, "-p", str(root), "-g", "p", *args)
    assert result.exit_code == 2, result.output
    assert any(line.startswith(f"Error: run {field}:") for line in errors(result)), errors(result)
    assert snapshot(root) == before  # no .onelake, no log tables: nothing started


def test_incremental_without_run_id_or_timestamp_warns(tmp_path: Path) -> None:
    root = project(tmp_path)
    row = base(
        export_group_name="p",
        export_name="inc",
        extract_type="incremental",
        incremental_column="m",
        target_filename_pattern="inc_{run_date:%Y%m%d}.csv",
    )
    (root / "exports" / "inc.yaml").write_text(yaml.safe_dump({"exports": [row]}))
    result = run("validate", "-p", str(root))
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning: p/inc")]
    assert len(warnings) == 1 and "target_filename_pattern" in warnings[0] and "{run_id}" in warnings[0]


# --------------------------------------------------------------------------- the static query check


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM dbo.orders",
        "  with x as (select 1 as a) select * from x",
        "(SELECT a FROM t) UNION ALL (SELECT a FROM u)",
        "SELECT 'DELETE FROM t; DROP TABLE t' AS text FROM t",
        "SELECT `delete`, t.update FROM t -- DELETE FROM t;\n",
        "SELECT /* ; INSERT */ 1;",
        "SELECT updated_at, created_by FROM t WHERE d > '{watermark}'",
    ],
)
def test_read_only_queries_pass(sql: str) -> None:
    assert query_guard.static_problems(sql, "spark") == []


@pytest.mark.parametrize(
    ("sql", "dialect"),
    [
        ("SELECT 1 AS a, [x; DROP TABLE t] FROM t", "tsql"),
        ("SELECT $$;DELETE$$ AS s", "postgres"),
        ('SELECT "a;b" FROM t', "warehouse"),
    ],
)
def test_quoted_text_in_each_dialect_is_not_a_statement(sql: str, dialect: str) -> None:
    assert query_guard.static_problems(sql, dialect) == []


def test_a_spark_backslash_does_not_end_a_string_early() -> None:
    assert query_guard.static_problems(r"SELECT 'a\'; DELETE FROM t; --' FROM t", "spark") == []
    # In PostgreSQL the same text ends the string after the backslash: the DELETE is real.
    assert query_guard.static_problems(r"SELECT 'a\'; DELETE FROM t; --' FROM t", "postgres")


def test_writer_option_table_accepts_what_the_docs_list() -> None:
    ok = {
        "header": "false",
        "sep": ";",
        "quote": '"',
        "escape": "\\",
        "nullValue": "",
        "lineSep": "\r\n",
        "encoding": "utf-8",
        "dateFormat": "dd.MM.yyyy",
        "timeZone": "Europe/Amsterdam",
    }
    assert writer_options.problems("csv", ok) == []
    assert writer_options.problems("csv", {"encoding": "UTF-16BE", "lineSep": "\n"}) == []
    json_ok = {"ignoreNullFields": "true", "lineSep": "\r\n", "encoding": "UTF-16LE"}
    assert writer_options.problems("json", json_ok) == []
    assert writer_options.problems("parquet", {"parquet.block.size": "134217728"}) == []
    assert [k for k, _ in writer_options.problems("csv", {"sep": ",", "delimiter": ";"})] == ["delimiter"]


def test_validate_and_the_run_refuse_a_path_with_one_rule() -> None:
    """The static check (validate, and the plan on the rendered text) and the check of Spark's parsed
    plan (:func:`query_guard.check_relations`) give the same reason for the same table reference."""
    sql = "SELECT * FROM dbo.orders o JOIN parquet.`/x` p ON o.id = p.id JOIN lh_other.dbo.t t ON o.id = t.id"
    static = query_guard.static_problems(sql, "spark", lakehouse="lh_gold")
    run_time = []
    for parts in [("dbo", "orders"), ("parquet", "/x"), ("lh_other", "dbo", "t")]:
        try:
            query_guard.check_relations([parts], "lh_gold", "sales/x")
        except QueryRefusedError as exc:
            run_time.append(str(exc))
    assert len(static) == 2 and [f"sales/x: the query {p}" for p in static] == run_time
    # Without the lakehouse (the plan's re-check, before Spark parses) paths are still refused.
    (alone,) = query_guard.static_problems(sql, "spark")
    assert alone.startswith("reads the path parquet.`/x` (a file path, not a table): name a table")
    # A warehouse query is not Spark SQL: no file reads to look for.
    assert query_guard.static_problems("SELECT * FROM parquet.x", "warehouse") == []
