"""The export config's path, name and pattern rules: placeholders, paths that escape, names."""

from __future__ import annotations

from typing import Any

import pytest
from config_rows import base, fails, with_pattern
from fabgen_runtime.configs import parse_config

# --------------------------------------------------------------------------- patterns and placeholders

PATTERN_FIELDS = [
    "target_path",
    "target_filename_pattern",
    "compressed_filename_pattern",
    "trigger_file_pattern",
    "source_query",
    "period_date_query",
]


@pytest.mark.parametrize("field", PATTERN_FIELDS)
def test_unknown_placeholder_in_every_pattern(field: str) -> None:
    fails(with_pattern(field, "x_{rundate}"), field, "unknown placeholder '{rundate}'")


@pytest.mark.parametrize("field", PATTERN_FIELDS)
@pytest.mark.parametrize("spec", ["%Q", "%Y%", "YYYYMMDD", "%-Y", "%z"])
def test_bad_strftime_spec_in_every_pattern(field: str, spec: str) -> None:
    fails(with_pattern(field, f"x_{{run_date:{spec}}}"), field, f"{{run_date:{spec}}}")


@pytest.mark.parametrize("field", PATTERN_FIELDS)
def test_bad_brace_syntax_in_every_pattern(field: str) -> None:
    fails(with_pattern(field, "x_{run_date"), field, "literal brace")
    fails(with_pattern(field, "x_{}"), field, "not a placeholder name")


def test_good_patterns_in_every_field_pass() -> None:
    for field in PATTERN_FIELDS:
        query = "SELECT 'x_{run_date:%Y%m%d}_{{literal}}'"
        parse_config(with_pattern(field, query if "query" in field else "x_{run_date:%Y%m%d}"))


@pytest.mark.parametrize(
    ("field", "pattern"),
    [
        ("target_path", "out/{part}"),
        ("target_path", "out/{ext}"),
        ("trigger_file_pattern", "t_{part}.done"),
        ("compressed_filename_pattern", "c_{part}.zip"),
        ("source_query", "SELECT '{export_name}'"),
        ("period_date_query", "SELECT f('{watermark}')"),
    ],
)
def test_placeholder_not_available_in_field(field: str, pattern: str) -> None:
    fails(with_pattern(field, pattern), field, "not available here")


def test_placeholders_that_need_another_extract_type() -> None:
    fails(
        base(target_filename_pattern="o_{period_start_date:%Y%m%d}.csv"),
        "target_filename_pattern",
        "needs extract_type period",
    )
    fails(
        base(source_table=None, source_query="SELECT * FROM t WHERE d > '{watermark}'"),
        "source_query",
        "needs extract_type incremental",
    )
    fails(
        base(
            extract_type="period",
            period_filter_column="d",
            period_date_query="SELECT 1",
            trigger_file_pattern="{watermark}.done",
        ),
        "trigger_file_pattern",
        "needs extract_type incremental",
    )


@pytest.mark.parametrize(
    ("changes", "field", "bad"),
    [
        ({"source_schema": "dbo; DROP TABLE x"}, "source_schema", "dbo; DROP TABLE x"),
        ({"source_table": "orders--"}, "source_table", "orders--"),
        ({"source_table": "dbo.orders"}, "source_table", "dbo.orders"),
        ({"source_table": "[orders]"}, "source_table", "[orders]"),
        ({"source_columns": ["id", "amount) FROM x --"]}, "source_columns", "amount) FROM x --"),
        ({"source_columns": ["1st"]}, "source_columns", "1st"),
        ({"extract_type": "incremental", "incremental_column": "mod date"}, "incremental_column", "mod date"),
        (
            {"extract_type": "period", "period_date_query": "SELECT 1", "period_filter_column": "d'"},
            "period_filter_column",
            "d'",
        ),
    ],
)
def test_non_plain_identifiers(changes: dict[str, Any], field: str, bad: str) -> None:
    fails(base(**changes), field, repr(bad), "not a plain identifier")


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("target_path", "../other", ["'..'"]),
        ("target_path", "exports/../../x", ["'..'"]),
        ("target_path", "/abs/path", ["not absolute"]),
        ("target_path", "C:/data", ["not absolute"]),
        ("target_path", "abfss://ws@host/x", ["not absolute"]),
        ("target_path", "out\\dir", ["'\\\\'"]),
        ("target_path", "out/a:b", ["':'"]),
        ("target_path", "out/what?", ["'?'"]),
        ("target_filename_pattern", "../orders.csv", ["'..'", "not a path"]),
        ("target_filename_pattern", "sub/orders.csv", ["not a path"]),
        ("target_filename_pattern", "orders*.csv", ["'*'"]),
        ("target_filename_pattern", "orders<1>.csv", ["'<'", "'>'"]),
        ("trigger_file_pattern", "..", ["'..'"]),
        ("trigger_file_pattern", "done|x", ["'|'"]),
        ("compressed_filename_pattern", "../x.zip", ["'..'"]),
        ("compressed_filename_pattern", 'a"b.zip', ["'\"'"]),
    ],
)
def test_path_fields_that_escape_files(field: str, value: str, words: list[str]) -> None:
    fails(with_pattern(field, value), field, *words)


@pytest.mark.parametrize(
    "changes",
    [
        {"target_path": "_fabgen_staging"},
        {"target_path": "_fabgen_manifests/sales/out"},
        {"target_path": "_fabgen_{export_name}"},
    ],
)
def test_fabgens_own_folders_are_not_targets(changes: dict[str, Any]) -> None:
    fails(base(**changes), "target_path", "fabgen's own")


def test_a_file_at_files_root_may_not_take_a_reserved_name() -> None:
    fails(
        base(target_path="", trigger_file_pattern="_fabgen_manifests"), "trigger_file_pattern", "fabgen's own"
    )
    parse_config(base(target_path="out/_fabgen_staging"))  # only Files/ itself is reserved: valid
    parse_config(base(target_path="out", target_filename_pattern="_fabgen_x.csv"))


def test_path_checks_see_what_patterns_render_to() -> None:
    # A plain {run_date} renders "2025-12-12 00:00:00": ':' is not allowed in a file name.
    issue = fails(base(target_filename_pattern="orders_{run_date}.csv"), "target_filename_pattern", "':'")
    assert "renders like 'orders_2025-12-12 00:00:00.csv'" in issue.message
    # A spec that renders a slash makes a file name a path.
    fails(base(target_filename_pattern="o_{run_date:%Y/%m}.csv"), "target_filename_pattern", "not a path")


def test_path_patterns_that_only_look_odd_once_placeholders_are_removed_are_fine() -> None:
    cfg = parse_config(
        base(
            target_path="{run_date:%Y}/{run_date:%m}/",
            target_filename_pattern="{run_date:%Y}..{run_date:%m}.csv",
        )
    )
    assert cfg.target_path == "{run_date:%Y}/{run_date:%m}/"


def test_literal_braces_are_allowed() -> None:
    parse_config(base(target_filename_pattern="orders_{{x}}_{run_date:%Y%m%d}.csv"))


def test_bad_names() -> None:
    fails(base(export_name="daily orders"), "export_name", "letters, digits", where="sales/daily orders")
    fails(base(target_lakehouse="lh-exports"), "target_lakehouse", "Fabric item name")
    fails(base(source_datastore="1lh"), "source_datastore", "Fabric item name")
