"""The schema-drift guard's comparison and policies (no JVM), and ``on_schema_change`` validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from config_rows import KEY, base, fails
from fabgen.cli import main
from fabgen_runtime import schema_drift
from fabgen_runtime.configs import parse_config
from fabgen_runtime.errors import SchemaDriftError

OLD = [("id", "bigint"), ("name", "string"), ("amount", "decimal(10,2)")]


def config(**changes):
    return parse_config(base(**changes))


def incremental(**changes):
    return config(extract_type="incremental", incremental_column="id", **changes)


def test_dumps_and_loads_round_trip_compact_json() -> None:
    text = schema_drift.dumps(OLD)
    assert text == '[["id","bigint"],["name","string"],["amount","decimal(10,2)"]]'
    assert schema_drift.loads(text) == OLD
    odd = [("a,b:c", "struct<x:int>"), ("ünï `q`", "array<string>")]
    assert schema_drift.loads(schema_drift.dumps(odd)) == odd


@pytest.mark.parametrize("text", [None, "", "not json", '{"a": 1}', '[["a"]]', "[[1, 2]]"])
def test_loads_treats_missing_or_foreign_text_as_nothing_recorded(text) -> None:
    assert schema_drift.loads(text) is None


def test_compare_names_added_dropped_retyped_and_reordered() -> None:
    assert not schema_drift.compare(OLD, list(OLD))
    new = [("id", "string"), ("amount", "decimal(10,2)"), ("note", "string")]
    drift = schema_drift.compare(OLD, new)
    assert drift.added == (("note", "string"),)
    assert drift.dropped == (("name", "string"),)
    assert drift.retyped == (("id", "bigint", "string"),)
    assert drift.describe() == "added note (string); dropped name (string); retyped id (bigint -> string)"
    moved = schema_drift.compare(OLD, [OLD[1], OLD[0], OLD[2]])
    assert moved.reordered and moved.describe() == "columns reordered"
    # A change of case is a different column name (a csv header changes).
    assert schema_drift.compare(OLD, [("ID", "bigint"), *OLD[1:]]).describe() == (
        "added ID (bigint); dropped id (bigint)"
    )


def test_default_policy() -> None:
    assert schema_drift.policy(config()) == "fail"  # csv: header on by default
    assert schema_drift.policy(config(file_format_options={"header": "false"})) == "warn"
    assert schema_drift.policy(config(file_format="json")) == "warn"
    assert schema_drift.policy(config(file_format="parquet")) == "warn"
    assert schema_drift.policy(config(file_format="parquet", source_columns=["id", "name"])) == "fail"
    assert schema_drift.policy(config(file_format="json", on_schema_change="allow")) == "allow"
    assert schema_drift.policy(config(on_schema_change="warn")) == "warn"


def test_first_run_records_without_a_check() -> None:
    assert schema_drift.check(config(), None, [("anything", "int")]) is None


def test_policies_on_an_added_column() -> None:
    stored, new = schema_drift.dumps(OLD), [*OLD, ("note", "string")]
    with pytest.raises(SchemaDriftError) as caught:
        schema_drift.check(config(), stored, new)
    message = str(caught.value)
    assert message.startswith(f"{KEY}: schema changed since the last successful run: added note (string)")
    assert "on_schema_change is fail (the default for this export)" in message
    warning = schema_drift.check(config(on_schema_change="warn"), stored, new)
    assert warning == (
        "schema changed since the last successful run: added note (string) (on_schema_change: warn)"
    )
    assert schema_drift.check(config(on_schema_change="allow"), stored, new) is None
    assert schema_drift.check(config(file_format="json"), stored, new) == warning  # json defaults to warn


def test_no_drift_passes_every_policy() -> None:
    for chosen in schema_drift.POLICIES:
        assert schema_drift.check(config(on_schema_change=chosen), schema_drift.dumps(OLD), list(OLD)) is None


@pytest.mark.parametrize("chosen", ["fail", "warn", "allow"])
def test_retyped_incremental_column_always_fails_with_the_reset_hint(chosen) -> None:
    new = [("id", "string"), *OLD[1:]]
    with pytest.raises(SchemaDriftError) as caught:
        schema_drift.check(incremental(on_schema_change=chosen), schema_drift.dumps(OLD), new)
    message = str(caught.value)
    assert "incremental_column 'id' changed type bigint -> string" in message
    assert "delete this export's row from log_resource_export_watermark" in message
    assert "export_group_name = 'sales' AND export_name = 'daily_orders'" in message


def test_retyped_incremental_column_is_caught_from_the_watermark_type_without_a_stored_schema() -> None:
    new = [("id", "string"), *OLD[1:]]
    with pytest.raises(SchemaDriftError, match="bigint -> string"):
        schema_drift.check(incremental(on_schema_change="allow"), None, new, watermark_type="bigint")
    assert schema_drift.check(incremental(), None, list(OLD), watermark_type="bigint") is None


def test_other_retyped_column_of_an_incremental_export_follows_the_policy() -> None:
    new = [OLD[0], ("name", "int"), OLD[2]]
    warning = schema_drift.check(incremental(on_schema_change="warn"), schema_drift.dumps(OLD), new)
    assert warning is not None and "retyped name (string -> int)" in warning


def test_validate_rejects_a_bad_on_schema_change() -> None:
    fails(base(on_schema_change="ignore"), "on_schema_change", "fail, warn, allow", "'ignore'")
    fails(base(on_schema_change="FAIL"), "on_schema_change", "must be one of")
    fails(base(on_schema_change=1), "on_schema_change", "must be a string")


def test_fabgen_validate_exits_2_naming_the_export_and_field(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(tmp_path)]).exit_code == 0
    exports = tmp_path / "exports" / "exports.yaml"
    exports.write_text(
        exports.read_text().replace(
            "    file_format: csv\n", "    file_format: csv\n    on_schema_change: sometimes\n", 1
        )
    )
    result = runner.invoke(main, ["validate", "-p", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert any(
        "daily_orders on_schema_change: must be one of fail, warn, allow, got 'sometimes'" in line
        for line in result.stderr.splitlines()
    ), result.stderr
