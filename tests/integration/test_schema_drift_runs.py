"""The schema-drift guard and NULL incremental values, on real Spark, Delta and files.

One small project per test (kill_support's layout: a Delta source table, csv exports, state tables
in a config lakehouse), runs in-process on the session's Spark as ``fabgen run`` runs them.
Published files are read back with the csv module; state tables with Spark's Delta reader; the
source's NULL count with pandas.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kill_checks import check_clean, summary
from kill_support import KillProject, full_export, inc_export, new_project

pytestmark = pytest.mark.jvm

BASE = ["id", "concat('item ', id) AS name", "CAST(id * 10 AS INT) AS qty"]
BASE_SCHEMA = [["id", "bigint"], ["name", "string"], ["qty", "int"]]


def make(tmp_path: Path, spark: Any, local: Any, name: str, export: dict[str, Any]) -> KillProject:
    workspace = f"WS_DRIFT_{name}".upper()
    project = new_project(tmp_path / name, workspace, spark, local, [export(workspace)], concurrency=1)
    write_source(project, 1, 5)
    return project


def write_source(
    project: KillProject, first: int, last: int, select: list[str] = BASE, mode: str = "overwrite"
) -> None:
    """Write ids first..last shaped by ``select`` (replacing the schema on overwrite)."""
    df = project.spark.range(first, last + 1).selectExpr(*select)
    df.write.format("delta").mode(mode).option("overwriteSchema", "true").save(project.source_path)


def set_export(project: KillProject, **changes: Any) -> None:
    """Change the project's (single) export row in its YAML file."""
    path = project.root / "exports" / "kill.yaml"
    rows = yaml.safe_load(path.read_text())["exports"]
    rows[0].update(changes)
    path.write_text(yaml.safe_dump({"exports": rows}))


def row_of(project: KillProject, export: str) -> dict[str, Any]:
    return next(r for r in project.watermark_rows() if r["export_name"] == export)


def stored_schema(project: KillProject, export: str) -> list[list[str]] | None:
    text = row_of(project, export).get("exported_schema")
    return json.loads(text) if text else None


def entry(result: dict[str, Any], export: str) -> dict[str, Any]:
    return next(r for r in result["results"] if r["export_name"] == export)


def last_log(project: KillProject, export: str) -> dict[str, Any]:
    rows = [r for r in project.log_rows() if r["export_name"] == export]
    return max(rows, key=lambda r: r["queued_at"])


def csv_rows(paths: list[str]) -> list[dict[str, str]]:
    rows = []
    for path in paths:
        with open(path, newline="") as handle:
            rows += list(csv.DictReader(handle))
    return rows


def everything(project: KillProject, export: str) -> dict[str, bytes]:
    """Every file under the export's target folder and the staging folder, with its bytes."""
    found = {}
    for folder in (project.target(export), project.files_dir("_fabgen_staging")):
        if folder.is_dir():
            found.update({str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file()})
    return found


# --------------------------------------------------------------------------- schema drift

DRIFTS = {
    # kind: (new select, what the message names)
    "added": ([*BASE, "CAST(NULL AS STRING) AS note"], "added note (string)"),
    "dropped_retyped": (
        ["id", "CAST(id * 10 AS BIGINT) AS qty"],
        "dropped name (string); retyped qty (int -> bigint)",
    ),
}


@pytest.mark.parametrize("kind", list(DRIFTS))
def test_fail_policy_refuses_a_drift_before_writing_anything(tmp_path, spark, local_platform, kind) -> None:
    # A full csv export with a header: on_schema_change defaults to fail.
    project = make(tmp_path, spark, local_platform, f"fail_{kind}", lambda ws: full_export(ws, max_rows=None))
    first = project.run_in_process()
    assert first["success"], summary(first)
    assert stored_schema(project, "full") == BASE_SCHEMA, "the first run did not record its schema"
    before = everything(project, "full")
    log_before = len(project.log_rows())

    select, named = DRIFTS[kind]
    write_source(project, 1, 8, select)
    refused = project.run_in_process()
    failed = entry(refused, "full")
    assert not refused["success"] and failed["status"] == "error", summary(refused)
    assert named in failed["error"] and "on_schema_change is fail (the default" in failed["error"]
    assert failed["error_type"] == "SchemaDriftError"
    assert everything(project, "full") == before, "a refused run changed the target or left staging"
    assert stored_schema(project, "full") == BASE_SCHEMA, "a refused run recorded its schema"
    row = last_log(project, "full")
    assert row["export_state"] == "error" and named in row["error_message"]
    assert len(project.log_rows()) == log_before + 1
    assert row_of(project, "full")["lease_owner"] is None, "the refused run kept its lease"
    check_clean(project, f"after a refused {kind} drift")

    if kind == "added":
        # allow: exports, records the new schema; the default (fail) then passes on it.
        set_export(project, on_schema_change="allow")
        allowed = project.run_in_process()
        assert entry(allowed, "full")["status"] == "success", summary(allowed)
        assert stored_schema(project, "full") == [*BASE_SCHEMA, ["note", "string"]]
        rows = csv_rows(entry(allowed, "full")["file_paths"])
        assert sorted(int(r["id"]) for r in rows) == list(range(1, 9)) and "note" in rows[0]
        set_export(project, on_schema_change=None)
        again = project.run_in_process()
        assert entry(again, "full")["status"] == "success", summary(again)


