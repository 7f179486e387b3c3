"""The read path on real Spark and Delta: extract types, watermarks, failures, retry, log tables.

Outputs are read back with Python's csv module (not Spark); the log tables with Spark.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fabgen_runtime import ExportLogger, ExportOrchestrator, platform
from fabgen_runtime.errors import ConfigError
from fabgen_runtime.export import ExportEvent, new_record
from fabgen_runtime.plan import RunContext
from run_support import csv_export_row, exported_ids

pytestmark = pytest.mark.jvm

WS = "WS_READ"
SRC = "lh_src"
OUT = "lh_out"
HOSTILE = "x' OR '1'='1"


@pytest.fixture(scope="module")
def env(spark, local_platform):
    """Source tables in lakehouse WS_READ/lh_src and a logger on WS_READ/lh_cfg."""
    orders = spark.sql(
        """
        SELECT id, CAST(id * 2.5 AS DECIMAL(18,2)) AS amount, chr(96 + id) AS code,
               date_add(DATE'2025-01-01', CAST(id * 3 AS INT)) AS order_date,
               TIMESTAMP'2025-01-01 00:00:00' + make_interval(0, 0, 0, id * 3, 0, 0, 0) AS modified_at
        FROM range(1, 21)
        """
    )
    # A row on the last day of January late in the evening, and one at midnight after it.
    edges = spark.sql(
        "SELECT 100L AS id, CAST(1 AS DECIMAL(18,2)) AS amount, 'y' AS code, DATE'2025-01-31' AS order_date, "
        "TIMESTAMP'2025-01-31 23:30:00' AS modified_at UNION ALL "
        "SELECT 101L, CAST(1 AS DECIMAL(18,2)), 'z', DATE'2025-02-01', TIMESTAMP'2025-02-01 00:00:00'"
    )
    orders.unionByName(edges).write.format("delta").mode("overwrite").save(table(local_platform, "orders"))
    spark.sql(
        "SELECT '2025-01' AS month, DATE'2025-01-01' AS start_date, DATE'2025-01-31' AS end_date UNION ALL "
        "SELECT '2025-02', DATE'2025-02-01', DATE'2025-02-28' UNION ALL "
        "SELECT '2025-02', DATE'2025-02-01', DATE'2025-02-28'"
    ).write.format("delta").mode("overwrite").save(table(local_platform, "periods"))
    logger = ExportLogger({"workspace": WS, "lakehouse": "lh_cfg"}, spark=spark, platform=local_platform)
    return {"spark": spark, "platform": local_platform, "logger": logger}


def table(plat: Any, name: str, lakehouse: str = SRC) -> str:
    return platform.table_uri(plat, WS, lakehouse, "dbo", name)


def cfg(name: str, **overrides: Any) -> dict[str, Any]:
    source = dict(source_type="lakehouse", source_workspace=WS, source_datastore=SRC, source_table="orders")
    return csv_export_row("read", name, source, (WS, OUT), **overrides)


ids = exported_ids


def by_name(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["export_name"]: r for r in result["results"]}


def log_rows(env: dict[str, Any], execution_id: str) -> list[dict[str, Any]]:
    return [r.asDict() for r in env["logger"].tables.runs(execution_id).collect()]


JANUARY = [*range(1, 11), 100]  # modified_at within 2025-01-01 .. 2025-01-31 (whole last day)
PERIOD_QUERY = "SELECT start_date, end_date FROM dbo.periods WHERE month = '{run_date:%Y-%m}'"


def test_every_extract_type_in_both_query_modes_in_parallel(env) -> None:
    configs = [
        cfg("t_full"),
        cfg(
            "t_incr",
            extract_type="incremental",
            incremental_column="modified_at",
            incremental_initial_watermark="2025-01-31T00:00:00",
            source_columns=["id", "modified_at"],
        ),
        cfg(
            "t_period",
            extract_type="period",
            period_filter_column="modified_at",
            period_date_query=PERIOD_QUERY,
        ),
        cfg("q_full", source_query="SELECT o.id, o.amount FROM dbo.orders o WHERE o.amount > 2"),
        cfg(
            "q_incr",
            extract_type="incremental",
            incremental_column="modified_at",
            incremental_initial_watermark="2025-01-31T00:00:00",
            source_query="SELECT * FROM orders WHERE modified_at > '{watermark}'",
        ),
        cfg(
            "q_period",
            extract_type="period",
            period_date_query=PERIOD_QUERY,
            source_query="SELECT id FROM lh_src.dbo.orders WHERE order_date BETWEEN "
            "'{period_start_date:%Y-%m-%d}' AND '{period_end_date:%Y-%m-%d}'",
        ),
    ]
    orchestrator = ExportOrchestrator(
        env["spark"], env["logger"], max_concurrency=3, platform=env["platform"]
    )
    execution_id = str(uuid.uuid4())
    result = orchestrator.process_exports(configs, execution_id, run_date="2025-01-15", timezone="UTC")
    assert result["success"], result
    got = by_name(result)
    everything = [*range(1, 21), 100, 101]
    after_31st = [i for i in everything if i > 10]  # modified after 2025-01-31 00:00
    assert ids(got["t_full"]) == everything
    assert ids(got["t_incr"]) == after_31st
    assert ids(got["t_period"]) == JANUARY
    assert ids(got["q_full"]) == list(range(1, 21))
    assert ids(got["q_incr"]) == after_31st
    assert ids(got["q_period"]) == [i for i in range(1, 11)] + [100]  # order_date in January
    rows = log_rows(env, execution_id)
    assert sorted(r["export_name"] for r in rows) == sorted(got)  # one row per run, none lost
    assert {r["export_state"] for r in rows} == {"success"}
    versions = {r["export_name"]: r["source_version"] for r in rows}
    assert versions["q_incr"].startswith("orders@") and versions["q_period"].startswith("lh_src.dbo.orders@")
    assert all(versions[n].startswith("dbo.orders@") for n in ("t_full", "t_incr", "t_period", "q_full"))
    period_row = next(r for r in rows if r["export_name"] == "t_period")
    assert (period_row["period_start_date"], period_row["period_end_date"]) == (
        datetime(2025, 1, 1),
        datetime(2025, 1, 31),
    )
    assert all(r["started_at"] <= r["completed_at"] and r["rows_exported"] for r in rows)


def test_watermark_progression_over_three_runs_loses_and_repeats_nothing(env) -> None:
    spark, plat = env["spark"], env["platform"]
    path = table(plat, "events")
    add = (
        "SELECT id, TIMESTAMP'2025-03-01 00:00:00' + make_interval(0, 0, 0, 0, 0, 0, id) AS ts "
        "FROM range({}, {})"
    )
    spark.sql(add.format(1, 11)).write.format("delta").mode("overwrite").save(path)
    config = cfg("progress", source_table="events", extract_type="incremental", incremental_column="ts")
    orchestrator = ExportOrchestrator(spark, env["logger"], max_concurrency=2, platform=plat)
    exported: list[int] = []
    for low, high in ((11, 16), (16, 19), (None, None)):
        result = orchestrator.process_exports([config], str(uuid.uuid4()), run_date="2025-03-02")
        assert result["success"], result
        exported += ids(result["results"][0])
        if low is not None:
            spark.sql(add.format(low, high)).write.format("delta").mode("append").save(path)
    assert exported == list(range(1, 19))  # every row once
    stored = env["logger"].get_watermark("read", "progress")
    assert stored is not None and stored.value == "2025-03-01T00:00:18" and stored.type == "timestamp"
    # A fourth run finds nothing new: header-only file, warning, watermark unchanged.
    result = orchestrator.process_exports([config], str(uuid.uuid4()), run_date="2025-03-02")
    only = result["results"][0]
    assert result["success"] and only["status"] == "warning" and only["rows_exported"] == 0
    assert Path(only["file_paths"][0]).read_text().strip() == "id,ts"
    assert env["logger"].get_watermark("read", "progress").value == "2025-03-01T00:00:18"


@pytest.mark.parametrize("stage", ["written", "published"])
def test_failure_before_the_watermark_update_leaves_it_and_retry_exports_the_same_rows(env, stage) -> None:
    spark, plat, logger = env["spark"], env["platform"], env["logger"]
    name = f"fail_{stage}"
    config = cfg(
        name, extract_type="incremental", incremental_column="id", target_filename_pattern=name + ".csv"
    )

    def inject(event: ExportEvent) -> None:
        if event.stage == stage:
            raise RuntimeError(f"injected failure after {stage}")

    failing = ExportOrchestrator(spark, logger, platform=plat, on_event=inject)
    execution_id = str(uuid.uuid4())
    result = failing.process_exports([config], execution_id, run_date="2025-01-15")
    assert not result["success"] and result["failed"] == 1
    assert "injected failure" in result["results"][0]["error"]
    assert logger.get_watermark("read", name) is None
    staging = Path(platform.files_uri(plat, WS, OUT, "_fabgen_staging"))
    target = Path(platform.files_uri(plat, WS, OUT, f"read/{name}"))
    assert (target / f"{name}.csv").exists() == (stage == "published")
    # Published: the journal stays for the retry to complete; otherwise staging is gone.
    journals = list(staging.glob("*/journal.json")) if staging.exists() else []
    assert len(journals) == (stage == "published")
    assert stage == "published" or not staging.exists() or not any(staging.iterdir())

    retry = ExportOrchestrator(spark, logger, platform=plat).process_exports(
        [config], execution_id, is_retry=True
    )
    assert logger.get_watermark("read", name).value == "101"
    assert not staging.exists() or not any(staging.iterdir())
    states = sorted(r["export_state"] for r in log_rows(env, execution_id))
    if stage == "written":
        assert retry["success"] and ids(retry["results"][0]) == [*range(1, 21), 100, 101]
        assert states == ["error", "success"]
    else:  # effectively once: the retry completes the bookkeeping from the journal, exports nothing
        assert retry["success"] and retry["total_exports"] == 0
        assert states == ["success"]
        assert ids(result["results"][0]) == [*range(1, 21), 100, 101]


def test_crash_left_running_is_picked_up_by_retry(env) -> None:
    spark, plat, logger = env["spark"], env["platform"], env["logger"]
    done, crashed = cfg("crash_done"), cfg("crash_running", target_filename_pattern="crashed.csv")
    execution_id = str(uuid.uuid4())
    context = RunContext.create("2025-01-20", "UTC", execution_id)
    from fabgen_runtime.configs import parse_configs

    done_cfg, crashed_cfg = parse_configs([done, crashed])
    ok, running = (
        new_record(done_cfg, context, str(uuid.uuid4()), False),
        new_record(crashed_cfg, context, str(uuid.uuid4()), False),
    )
    ok.export_state, running.export_state = "success", "running"
    logger.add_rows([ok, running])  # what a process that died mid-export leaves behind

    result = ExportOrchestrator(spark, logger, platform=plat).process_exports(
        [done, crashed], execution_id, is_retry=True
    )
    assert result["success"] and [r["export_name"] for r in result["results"]] == ["crash_running"]
    assert Path(result["results"][0]["file_paths"][0]).name == "crashed.csv"
    rows = {r["export_run_id"]: r for r in log_rows(env, execution_id)}
    assert rows[running.export_run_id]["export_state"] == "error"  # closed as abandoned
    assert "abandoned" in rows[running.export_run_id]["error_message"]
    assert [r["run_date"].isoformat() for r in rows.values()] == ["2025-01-20"] * 3  # retry kept the run date
    assert sorted(r["export_state"] for r in rows.values()) == ["error", "success", "success"]


def test_later_groups_wait_for_a_failed_group_and_retry_runs_them(env) -> None:
    spark, plat, logger = env["spark"], env["platform"], env["logger"]
    broken = cfg("g1_broken", source_table="missing_table")
    later = cfg("g2_later", execution_group=2)
    execution_id = str(uuid.uuid4())
    orchestrator = ExportOrchestrator(spark, logger, platform=plat)
    result = orchestrator.process_exports([broken, later], execution_id, run_date="2025-01-15")
    got = by_name(result)
    assert got["g1_broken"]["status"] == "error" and "no Delta table" in got["g1_broken"]["error"]
    assert got["g2_later"]["status"] == "skipped" and result["skipped"] == 1
    states = {r["export_name"]: r["export_state"] for r in log_rows(env, execution_id)}
    assert states == {"g1_broken": "error", "g2_later": "pending"}
    retry = orchestrator.process_exports([cfg("g1_broken"), later], execution_id, is_retry=True)
    assert retry["success"] and sorted(by_name(retry)) == ["g1_broken", "g2_later"]


def test_hostile_watermark_and_identifiers_are_neutralised(env) -> None:
    spark, plat, logger = env["spark"], env["platform"], env["logger"]
    table_mode = cfg("hostile_t", extract_type="incremental", incremental_column="code")
    query_mode = cfg(
        "hostile_q",
        extract_type="incremental",
        incremental_column="code",
        source_query="SELECT * FROM dbo.orders WHERE code > '{watermark}'",
    )
    typed = cfg("hostile_ts", extract_type="incremental", incremental_column="modified_at")
    for name, column, kind in (
        ("hostile_t", "code", None),
        ("hostile_q", "code", None),
        ("hostile_ts", "modified_at", "timestamp"),
    ):
        logger.set_watermark("read", name, column, HOSTILE, "run-0", kind)
    execution_id = str(uuid.uuid4())
    result = ExportOrchestrator(spark, logger, platform=plat).process_exports(
        [table_mode, query_mode, typed], execution_id, run_date="2025-01-15"
    )
    got = by_name(result)
    # As a string literal the value compares as text: only codes 'y' and 'z' sort after "x' OR ...";
    # had it broken out of its literal, all 22 rows would have been exported.
    for name in ("hostile_t", "hostile_q"):
        assert got[name]["status"] == "success" and ids(got[name]) == [100, 101], got[name]
    assert got["hostile_ts"]["status"] == "error" and "not an ISO timestamp" in got["hostile_ts"]["error"]
    queries = {r["export_name"]: r["source_query"] for r in log_rows(env, execution_id)}
    assert queries["hostile_t"].endswith("WHERE (`code` > 'x\\' OR \\'1\\'=\\'1' OR `code` IS NULL)")
    assert logger.get_watermark("read", "hostile_ts").value == HOSTILE  # unmoved after the error

    weird = cfg("hostile_name", source_query="SELECT * FROM `dbo`.`orders; DROP TABLE x`")
    with pytest.raises(ConfigError, match="not a table name of plain identifiers"):  # validate's rule
        ExportOrchestrator(spark, logger, platform=plat).process_exports([weird], str(uuid.uuid4()))
    with pytest.raises(ConfigError, match="plain identifier"):
        ExportOrchestrator(spark, logger, platform=plat).process_exports(
            [cfg("hostile_table", source_table="orders; DROP TABLE x")], str(uuid.uuid4())
        )


def test_period_query_must_return_one_row(env) -> None:
    config = cfg(
        "period_two_rows",
        extract_type="period",
        period_filter_column="order_date",
        period_date_query=PERIOD_QUERY,
    )
    result = ExportOrchestrator(env["spark"], env["logger"], platform=env["platform"]).process_exports(
        [config], str(uuid.uuid4()), run_date="2025-02-10"
    )
    error = result["results"][0]["error"]
    assert "exactly one row" in error and "more than one row" in error
