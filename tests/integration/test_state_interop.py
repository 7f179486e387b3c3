"""The state tables shared by Spark and delta-rs: either engine creates them, the other reads and writes.

Spark side: a real ``fabgen run`` on the session's warm Spark (``ExportLogger``, ``LeaseTable``).
delta-rs side: :class:`fabgen_runtime.engines.python.tables.DeltaRsTables` on the same paths. A
lease taken with delta-rs makes Spark's run refuse the export (``LeaseHeld``); a watermark stored
with delta-rs is the one Spark's next incremental run starts from; and the other way round.
"""

from __future__ import annotations

import multiprocessing as mp
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable
from fabgen_runtime.engines.python.tables import DeltaRsTables
from fabgen_runtime.protocol.tables import LeaseClaim, LeaseTerms, WatermarkWrite, take_leases
from fabgen_runtime.state_model import LOG_TABLE, WATERMARK_TABLE, ExportRunRecord, now_utc
from kill_checks import GROUP, summary
from kill_support import KillProject, inc_export, new_project

pytestmark = [pytest.mark.jvm]

KEY = (GROUP, "inc")


def project_for(tmp_path: Path, spark: Any, local: Any, name: str) -> KillProject:
    workspace = f"WS_INTEROP_{name}".upper()
    return new_project(tmp_path / name, workspace, spark, local, [inc_export(workspace)])


def delta_rs(project: KillProject) -> DeltaRsTables:
    return DeltaRsTables(project.state_path(LOG_TABLE), project.state_path(WATERMARK_TABLE))


def terms(owner: str, host: str = "") -> LeaseTerms:
    now = now_utc()
    return LeaseTerms(owner, now + timedelta(seconds=300), now, host, 1 if host else 0)


def entry(result: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in result["results"] if r["export_name"] == "inc")


def exported_ids(project: KillProject) -> list[int]:
    return sorted(i for ids in project.data_files("inc").values() for i in ids)


def check_lease_refuses_spark_then_watermark_moves_it(project: KillProject, store: DeltaRsTables) -> None:
    """delta-rs takes the lease: Spark refuses; delta-rs stores 7 and releases: Spark exports 8..10."""
    before = store.read_watermarks([KEY])[KEY]
    start, column, kind = before["watermark_value"], before["incremental_column"], before["watermark_type"]
    assert (start, column) == ("5", "id")
    python_run = terms("python-engine:test")
    _rows, refused = take_leases(store, [LeaseClaim(KEY, "py-run-1", "py-exec-1")], python_run)
    assert refused == {}
    project.add_rows(6, 10)
    held = project.run_in_process(execution_id="spark-while-held")
    assert entry(held)["status"] == "error", summary(held)
    assert entry(held)["error_type"] == "LeaseHeld", summary(held)
    assert "py-run-1" in entry(held)["error"] and "py-exec-1" in entry(held)["error"]
    assert exported_ids(project) == [1, 2, 3, 4, 5]  # nothing exported while delta-rs held the lease

    write = WatermarkWrite(KEY, "7", start, column, kind, "py-run-1", "py-exec-1")
    assert store.store([write], python_run, release=True) == 1
    assert project.stored_watermark("inc") == "7"  # Spark reads what delta-rs wrote
    moved = project.run_in_process(execution_id="spark-after-release")
    assert entry(moved)["status"] == "success", summary(moved)
    assert exported_ids(project) == [1, 2, 3, 4, 5, 8, 9, 10]
    assert store.read_watermarks([KEY])[KEY]["watermark_value"] == "10"  # and delta-rs reads Spark's


def test_spark_creates_and_logs_delta_rs_reads_leases_and_stores(
    tmp_path: Path, spark: Any, local_platform: Any
) -> None:
    project = project_for(tmp_path, spark, local_platform, "spark_first")
    project.replace_rows(1, 5)
    first = project.run_in_process(execution_id="spark-1")
    assert entry(first)["status"] == "success", summary(first)
    store = delta_rs(project)

    protocol = DeltaTable(store.watermark_path).protocol()
    assert (protocol.min_reader_version, protocol.min_writer_version) == (1, 2)  # Spark's, no features
    assert not protocol.reader_features and not protocol.writer_features
    # the run's new log rows are one blind append (WRITE); only their final states are a MERGE
    log_history = [h["operation"] for h in reversed(DeltaTable(store.log_path).history())]
    assert log_history[1:] == ["WRITE", "MERGE"], log_history
    latest = store.latest_states("spark-1")
    assert latest[KEY]["export_state"] == "success" and latest[KEY]["rows_exported"] == 5
    run = store.get_runs([latest[KEY]["export_run_id"]])[latest[KEY]["export_run_id"]]
    spark_row = next(r for r in project.log_rows() if r["export_run_id"] == run.export_run_id)
    for column in ("export_state", "rows_exported", "files_created", "file_paths", "watermark_value"):
        assert getattr(run, column) == spark_row[column], column
    # timestamps: the same instant (PySpark gives naive local time, delta-rs aware UTC)
    for column in ("queued_at", "started_at", "completed_at", "updated_at"):
        assert getattr(run, column).timestamp() == spark_row[column].timestamp(), column
    row = store.read_watermarks([KEY])[KEY]
    assert row["watermark_value"] == "5" and row["lease_owner"] is None and row["exported_schema"]

    check_lease_refuses_spark_then_watermark_moves_it(project, store)


