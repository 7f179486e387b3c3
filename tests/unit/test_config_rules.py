"""The export config's validation rules: one failing config per rule, and every error at once."""

from __future__ import annotations

import pytest
from config_rows import KEY, base, fails, issues_of
from fabgen_runtime.config import REQUIRED
from fabgen_runtime.configs import parse_config, parse_configs
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


def test_non_mapping_row() -> None:
    issues = issues_of(base(), ["not", "a", "row"])
    assert [(i.where, i.field) for i in issues] == [("row 2", None)]
    assert "must be a mapping" in issues[0].message


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
