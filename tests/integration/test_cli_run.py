"""``fabgen run``, ``fabgen plan`` and ``fabgen config push`` through click's CliRunner on a tmp project."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
from cli_support import shop_export, write_project
from click.testing import CliRunner
from fabgen.cli import main
from fabgen_runtime import ConfigExportManager, platform

pytestmark = pytest.mark.jvm

WS = "WS_CLI"


@pytest.fixture(scope="module")
def project(tmp_path_factory, spark, local_platform) -> Path:
    root = tmp_path_factory.mktemp("cli_project")
    exports = [
        shop_export(
            WS,
            export_name="items",
            source_table="items",
            target_path="shop/{run_date:%Y%m%d}",
            target_filename_pattern="items_{run_date:%Y%m%d}.csv",
            compression="gzip",
            trigger_file_pattern="items_{run_date:%Y%m%d}.done",
        ),
        shop_export(
            WS,
            export_name="new_items",
            source_table="items",
            extract_type="incremental",
            incremental_column="id",
            incremental_initial_watermark="2",
            execution_group=2,
            target_path="shop/new",
            target_filename_pattern="new_{run_date:%Y%m%d}.csv",
        ),
        shop_export(
            WS,
            export_group_name="broken",
            export_name="missing",
            source_table="nope",
            target_path="broken",
            target_filename_pattern="x.csv",
        ),
    ]
    write_project(root, "cli", WS, exports)
    path = platform.table_uri(local_platform, WS, "lh_src", "dbo", "items")
    spark.sql("SELECT id, concat('item ', id) AS name FROM range(1, 6)").write.format("delta").mode(
        "overwrite"
    ).save(path)
    return root


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_plan_prints_queries_filters_watermarks_and_paths(project) -> None:
    result = invoke("plan", "-p", str(project), "-g", "shop", "--run-date", "2025-06-01")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "query (spark): SELECT * FROM `dbo`.`items`" in out
    assert "filter: `id` > 2" in out
    assert "watermark: 2 (incremental_initial_watermark)" in out
    assert "lh_out.Lakehouse/Files/shop/20250601/items_20250601.csv.gz" in out
    assert "trigger: " in out and "items_20250601.done" in out


def test_run_exports_shows_progress_and_a_summary_and_plan_then_shows_the_stored_watermark(project) -> None:
    result = invoke(
        "run", "-p", str(project), "-g", "shop", "--run-date", "2025-06-01", "--max-concurrency", "2"
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "execution group 1" in out and "shop/items: finished success, 5 rows" in out
    assert "shop/new_items" in out and "2 of 2 export(s) succeeded" in out
    header = next(line for line in out.splitlines() if line.startswith("export "))
    assert header.split() == ["export", "state", "rows", "files", "bytes", "seconds"]
    files = Path(platform.files_uri(platform.current(), WS, "lh_out", "shop/20250601"))
    assert (
        gzip.decompress((files / "items_20250601.csv.gz").read_bytes()).decode().splitlines()[0] == "id,name"
    )
    assert (files / "items_20250601.done").exists()

    plan = invoke("plan", "-p", str(project), "-g", "shop", "--export", "new_items")
    assert "watermark: 5 (stored by run" in plan.output and "filter: `id` > 5" in plan.output


def test_run_exits_1_when_an_export_fails_and_backfills_each_date(project) -> None:
    failed = invoke("run", "-p", str(project), "-g", "broken", "--execution-id", "cli-broken")
    assert failed.exit_code == 1
    assert "no Delta table" in failed.output and "--retry --execution-id cli-broken" in failed.output

    backfill = invoke(
        "run", "-p", str(project), "-g", "shop", "-x", "items", "--from", "2025-06-02", "--to", "2025-06-03"
    )
    assert backfill.exit_code == 0, backfill.output
    for day in ("20250602", "20250603"):
        assert Path(
            platform.files_uri(platform.current(), WS, "lh_out", f"shop/{day}/items_{day}.csv.gz")
        ).exists()


def test_config_push_upserts_rows_readable_by_the_manager(project, spark, local_platform) -> None:
    result = invoke("config", "push", "-p", str(project), "--group", "shop")
    assert result.exit_code == 0, result.output
    assert "Pushed 2 export row(s)" in result.output
    again = invoke("config", "push", "-p", str(project))  # upsert: no duplicates, the other group added
    assert "Pushed 3 export row(s)" in again.output
    manager = ConfigExportManager({"workspace": WS, "lakehouse": "lh_config"}, spark, platform=local_platform)
    assert manager.read().count() == 3
    configs = manager.get_configs("shop")
    assert [c.export_name for c in configs] == ["items", "new_items"]
    assert configs[0].file_format_options == {"header": "true"} and configs[0].compression == "gzip"
    assert [c.export_name for c in manager.get_configs("shop", execution_group=2)] == ["new_items"]
    assert os.environ["FABGEN_ONELAKE_ROOT"] in manager.path


def test_recover_with_nothing_interrupted_says_so_and_exits_0(project) -> None:
    result = invoke("recover", "-p", str(project), "-g", "shop")
    assert result.exit_code == 0, result.output
    assert "nothing to recover in shop" in result.output