def test_delta_rs_creates_spark_writes_delta_rs_reads(
    tmp_path: Path, spark: Any, local_platform: Any
) -> None:
    project = project_for(tmp_path, spark, local_platform, "delta_rs_first")
    project.replace_rows(1, 5)
    store = delta_rs(project)
    store.ensure_tables()  # delta-rs creates both tables
    earlier = ExportRunRecord(
        "py-run-0", "py-exec-0", GROUP, "inc", "success", queued_at=now_utc(), rows_exported=0
    )
    store.append_runs([earlier])

    first = project.run_in_process(execution_id="spark-1")  # Spark finds, reads and writes them
    assert entry(first)["status"] == "success", summary(first)
    assert exported_ids(project) == [1, 2, 3, 4, 5]
    assert project.stored_watermark("inc") == "5"
    spark_ids = {r["export_run_id"] for r in project.log_rows()}
    assert "py-run-0" in spark_ids and len(spark_ids) == 2  # delta-rs's row kept by Spark's MERGE
    latest = store.latest_states("spark-1")
    assert latest[KEY]["export_state"] == "success" and latest[KEY]["rows_exported"] == 5

    check_lease_refuses_spark_then_watermark_moves_it(project, store)


def test_status_views_read_the_same_rows_through_spark_and_delta_rs(
    tmp_path: Path, spark: Any, local_platform: Any
) -> None:
    """``fabgen status``/``history`` of a spark group and of a python group show the same rows."""
    from fabgen_runtime import ExportLogger, status
    from fabgen_runtime.engines.python.state import PythonExportLogger
    from kill_support import CONFIG_LAKEHOUSE

    project = project_for(tmp_path, spark, local_platform, "views")
    project.replace_rows(1, 5)
    assert entry(project.run_in_process(execution_id="spark-1"))["status"] == "success"
    store = delta_rs(
        project
    )  # rows written by delta-rs beside Spark's: one queued later, one without queued_at
    later = now_utc() + timedelta(minutes=5)
    store.append_runs(
        [
            ExportRunRecord("py-run-1", "py-exec", GROUP, "inc", "error", queued_at=later, error_message="x"),
            ExportRunRecord("py-run-2", "py-exec", GROUP, "other", "running", started_at=later),
        ]
    )
    lakehouse = {"workspace": project.workspace, "lakehouse": CONFIG_LAKEHOUSE}
    by_spark = ExportLogger(lakehouse, auto_create_tables=False, spark=spark, platform=local_platform)
    by_delta_rs = PythonExportLogger(lakehouse, auto_create_tables=False, platform=local_platform)

    spark_status = status.group_status(by_spark, GROUP, ["inc", "never"])
    assert [(r["export_name"], r["export_state"]) for r in spark_status] == [
        ("inc", "error"), ("never", None), ("other", "running"),
    ]  # fmt: skip
    assert spark_status[0]["stored_watermark_value"] == "5"
    assert status.group_status(by_delta_rs, GROUP, ["inc", "never"]) == spark_status
    spark_history = status.export_history(by_spark, GROUP, "inc")
    assert [r["export_run_id"] for r in spark_history][:1] == ["py-run-1"] and len(spark_history) == 2
    assert status.export_history(by_delta_rs, GROUP, "inc") == spark_history
    assert status.export_history(by_delta_rs, GROUP, "inc", 1) == status.export_history(
        by_spark, GROUP, "inc", 1
    )
    assert status.tables_present(by_delta_rs) == status.tables_present(by_spark)


# ---------------------------------------------------------------------- Spark and delta-rs racing


def _take_in_process(
    watermark: str, log: str, key: tuple[str, str], owner: str, barrier: Any, out: Any
) -> None:
    store = DeltaRsTables(log, watermark)
    barrier.wait()
    # another host's lease: the child exits at once, and a dead LOCAL holder would be taken over
    _rows, refused = take_leases(store, [LeaseClaim(key, "py-run", "py-exec")], terms(owner, "python-host"))
    out.put(key not in refused)


def test_spark_and_delta_rs_racing_for_one_lease_one_wins(
    tmp_path: Path, spark: Any, local_platform: Any
) -> None:
    from fabgen_runtime.leases import LeaseTable
    from fabgen_runtime.state import ExportLogger

    project = project_for(tmp_path, spark, local_platform, "race")
    logger = ExportLogger({"workspace": project.workspace, "lakehouse": "lh_config"}, spark=spark)
    logger.ensure_tables()
    store = delta_rs(project)
    ctx = mp.get_context("spawn")
    for round_ in range(3):
        key = (GROUP, f"race{round_}")
        barrier, out = ctx.Barrier(2), ctx.Queue()
        proc = ctx.Process(
            target=_take_in_process,
            args=(store.watermark_path, store.log_path, key, f"python:{round_}", barrier, out),
        )
        proc.start()
        leases = LeaseTable(logger)
        barrier.wait()
        _rows, refused = leases.acquire({key: (f"spark-run-{round_}", "spark-exec")})
        python_won = out.get(timeout=300)
        proc.join(timeout=60)
        spark_won = key not in refused
        assert [spark_won, python_won].count(True) == 1, (spark_won, python_won)
        rows = [r for r in project.watermark_rows() if (r["export_group_name"], r["export_name"]) == key]
        assert len(rows) == 1
        assert rows[0]["lease_owner"] == (leases.owner if spark_won else f"python:{round_}")
