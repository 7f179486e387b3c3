"""The state tables shared by Spark and delta-rs: either engine creates them, the other reads and writes.

Spark side: a real ``fabgen run`` on the session's warm Spark (``ExportLogger``, its ``SparkTables``).
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
    from fabgen_runtime import ExportLogger
    from fabgen_runtime.protocol.leasing import Leases

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
        leases = Leases(logger.tables)
        barrier.wait()
        _rows, refused = leases.acquire({key: (f"spark-run-{round_}", "spark-exec")})
        python_won = out.get(timeout=300)
        proc.join(timeout=60)
        spark_won = key not in refused
        assert [spark_won, python_won].count(True) == 1, (spark_won, python_won)
        rows = [r for r in project.watermark_rows() if (r["export_group_name"], r["export_name"]) == key]
        assert len(rows) == 1
        assert rows[0]["lease_owner"] == (leases.owner if spark_won else f"python:{round_}")


# ---------------------------------------------------------------------- Fabric Runtime 2.0's defaults


def delta_detail(spark: Any, path: str) -> tuple[int, int, list[str], dict[str, str]]:
    """Spark's view of a table's protocol: reader, writer, table features, properties."""
    row = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").collect()[0]
    return row["minReaderVersion"], row["minWriterVersion"], sorted(row["tableFeatures"]), row["properties"]


#: what DESCRIBE DETAIL says of reader 1 / writer 2 (the two features writer 2 implies)
PINNED = (1, 2, ["appendOnly", "invariants"])


def dv_files(path: str) -> list[str]:
    return sorted(p.name for p in Path(path.removeprefix("file:")).glob("deletion_vector_*.bin"))


def test_spark_and_python_groups_share_one_config_lakehouse_under_fabric_defaults(
    tmp_path: Path, spark: Any, local_platform: Any
) -> None:
    """As in examples/sales: a Spark group creates the state tables under the session's defaults
    (deletion vectors on for new tables, as on Fabric Runtime 2.0), then a Python group's run uses
    the same tables: they were created at the pinned protocol, so delta-rs reads and writes them."""
    from fabgen_runtime.engines.spark.local_spark import local_defaults
    from python_kill_support import PythonKillProject

    workspace = "WS_INTEROP_SHARED"
    spark_project = new_project(tmp_path / "spark", workspace, spark, local_platform, [inc_export(workspace)])
    python_project = new_project(
        tmp_path / "python", workspace, None, local_platform, [inc_export(workspace, "inc_py")],
        kind=PythonKillProject,
    )  # fmt: skip
    spark_project.replace_rows(1, 5)  # written by Spark: the source table has the session's defaults
    if local_defaults() == "fabric":
        assert "deletionVectors" in delta_detail(spark, spark_project.source_path)[2]

    first = spark_project.run_in_process(execution_id="spark-1")  # Spark creates the state tables
    assert entry(first)["status"] == "success", summary(first)
    python = python_project.run_in_process(execution_id="python-1")  # a child process, no JVM
    assert [r["status"] for r in python["results"]] == ["success"], summary(python)

    assert exported_ids(spark_project) == [1, 2, 3, 4, 5]
    assert [i for ids in python_project.data_files("inc_py").values() for i in ids] == [1, 2, 3, 4, 5]
    marks = {r["export_name"]: r["watermark_value"] for r in spark_project.watermark_rows()}
    assert marks == {"inc": "5", "inc_py": "5"}
    executions = {r["master_execution_id"] for r in spark_project.log_rows()}
    assert executions == {"spark-1", "python-1"}
    for table in (LOG_TABLE, WATERMARK_TABLE):  # no deletion vector after either engine's MERGEs
        path = spark_project.state_path(table)
        reader, writer, features, properties = delta_detail(spark, path)
        assert (reader, writer, features) == PINNED, (table, reader, writer, features)
        assert properties["delta.enableDeletionVectors"] == "false" and dv_files(path) == []


def test_a_state_table_with_deletion_vectors_spark_uses_it_python_refuses_until_rebuilt(
    tmp_path: Path, spark: Any, local_platform: Any
) -> None:
    """State tables an older fabgen created on Fabric Runtime 2.0 (deletion vectors on, DV files
    left by its MERGEs): Spark uses them; the Python engine refuses them before reading or writing
    anything, naming the fix; after ``rebuild_state_table`` both engines use them."""
    from delta.tables import DeltaTable as SparkDeltaTable
    from fabgen_runtime.engines.spark.schema import struct
    from fabgen_runtime.engines.spark.state_tables import rebuild_state_table
    from fabgen_runtime.errors import StateTableError
    from fabgen_runtime.state_model import LOG_COLUMNS, WATERMARK_COLUMNS

    project = project_for(tmp_path, spark, local_platform, "older_dv")
    store = delta_rs(project)
    paths = (store.log_path, store.watermark_path)
    for path, columns in zip(paths, (LOG_COLUMNS, WATERMARK_COLUMNS), strict=True):
        # as an older fabgen created them on Runtime 2.0: no properties, the runtime's DV default
        builder = SparkDeltaTable.createIfNotExists(spark).location(path).addColumns(struct(columns))
        builder.property("delta.enableDeletionVectors", "true").execute()
    project.replace_rows(1, 5)
    first = project.run_in_process(execution_id="spark-1")  # Spark: MERGEs over DV files
    assert entry(first)["status"] == "success", summary(first)
    assert exported_ids(project) == [1, 2, 3, 4, 5] and project.stored_watermark("inc") == "5"
    for path in paths:
        assert dv_files(path), path
        assert delta_detail(spark, path)[:3] == (3, 7, ["appendOnly", "deletionVectors", "invariants"])
    versions = {path: DeltaTable(path).version() for path in paths}

    with pytest.raises(StateTableError) as refused:  # the Python engine: before any read or commit
        store.read_watermarks([KEY])
    message = str(refused.value)
    assert (
        f"at {store.log_path} uses Delta reader 3 / writer 7 with deletionVectors" in message
    )  # checked first
    assert f'rebuild_state_table(spark, "{store.log_path}")' in message
    assert "DROP FEATURE deletionVectors TRUNCATE HISTORY" in message
    assert {p: DeltaTable(p).version() for p in paths} == versions  # nothing written

    run_ids = sorted(r["export_run_id"] for r in project.log_rows())
    for path in paths:
        backup = rebuild_state_table(spark, path)
        reader, writer, features, properties = delta_detail(spark, path)
        assert (reader, writer, features) == PINNED and properties["delta.enableDeletionVectors"] == "false"
        assert dv_files(path) == [] and dv_files(backup)
    assert sorted(r["export_run_id"] for r in project.log_rows()) == run_ids  # deleted rows stay deleted

    rebuilt = delta_rs(project)  # the Python engine now reads and writes them
    assert rebuilt.read_watermarks([KEY])[KEY]["watermark_value"] == "5"
    assert rebuilt.latest_states("spark-1")[KEY]["export_state"] == "success"
    record = ExportRunRecord("py-run-1", "py-exec-1", GROUP, "inc", "success", queued_at=now_utc())
    rebuilt.append_runs([record])
    project.add_rows(6, 8)
    second = project.run_in_process(execution_id="spark-2")  # and so does Spark
    assert entry(second)["status"] == "success", summary(second)
    assert exported_ids(project) == list(range(1, 9))
    assert rebuilt.read_watermarks([KEY])[KEY]["watermark_value"] == "8"
    assert "py-run-1" in {r["export_run_id"] for r in project.log_rows()}
