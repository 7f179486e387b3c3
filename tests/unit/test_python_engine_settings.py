"""The per-group ``engine`` setting, the python engine's config check, validate refusing what it cannot run.

No JVM: ``fabgen validate`` loads the project only; ``check_config`` parses options with pyarrow at most.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from fabgen.cli import main
from fabgen.project import load_project
from fabgen_runtime.config import ExportConfig
from fabgen_runtime.configs import parse_configs
from fabgen_runtime.engines.python.support import check_config
from fabgen_runtime.errors import ConfigError
from sample_projects import COMMON, EXPORTS, write_project

LAKEHOUSE_CSV = {
    **COMMON,
    "export_group_name": "py",
    "export_name": "customers",
    "execution_group": 1,
    "source_type": "lakehouse",
    "source_datastore": "lh_gold",
    "source_table": "customers",
    "target_path": "py/customers/",
    "file_format": "csv",
    "compression": "gzip",
}


def _config(**changes: object) -> ExportConfig:
    return parse_configs([{**LAKEHOUSE_CSV, **changes}])[0]


def _validate(root: Path) -> Result:
    return CliRunner().invoke(main, ["validate", "-p", str(root)])


def _errors(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("Error: ")]


# --------------------------------------------------------------------------- check_config


def test_a_lakehouse_table_export_passes() -> None:
    assert check_config(_config()) == []
    assert check_config(_config(file_format="parquet", compression="zstd", compression_level=9)) == []
    assert check_config(_config(file_format="json", compression="zip", max_rows_per_file=10)) == []


def test_a_warehouse_table_and_its_period_query_pass() -> None:
    warehouse = _config(source_type="warehouse", source_datastore="wh_sales", source_schema="dbo")
    assert check_config(warehouse) == []  # read over ODBC (engines/python/warehouse.py)
    period = _config(
        source_type="warehouse",
        source_datastore="wh_sales",
        source_schema="dbo",
        extract_type="period",
        period_filter_column="created_at",
        period_date_query="SELECT start_date, end_date FROM dbo.fn_month('{run_date:%Y-%m-%d}')",
    )
    assert check_config(period) == []  # a warehouse control query runs over ODBC too


def test_lakehouse_query_mode_and_period_query_pass() -> None:
    # Spark SQL translated by sqlglot and run by DuckDB (engines/python/query.py)
    query = _config(source_table=None, source_query="SELECT * FROM dbo.customers")
    period = _config(
        extract_type="period",
        period_filter_column="created_at",
        period_date_query="SELECT current_date() AS start_date, current_date() AS end_date",
    )
    assert check_config(query) == []
    assert check_config(period) == []


def test_untranslatable_lakehouse_queries_are_refused_naming_construct_and_position() -> None:
    query = _config(
        source_table=None,
        source_query="SELECT id,\n  array_sort(tags, (l, r) -> 1) AS t FROM dbo.customers",
    )
    period = _config(
        extract_type="period",
        period_filter_column="created_at",
        period_date_query="SELECT no_such_fn(1) AS start_date, current_date() AS end_date",
    )
    issues = check_config(query) + check_config(period)
    assert [(i.where, i.field) for i in issues] == [
        ("py/customers", "source_query"),
        ("py/customers", "period_date_query"),
    ]
    assert issues[0].message.startswith("array_sort(...) at line 2, column 3 has no DuckDB translation")
    assert issues[1].message.startswith(
        "no_such_fn(...) at line 1, column 8 is a function DuckDB does not have"
    )
    assert all(i.message.endswith("use engine: spark for this export (engine: python)") for i in issues)


def test_a_warehouse_source_query_passes() -> None:
    query = _config(
        source_type="warehouse",
        source_datastore="wh_sales",
        source_schema="dbo",
        source_table=None,
        source_query="SELECT id, name FROM dbo.customers WHERE active = 1",
    )
    assert check_config(query) == []  # run over ODBC as a derived table (engines/python/warehouse.py)


# A lakehouse source_query (Spark SQL) DuckDB cannot run: what a python group cannot run.
LAKEHOUSE_QUERY = {
    **EXPORTS[0],
    "export_name": "top_customers",
    "source_table": None,
    "source_query": "SELECT id, array_sort(tags, (l, r) -> 1) AS t FROM dbo.customers WHERE rank <= 10",
    "target_path": "sales/top/",
    "target_filename_pattern": "top_{run_date:%Y%m%d}.csv",
}


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"escape": "\\"}, "escape"),
        ({"ignoreLeadingWhiteSpace": "true"}, "ignoreLeadingWhiteSpace"),
        ({"dateFormat": "dd/MM/yyyy"}, "dateFormat"),
        ({"escapeQuotes": "false"}, "escapeQuotes"),
        ({"charToEscapeQuoteEscaping": "x"}, "charToEscapeQuoteEscaping"),
    ],
)
def test_csv_options_the_writer_refuses(options: dict[str, str], option: str) -> None:
    config = _config(file_format_options=options)
    [issue] = check_config(config)
    assert issue.field == "file_format_options"
    assert option in issue.message and issue.message.endswith("(engine: python)")
    assert "python engine)" not in issue.message  # the writer's own suffix is not repeated


def test_json_options_are_checked_as_json() -> None:
    assert check_config(_config(file_format="json", file_format_options={"ignoreNullFields": "true"})) == []
    [issue] = check_config(_config(file_format="json", file_format_options={"timestampFormat": "yyyy"}))
    assert issue.field == "file_format_options" and "timestampFormat" in issue.message


def test_parquet_options_pass_through_the_writers_parser() -> None:
    options = {"parquet.block.size": "1048576", "parquet.enable.dictionary": "false"}
    assert check_config(_config(file_format="parquet", compression="lz4", file_format_options=options)) == []


@pytest.mark.spark  # integration: a child Python process
def test_check_config_imports_neither_pyspark_nor_pyarrow() -> None:
    code = (
        "import sys\n"
        "from fabgen_runtime.engines.python import support\n"
        "assert 'pyspark' not in sys.modules and 'pyarrow' not in sys.modules, sorted(sys.modules)\n"
        "from fabgen_runtime.configs import parse_configs\n"
        f"config = parse_configs([{LAKEHOUSE_CSV!r}])[0]\n"
        "assert support.check_config(config) == []\n"
        "assert 'pyspark' not in sys.modules and 'py4j' not in sys.modules\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


# --------------------------------------------------------------------------- fabgen.yaml


def test_engine_defaults_to_spark_and_is_set_per_group(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path / "a"))
    assert {g: project.engine(g) for g in project.groups()} == {"ops.daily": "spark", "sales": "spark"}

    project = load_project(write_project(tmp_path / "b", groups={"ops.daily": {"engine": "python"}}))
    assert {g: project.engine(g) for g in project.groups()} == {"ops.daily": "python", "sales": "spark"}

    defaults = {"timezone": "UTC", "engine": "python"}
    rows = [r for r in EXPORTS if r["export_group_name"] == "ops.daily"]
    project = load_project(write_project(tmp_path / "c", rows, defaults=defaults))
    assert project.engine("ops.daily") == "python"


def test_bad_engine_settings_are_named(tmp_path: Path) -> None:
    root = write_project(
        tmp_path,
        defaults={"engine": "duckdb"},
        groups={"ops.daily": {"engine": "python", "cores": 4}, "ghost": {"engine": "spark"}},
    )
    result = _validate(root)
    assert result.exit_code == 2
    errors = _errors(result)
    assert any(line.startswith("Error: fabgen.yaml defaults.engine: Input should be") for line in errors)
    assert "Error: fabgen.yaml groups.ops.daily.cores: unknown key" in errors


def test_a_group_no_row_uses_is_an_error(tmp_path: Path) -> None:
    root = write_project(tmp_path, groups={"ghost": {"engine": "python"}, "sales": {}})
    result = _validate(root)
    assert result.exit_code == 2
    assert _errors(result) == ["Error: fabgen.yaml groups.ghost: no export row has export_group_name 'ghost'"]


# --------------------------------------------------------------------------- validate


def test_validate_refuses_what_a_python_group_cannot_run(tmp_path: Path) -> None:
    root = write_project(tmp_path, [*EXPORTS, LAKEHOUSE_QUERY], groups={"sales": {"engine": "python"}})
    result = _validate(root)
    assert result.exit_code == 2, result.output
    # the lakehouse query export (and nothing else of group sales; ops.daily stays on spark)
    assert _errors(result) == [
        "Error: exports/exports.yaml: sales/top_customers source_query: array_sort(...) at line 1, "
        "column 12 has no DuckDB translation: DuckDB's LIST_SORT does not support a comparator.; "
        "use engine: spark for this export (engine: python)",
    ]
    with pytest.raises(ConfigError):
        load_project(root)


def test_validate_passes_python_groups_it_can_run(tmp_path: Path) -> None:
    root = write_project(tmp_path, groups={"ops.daily": {"engine": "python"}})
    result = _validate(root)
    assert result.exit_code == 0, result.output
    assert "OK: 5 export(s), 4 active, in 2 group(s): ops.daily (engine: python), sales" in result.output


def test_render_and_run_refuse_before_writing(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", [*EXPORTS, LAKEHOUSE_QUERY], groups={"sales": {"engine": "python"}})
    out = tmp_path / "out"
    for args in (["render", "--out", str(out)], ["run", "-g", "sales"]):
        result = CliRunner().invoke(main, [*args, "-p", str(root)])
        assert result.exit_code == 2, result.output
        assert any("sales/top_customers source_query:" in line for line in _errors(result))
    assert not out.exists()
    assert not (root / ".onelake").exists()


@pytest.mark.spark  # integration: a child Python process
def test_without_pyarrow_the_options_are_left_to_the_writer(tmp_path: Path) -> None:
    blocker = tmp_path / "pyarrow"
    blocker.mkdir()
    (blocker / "__init__.py").write_text('raise ImportError("no pyarrow here")\n')
    code = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format='%(message)s')\n"
        "from fabgen_runtime.configs import parse_configs\n"
        "from fabgen_runtime.engines.python.support import check_config\n"
        f"row = {LAKEHOUSE_CSV!r}\n"
        "row.update(source_table=None, source_query='SELECT no_such_fn(1) AS x')\n"
        "row.update(file_format_options={'escapeQuotes': 'false'})\n"
        "print([i.field for i in check_config(parse_configs([row])[0])])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "py/customers: file_format_options not checked for the python engine: pyarrow is not installed here",
        "['source_query']",
    ]
