"""The export config's validation rules: one failing config per rule, and every error at once."""

from __future__ import annotations

from typing import Any

import pytest
from config_rows import KEY, base, fails, issues_of
from fabgen_runtime.config import REQUIRED, parse_config, parse_configs
from fabgen_runtime.errors import ConfigError

# --------------------------------------------------------------------------- one failing config per rule


def test_unknown_key() -> None:
    issue = fails(base(compresion="gzip"), "compresion", "unknown field")
    assert "did you mean compression" in issue.message


def test_unknown_key_alongside_valid_fields_is_still_an_error() -> None:
    issues = issues_of(base(owner="me"))
    assert [(i.where, i.field) for i in issues] == [(KEY, "owner")]


# The row's name fields have tests of their own (the message names the row differently).
@pytest.mark.parametrize("field", sorted(set(REQUIRED) - {"export_group_name", "export_name"}))
def test_missing_required_field(field: str) -> None:
    fails(base(**{field: None}), field, "is required")


def test_missing_export_name_names_the_row() -> None:
    issues = issues_of(base(export_name=None))
    assert [(i.where, i.field, i.message) for i in issues] == [("row 1", "export_name", "is required")]


def test_both_source_table_and_source_query() -> None:
    fails(base(source_query="SELECT 1"), "source_query", "mutually exclusive")


def test_neither_source_table_nor_source_query() -> None:
    fails(base(source_table=None), "source_table", "source_table or source_query")


def test_source_columns_without_source_table() -> None:
    fails(
        base(source_table=None, source_query="SELECT 1 AS a", source_columns=["a"]),
        "source_columns",
        "only applies with source_table",
    )


def test_source_columns_empty_or_repeated() -> None:
    fails(base(source_columns=[]), "source_columns", "must not be empty")
    fails(base(source_columns=["id", "ID"]), "source_columns", "twice")


def test_warehouse_without_source_schema() -> None:
    fails(
        base(source_type="warehouse", source_datastore="wh_sales"), "source_schema", "required for warehouse"
    )


def test_incremental_without_incremental_column() -> None:
    fails(base(extract_type="incremental"), "incremental_column", "required for incremental")


def test_incremental_fields_on_other_extract_types() -> None:
    fails(base(incremental_column="modified_at"), "incremental_column", "only applies to incremental")


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


@pytest.mark.parametrize("fmt", ["csv", "json"])
@pytest.mark.parametrize("codec", ["snappy", "lz4"])
def test_parquet_only_codecs_on_text_formats(fmt: str, codec: str) -> None:
    fails(base(file_format=fmt, compression=codec), "compression", f"{codec} does not apply to {fmt}")


@pytest.mark.parametrize("codec", ["zip", "zipdeflate"])
def test_zip_is_not_for_parquet(codec: str) -> None:
    fails(base(file_format="parquet", compression=codec), "compression", "does not apply to parquet")


def test_unknown_compression_and_format_and_types() -> None:
    fails(base(compression="rar"), "compression", "must be one of")
    fails(base(file_format="xml"), "file_format", "must be one of")
    fails(base(source_type="kusto"), "source_type", "must be one of")
    fails(base(extract_type="delta"), "extract_type", "must be one of")


@pytest.mark.parametrize(
    ("codec", "fmt", "ok", "bad"),
    [
        ("gzip", "csv", [1, 9], [0, 10]),
        ("zip", "csv", [0, 9], [-1, 10]),
        ("zipdeflate", "json", [0, 9], [10]),
        ("brotli", "csv", [0, 11], [12]),
        ("zstd", "parquet", [1, 22], [0, 23]),
    ],
)
def test_compression_level_range(codec: str, fmt: str, ok: list[int], bad: list[int]) -> None:
    for level in ok:
        assert (
            parse_config(base(file_format=fmt, compression=codec, compression_level=level)).compression_level
            == level
        )
    for level in bad:
        fails(
            base(file_format=fmt, compression=codec, compression_level=level), "compression_level", "must be"
        )