def test_warn_policy_exports_with_a_warning_naming_each_change(tmp_path, spark, local_platform) -> None:
    project = make(
        tmp_path, spark, local_platform, "warn", lambda ws: inc_export(ws, on_schema_change="warn")
    )
    assert project.run_in_process()["success"]
    assert project.stored_watermark("inc") == "5"
    write_source(project, 1, 7, ["id", "CAST(id * 10 AS BIGINT) AS qty", "DATE'2025-01-01' AS day"])
    warned = project.run_in_process()
    result = entry(warned, "inc")
    assert warned["success"] and result["status"] == "warning", summary(warned)
    assert result["error"] == (
        "schema changed since the last successful run: added day (date); dropped name (string); "
        "retyped qty (int -> bigint) (on_schema_change: warn)"
    )
    assert result["error"] in warned["output"], "the CLI output does not show the warning"
    assert [r["id"] for r in csv_rows(result["file_paths"])] == ["6", "7"]
    assert project.stored_watermark("inc") == "7"
    assert stored_schema(project, "inc") == [["id", "bigint"], ["qty", "bigint"], ["day", "date"]]
    row = last_log(project, "inc")
    assert row["export_state"] == "warning" and row["error_message"] == result["error"]


def test_retyped_incremental_column_always_fails_with_the_reset_hint(tmp_path, spark, local_platform) -> None:
    project = make(
        tmp_path, spark, local_platform, "retype", lambda ws: inc_export(ws, on_schema_change="allow")
    )
    assert project.run_in_process()["success"]
    before = everything(project, "inc")
    write_source(project, 1, 9, ["CAST(id AS STRING) AS id", *BASE[1:]])
    refused = project.run_in_process()
    failed = entry(refused, "inc")
    assert failed["status"] == "error", summary(refused)
    assert "incremental_column 'id' changed type bigint -> string" in failed["error"]
    assert "delete this export's row from log_resource_export_watermark" in failed["error"]
    assert everything(project, "inc") == before
    assert project.stored_watermark("inc") == "5" and row_of(project, "inc")["watermark_type"] == "bigint"
    check_clean(project, "after a refused incremental retype")

    # Following the hint starts again from incremental_initial_watermark with the new type.
    path = project.state_path("log_resource_export_watermark")
    spark.sql(f"DELETE FROM delta.`{path}` WHERE export_name = 'inc'")
    again = project.run_in_process()
    assert entry(again, "inc")["status"] == "success", summary(again)
    assert row_of(project, "inc")["watermark_type"] == "string"
    assert stored_schema(project, "inc") == [["id", "string"], ["name", "string"], ["qty", "int"]]


# --------------------------------------------------------------------------- NULL incremental values


def write_with_nulls(project: KillProject, first: int, last: int, nulls: int, mode: str) -> None:
    ids = project.spark.range(first, last + 1).selectExpr("id")
    blank = project.spark.range(nulls).selectExpr("CAST(NULL AS BIGINT) AS id")
    ids.unionByName(blank).selectExpr("id", "concat('item ', coalesce(id, -1)) AS name").write.format(
        "delta"
    ).mode(mode).save(project.source_path)


def source_nulls(project: KillProject) -> int:
    frame = project.spark.read.format("delta").load(project.source_path).toPandas()
    return int(frame["id"].isna().sum())


