"""The read-only views of the state tables (``fabgen status``/``history``/``plan``) without a JVM.

The ordering rules of :mod:`fabgen_runtime.status` as pure functions, then the delta-rs reader of a
:class:`PythonExportLogger` over real Delta tables written with delta-rs (state rows appended
through :class:`DeltaRsTables`, an older table written with fewer columns), and the one place the
generator picks the engine (``local_run.state_logger``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from fabgen_runtime import status
from fabgen_runtime.engines.python.state import PythonExportLogger
from fabgen_runtime.engines.python.status import DeltaRsStateReader
from fabgen_runtime.engines.python.tables import DeltaRsTables
from fabgen_runtime.platform import LocalPlatform
from fabgen_runtime.protocol.tables import LeaseClaim, LeaseTerms, WatermarkWrite, take_leases
from fabgen_runtime.state_model import ExportRunRecord

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2025, 12, 12, 1, 0, 0)
LAKEHOUSE = {"workspace": "WS", "lakehouse": "lh_config"}


def run(name: str, run_id: str, **fields: object) -> dict:
    return {"export_name": name, "export_run_id": run_id, **fields}


def test_newest_first_orders_by_queued_then_updated_then_started_with_nulls_last() -> None:
    rows = [
        run("a", "no-queue", queued_at=None, updated_at=T0 + timedelta(hours=9)),
        run("a", "older", queued_at=T0, updated_at=T0),
        run("a", "newer-update", queued_at=T0, updated_at=T0 + timedelta(minutes=1)),
        run("a", "newest", queued_at=T0 + timedelta(seconds=1), updated_at=None),
        run("a", "tie-started", queued_at=T0, updated_at=T0, started_at=T0),
    ]
    ordered = [r["export_run_id"] for r in status.newest_first(rows)]
    assert ordered == ["newest", "newer-update", "tie-started", "older", "no-queue"]


def test_select_runs_keeps_the_newest_row_of_each_export_and_limits() -> None:
    rows = [
        run("a", "a1", queued_at=T0),
        run("b", "b2", queued_at=T0 + timedelta(hours=2)),
        run("a", "a3", queued_at=T0 + timedelta(hours=3)),
        run("b", "b1", queued_at=T0 - timedelta(hours=1)),
    ]
    latest = status.select_runs(rows, latest_only=True, limit=None)
    assert [r["export_run_id"] for r in latest] == ["a3", "b2"]
    assert [r["export_run_id"] for r in status.select_runs(rows, False, 2)] == ["a3", "b2"]
    assert status.select_runs([], True, 5) == []


def test_shaped_gives_every_field_in_order_and_timestamps_as_naive_utc() -> None:
    sydney = timezone(timedelta(hours=11))
    row = {"export_name": "a", "queued_at": datetime(2025, 12, 12, 12, 0, tzinfo=sydney), "extra": 1}
    out = status.shaped(row, status.RUN_FIELDS)
    assert tuple(out) == status.RUN_FIELDS
    assert out["queued_at"] == datetime(2025, 12, 12, 1, 0) and out["queued_at"].tzinfo is None
    assert out["export_state"] is None and "extra" not in out
    assert status.naive_utc(date(2025, 1, 1)) == date(2025, 1, 1)


@pytest.fixture()
def logger(tmp_path: Path) -> PythonExportLogger:
    return PythonExportLogger(LAKEHOUSE, auto_create_tables=False, platform=LocalPlatform(str(tmp_path)))


def writer(tmp_path: Path) -> PythonExportLogger:
    return PythonExportLogger(LAKEHOUSE, auto_create_tables=True, platform=LocalPlatform(str(tmp_path)))


def record(run_id: str, name: str, state: str, queued: datetime, group: str = "g", **kw: object):
    return ExportRunRecord(run_id, "exec", group, name, state, queued_at=queued.replace(tzinfo=UTC), **kw)


def test_before_any_run_the_python_views_read_nothing_and_create_no_table(logger, tmp_path) -> None:
    assert status.tables_present(logger) == {
        "log_resource_export": False,
        "log_resource_export_watermark": False,
    }
    rows = status.group_status(logger, "g", ["b", "a"])
    assert [(r["export_name"], r["export_state"], r["stored_watermark_value"]) for r in rows] == [
        ("a", None, None),
        ("b", None, None),
    ]
    assert status.export_history(logger, "g", "a") == []
    assert logger.get_watermark("g", "a") is None  # plan: no watermark table yet, and none is made
    assert not any(tmp_path.rglob("_delta_log"))


def test_python_views_show_the_latest_run_per_export_the_stored_watermarks_and_history(
    logger, tmp_path
) -> None:
    state = writer(tmp_path)
    state.tables.append_runs(
        [
            record("a1", "a", "error", T0, error_message="boom"),
            record("a2", "a", "success", T0 + timedelta(hours=1), rows_exported=5, files_created=1),
            record("b1", "b", "success", T0, rows_exported=7, run_date=date(2025, 12, 12)),
            record("x1", "a", "success", T0 + timedelta(days=1), group="other"),
        ]
    )
    lease = _terms()
    take_leases(state.tables, [LeaseClaim(("g", "b"), "b1", "exec")], lease)
    stored = WatermarkWrite(("g", "b"), "42", None, "id", "bigint", "b1", "exec")
    assert state.tables.store([stored], lease, release=True) == 1
    take_leases(state.tables, [LeaseClaim(("g", "a"), "a2", "exec")], lease)  # a row without a value

    assert status.tables_present(logger) == {
        "log_resource_export": True,
        "log_resource_export_watermark": True,
    }
    rows = {r["export_name"]: r for r in status.group_status(logger, "g", ["a", "b", "c"])}
    assert sorted(rows) == ["a", "b", "c"]
    assert (rows["a"]["export_run_id"], rows["a"]["export_state"], rows["a"]["rows_exported"]) == (
        "a2",
        "success",
        5,
    )
    assert rows["a"]["queued_at"] == T0 + timedelta(hours=1)  # naive UTC, as Spark reads it
    assert (rows["b"]["run_date"], rows["b"]["stored_watermark_value"]) == (date(2025, 12, 12), "42")
    assert (rows["b"]["stored_watermark_type"], rows["b"]["stored_incremental_column"]) == ("bigint", "id")
    assert rows["c"]["export_state"] is None and rows["a"]["stored_watermark_value"] is None
    assert set(rows["a"]) == {*status.RUN_FIELDS, *(f"stored_{f}" for f in status.WATERMARK_FIELDS)}

    history = status.export_history(logger, "g", "a")
    assert [(r["export_run_id"], r["error_message"]) for r in history] == [("a2", None), ("a1", "boom")]
    assert [r["export_run_id"] for r in status.export_history(logger, "g", "a", limit=1)] == ["a2"]
    assert logger.get_watermark("g", "b").value == "42"


def _terms() -> LeaseTerms:
    now = datetime.now(UTC)
    return LeaseTerms("test-owner", now + timedelta(minutes=1), now)


def test_a_log_table_of_an_older_fabgen_reads_with_the_missing_columns_empty(logger) -> None:
    old = pa.table(
        {
            "export_run_id": ["r1"],
            "export_group_name": ["g"],
            "export_name": ["a"],
            "export_state": ["success"],
            "updated_at": pa.array([T0.replace(tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
        }
    )
    write_deltalake(logger.log_path, old)
    rows = status.group_status(logger, "g")
    assert [(r["export_name"], r["export_state"], r["queued_at"], r["rows_exported"]) for r in rows] == [
        ("a", "success", None, None)
    ]
    assert rows[0]["updated_at"] == T0
    assert DeltaTable(logger.log_path).version() == 0  # read only: no column added


def test_the_generator_picks_the_engine_once_and_starts_no_spark(monkeypatch) -> None:
    from fabgen.jvm_output import QuietLocalPlatform
    from fabgen.local_run import local_runtime, state_logger
    from fabgen.project import load_project
    from fabgen_runtime import ExportLogger
    from fabgen_runtime.engines.spark.status import SparkStateReader
    from fabgen_runtime.engines.spark.tables import SparkTables

    def no_spark(_self: object) -> None:
        raise AssertionError("a SparkSession was started")

    monkeypatch.setattr(QuietLocalPlatform, "spark", no_spark)
    project = load_project(REPO / "examples" / "sales")
    with local_runtime(project) as local:
        python, spark = state_logger(project, "sales_py", local), state_logger(project, "sales", local)
        assert isinstance(python, ExportLogger) and python.spark is None
        assert isinstance(python.tables, DeltaRsTables) and not python.tables.auto_create_tables
        assert isinstance(spark.tables, SparkTables) and not spark.tables.auto_create_tables
        assert python.log_path == spark.log_path and python.watermark_path == spark.watermark_path
        assert isinstance(python.state_reader(), DeltaRsStateReader)
        assert isinstance(spark.state_reader(), SparkStateReader)


def test_group_runs_reads_every_run_of_a_group_since_a_time_newest_first(logger, tmp_path) -> None:
    assert status.group_runs(logger, "g") == []  # no log table: no rows, and none is made
    state = writer(tmp_path)
    state.tables.append_runs(
        [
            record("old", "a", "success", T0 - timedelta(days=9), execution_group=1),
            record("a1", "a", "error", T0, execution_group=1, error_message="boom"),
            record("b1", "b", "success", T0 + timedelta(hours=1), execution_group=2),
            record("x1", "a", "success", T0, group="other"),
        ]
    )
    every = status.group_runs(logger, "g")
    assert [r["export_run_id"] for r in every] == ["b1", "a1", "old"]
    recent = status.group_runs(logger, "g", since=T0 - timedelta(days=7))
    assert [(r["export_run_id"], r["execution_group"]) for r in recent] == [("b1", 2), ("a1", 1)]
    assert status.is_since({"completed_at": T0.replace(tzinfo=UTC)}, T0)
    assert not status.is_since({"queued_at": None, "started_at": T0 - timedelta(seconds=1)}, T0)