def test_compression_level_without_compression() -> None:
    fails(base(compression_level=5), "compression_level", "needs compression")
    fails(base(file_format="parquet", compression_level=5), "compression_level", "needs compression")


@pytest.mark.parametrize(("codec", "fmt"), [("snappy", "parquet"), ("lz4", "parquet"), ("none", "csv")])
def test_compression_level_for_codecs_without_levels(codec: str, fmt: str) -> None:
    fails(
        base(file_format=fmt, compression=codec, compression_level=1), "compression_level", "takes no level"
    )


def test_compressed_filename_pattern_without_post_compression() -> None:
    fails(base(compressed_filename_pattern="x.zip"), "compressed_filename_pattern", "does not apply")
    fails(
        base(file_format="parquet", compression="gzip", compressed_filename_pattern="x.gz"),
        "compressed_filename_pattern",
        "does not apply",
    )


PATTERN_FIELDS = [
    "target_path",
    "target_filename_pattern",
    "compressed_filename_pattern",
    "trigger_file_pattern",
    "source_query",
    "period_date_query",
]


def _with_pattern(field: str, pattern: str) -> dict[str, Any]:
    """A valid row where ``field`` holds ``pattern`` (other fields set so the field applies)."""
    if field == "source_query":
        return base(source_table=None, source_query=pattern)
    if field == "period_date_query":
        return base(extract_type="period", period_filter_column="order_date", period_date_query=pattern)
    if field == "compressed_filename_pattern":
        return base(compression="zip", compressed_filename_pattern=pattern)
    return base(**{field: pattern})


@pytest.mark.parametrize("field", PATTERN_FIELDS)
def test_unknown_placeholder_in_every_pattern(field: str) -> None:
    fails(_with_pattern(field, "x_{rundate}"), field, "unknown placeholder '{rundate}'")


@pytest.mark.parametrize("field", PATTERN_FIELDS)
@pytest.mark.parametrize("spec", ["%Q", "%Y%", "YYYYMMDD", "%-Y", "%z"])
def test_bad_strftime_spec_in_every_pattern(field: str, spec: str) -> None:
    fails(_with_pattern(field, f"x_{{run_date:{spec}}}"), field, f"{{run_date:{spec}}}")


@pytest.mark.parametrize("field", PATTERN_FIELDS)
def test_bad_brace_syntax_in_every_pattern(field: str) -> None:
    fails(_with_pattern(field, "x_{run_date"), field, "literal brace")
    fails(_with_pattern(field, "x_{}"), field, "not a placeholder name")


def test_good_patterns_in_every_field_pass() -> None:
    for field in PATTERN_FIELDS:
        query = "SELECT 'x_{run_date:%Y%m%d}_{{literal}}'"
        parse_config(_with_pattern(field, query if "query" in field else "x_{run_date:%Y%m%d}"))


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
    fails(_with_pattern(field, pattern), field, "not available here")


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


def test_duplicate_group_and_name() -> None:
    issues = issues_of(base(), base(execution_group=2))
    assert [(i.where, i.field) for i in issues] == [(KEY, "export_name")]
    assert "duplicate" in issues[0].message and "row 1" in issues[0].message


def test_duplicate_across_files_names_both_files() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_configs([base(), base()], sources=["exports/a.yaml", "exports/b.yaml"])
    (issue,) = caught.value.issues
    assert issue.source == "exports/b.yaml" and "exports/a.yaml" in issue.message
    assert str(issue).startswith(f"exports/b.yaml: {KEY} export_name:")


def test_same_name_in_two_groups_is_fine() -> None:
    assert len(parse_configs([base(), base(export_group_name="finance")])) == 2


@pytest.mark.parametrize("value", [0, -5])
def test_max_rows_per_file_below_one(value: int) -> None:
    fails(base(max_rows_per_file=value), "max_rows_per_file", "1 or more")