@pytest.mark.parametrize("split", [None, 2], ids=["single", "split"])
def test_null_incremental_values_are_counted_and_reported(tmp_path, spark, local_platform, split) -> None:
    project = make(
        tmp_path,
        spark,
        local_platform,
        f"nulls_{'split' if split else 'single'}",
        lambda ws: inc_export(ws, incremental_initial_watermark=None, max_rows_per_file=split),
    )
    write_with_nulls(project, 1, 5, 2, "overwrite")

    # A first run without any watermark exports the NULL rows and says so.
    first = project.run_in_process()
    result = entry(first, "inc")
    assert result["status"] == "warning" and result["rows_exported"] == 7, summary(first)
    assert result["error"].startswith("2 exported row(s) have a NULL incremental_column 'id'")
    ids = [r["id"] for r in csv_rows(result["file_paths"])]
    assert sorted(ids) == ["", "", "1", "2", "3", "4", "5"]
    assert project.stored_watermark("inc") == "5"

    # A filtered run reads them in the same pass, counts them and leaves them out.
    write_with_nulls(project, 6, 8, 3, "append")
    second = project.run_in_process()
    result = entry(second, "inc")
    nulls = source_nulls(project)
    assert nulls == 5
    assert result["status"] == "warning" and result["rows_exported"] == 3, summary(second)
    assert result["error"] == (
        f"{nulls} row(s) with a NULL incremental_column 'id' not exported (NULL is never > the watermark "
        "'5'); give them a value, or export them with a full or period export"
    )
    assert result["error"] in second["output"]
    assert sorted(int(r["id"]) for r in csv_rows(result["file_paths"])) == [6, 7, 8]
    if split:
        assert result["files_created"] == 2
    assert project.stored_watermark("inc") == "8"
    row = last_log(project, "inc")
    assert row["export_state"] == "warning" and row["error_message"] == result["error"]
    assert row["rows_exported"] == 3
    check_clean(project, "after a run with NULL incremental values")


def test_config_push_adds_on_schema_change_to_an_older_config_table(tmp_path, spark, local_platform) -> None:
    from delta.tables import DeltaTable
    from fabgen_runtime.engines.spark.manager import CONFIG_COLUMNS, ConfigExportManager
    from fabgen_runtime.engines.spark.schema import struct

    manager = ConfigExportManager(
        {"workspace": "WS_DRIFT_PUSH", "lakehouse": "lh_config"}, spark, local_platform
    )
    older = {k: v for k, v in CONFIG_COLUMNS.items() if k != "on_schema_change"}
    DeltaTable.createIfNotExists(spark).location(manager.path).addColumns(struct(older)).execute()
    row = inc_export("WS_DRIFT_PUSH", on_schema_change="allow")
    assert manager.push_configs([row]) == 1
    assert "on_schema_change" in spark.read.format("delta").load(manager.path).columns
    assert [c.on_schema_change for c in manager.get_configs("kill")] == ["allow"]


def test_recovery_records_the_schema_from_the_journal(tmp_path, spark, local_platform) -> None:
    from fabgen.project import load_project
    from fabgen_runtime import ExportLogger, ExportOrchestrator

    workspace = "WS_DRIFT_RECOVER"
    exports = [inc_export(workspace), full_export(workspace, max_rows=None)]
    project = new_project(tmp_path / "recover", workspace, spark, local_platform, exports, concurrency=1)
    write_source(project, 1, 5)

    def fail_after_publish(event: Any) -> None:  # files published, bookkeeping not done
        if event.stage == "published":
            raise RuntimeError("injected after publish")

    loaded = load_project(project.root)
    logger = ExportLogger(loaded.settings.config_lakehouse, spark=spark, platform=local_platform)
    configs = loaded.select("kill", None)
    failing = ExportOrchestrator(spark, logger, 1, platform=local_platform, on_event=fail_after_publish)
    result = failing.process_exports(configs, "drift-recover", run_date="2025-06-01")
    assert {r["status"] for r in result["results"]} == {"error"}, summary(result)
    assert stored_schema(project, "inc") is None and stored_schema(project, "full") is None
    assert project.stored_watermark("inc") is None

    recovered = ExportOrchestrator(spark, logger, 1, platform=local_platform).recover(configs)
    assert not recovered.problems, recovered.problems
    assert stored_schema(project, "inc") == BASE_SCHEMA  # with its watermark (compare-and-set)
    assert stored_schema(project, "full") == BASE_SCHEMA  # without one (full export)
    assert project.stored_watermark("inc") == "5"
    check_clean(project, "after recovery")