def test_execution_group_below_one() -> None:
    fails(base(execution_group=0), "execution_group", "1 or more")


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
    fails(_with_pattern(field, value), field, *words)


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


def test_non_mapping_row() -> None:
    issues = issues_of(base(), ["not", "a", "row"])
    assert [(i.where, i.field) for i in issues] == [("row 2", None)]
    assert "must be a mapping" in issues[0].message


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
    issue = fails(_with_pattern("source_query", query), "source_query", words)
    assert "name a table of the source lakehouse" in issue.message


@pytest.mark.parametrize(("query", "words"), PATH_READS[:3], ids=[q for q, _ in PATH_READS[:3]])
def test_a_period_date_query_reading_a_path_fails_validate(query: str, words: str) -> None:
    dates = query.replace("SELECT *", "SELECT min(d) AS start_date, max(d) AS end_date")
    fails(_with_pattern("period_date_query", dates), "period_date_query", words)


def test_a_table_of_another_lakehouse_fails_validate() -> None:
    """Three-part names name the lakehouse: only the row's source_datastore may be read (as at run time)."""
    issue = fails(
        _with_pattern(
            "source_query", "SELECT * FROM dbo.orders o JOIN lh_other.dbo.secrets s ON o.id = s.id"
        ),
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
    parse_config(_with_pattern("source_query", query))


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


# --------------------------------------------------------------------------- every error at once


def test_all_errors_of_several_rows_are_reported_at_once() -> None:
    rows = [
        base(export_name="a", compression="snappy", max_rows_per_file=0),
        base(export_name="b", source_query="SELECT 1", bogus=1),
        base(export_name="c", is_active="yes", execution_group="x"),
        base(export_name="ok"),
        base(export_name="d", extract_type="period", target_path="../x"),
    ]
    issues = issues_of(*rows)
    found = {(i.where, i.field) for i in issues}
    assert found == {
        ("sales/a", "compression"),
        ("sales/a", "max_rows_per_file"),
        ("sales/b", "bogus"),
        ("sales/b", "source_query"),
        ("sales/c", "is_active"),
        ("sales/c", "execution_group"),
        ("sales/d", "period_date_query"),
        ("sales/d", "period_filter_column"),
        ("sales/d", "target_path"),
    }
    message = str(ConfigError(issues))
    assert message.startswith(f"{len(issues)} configuration errors:")


def test_rows_are_numbered_within_their_source() -> None:
    unnamed = base(export_name=None)
    with pytest.raises(ConfigError) as caught:
        parse_configs([base(), unnamed, unnamed], sources=["a.yaml", "b.yaml", "b.yaml"])
    assert [(i.source, i.where) for i in caught.value.issues] == [("b.yaml", "row 1"), ("b.yaml", "row 2")]
    assert str(caught.value.issues[1]) == "b.yaml: row 2 export_name: is required"


def test_rules_are_checked_despite_type_errors() -> None:
    issues = issues_of(base(is_active="yes", compression="snappy", target_path="../x"))
    assert {i.field for i in issues} == {"is_active", "compression", "target_path"}
    # A missing export_name still gets its rule issues, under the row's number.
    issues = issues_of(base(export_name=None, source_query="SELECT 1"))
    assert {(i.where, i.field) for i in issues} == {("row 1", "export_name"), ("row 1", "source_query")}


def test_rules_decided_by_a_broken_field_are_left_out() -> None:
    # source_table is broken: whether source_columns or source_query apply cannot be judged.
    issues = issues_of(base(source_table=42, source_columns=["a"]))
    assert [(i.field, i.message) for i in issues] == [("source_table", "must be a string, got 42")]
    issues = issues_of(base(compression=5, compression_level=3))
    assert [i.field for i in issues] == ["compression"]
    # Without a usable file_format (or source_type, extract_type) no rule is checked.
    issues = issues_of(base(file_format=None, compression="snappy"))
    assert [i.field for i in issues] == ["file_format"]
