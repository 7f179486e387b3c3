"""State: the export log and the watermark table, Delta tables in the config lakehouse.

``Tables/dbo/log_resource_export`` holds one row per export run (``export_run_id``), moving
``pending -> running -> success | warning | error`` by MERGE (:meth:`ExportLogger.commit_rows`
upserts many rows in one commit). ``Tables/dbo/log_resource_export_watermark`` holds one row
per export (``export_group_name``, ``export_name``): its watermark and its lease, written by
:mod:`fabgen_runtime.engines.spark.leases`. :attr:`ExportLogger.commits` counts the commits to both tables.

Writers never lose updates: within a process one lock per table serialises the commits, and
Delta's optimistic-concurrency conflicts (another process or notebook committing at the same
time) are retried with exponential backoff.

``config_lakehouse`` names the lakehouse holding these tables (and ``config_resource_export``):
a mapping ``{"workspace": ..., "lakehouse": ...}``, an object with ``workspace`` and
``lakehouse`` attributes (fabgen.yaml's ``config_lakehouse``), the text ``"workspace/lakehouse"``,
or, inside a Fabric notebook only, a bare lakehouse name in the notebook's workspace.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from ... import platform as platform_mod
from ...commits import EXPORT_KEY_MATCH, MergeQueue, retry_conflicts, table_lock
from ...errors import StateError
from ...state_model import (
    LOG_COLUMNS,
    LOG_TABLE,
    SCHEMA,
    STATES,
    UNFINISHED,
    WATERMARK_COLUMNS,
    WATERMARK_TABLE,
    ExportRunRecord,
    LakehouseLocation,
    StoredWatermark,
    now_utc,
    stamped,
)
from .schema import struct
from .spark_errors import guarded
from .state_tables import TableSetup

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from .engine import SparkEngine
    from .status import SparkStateReader

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = [
    "LOG_COLUMNS",
    "LOG_TABLE",
    "SCHEMA",
    "STATES",
    "UNFINISHED",
    "WATERMARK_COLUMNS",
    "WATERMARK_TABLE",
    "ExportLogger",
    "ExportRunRecord",
    "LakehouseLocation",
    "StoredWatermark",
    "now_utc",
    "retry_conflicts",
    "struct",
]


class ExportLogger:
    """The log and watermark tables of one config lakehouse."""

    def __init__(
        self,
        config_lakehouse: Any,
        auto_create_tables: bool = True,
        spark: SparkSession | None = None,
        platform: platform_mod.Platform | None = None,
    ):
        self.location = LakehouseLocation.of(config_lakehouse)
        self.platform = platform or platform_mod.current()
        self._spark = spark
        self._writer: SparkSession | None = None
        self.auto_create_tables = auto_create_tables
        #: how long to wait for a table another run is creating at the same moment
        self.create_wait_seconds = 60.0
        self._ready: set[str] = set()
        self._ready_lock = threading.Lock()
        self._log_queue = MergeQueue(self._merge_runs)
        self._commits = 0
        self._commits_lock = threading.Lock()

    def engine(self, spark: SparkSession | None = None) -> SparkEngine:
        """The engine whose runs this logger records: Spark, on ``spark`` (default: the logger's)."""
        from .engine import SparkEngine

        return SparkEngine(spark or self.spark)

    def state_reader(self) -> SparkStateReader:
        """Read-only views of the state tables for :mod:`fabgen_runtime.status`, through Spark."""
        from .status import SparkStateReader

        return SparkStateReader(self)

    @property
    def commits(self) -> int:
        """Delta commits this logger made to the state tables (log and watermark) so far."""
        return self._commits

    def count_commit(self) -> None:
        """Count one commit to the state tables (see :attr:`commits`)."""
        with self._commits_lock:
            self._commits += 1

    @property
    def spark(self) -> SparkSession:
        """The SparkSession the tables are read and written with."""
        if self._spark is None:
            self._spark = self.platform.spark()
        return self._spark

    @property
    def writer_session(self) -> SparkSession:
        """A session of the same SparkContext tuned for tiny commits (1 shuffle partition).

        The log rows are a handful per commit; the user's session settings stay untouched.
        """
        with self._ready_lock:
            if self._writer is None:
                session = self.spark.newSession()
                session.conf.set("spark.sql.shuffle.partitions", "1")
                session.conf.set("spark.databricks.delta.merge.materializeSource", "none")
                # tiny tables: no per-file statistics to collect, no snapshot fan-out
                session.conf.set("spark.databricks.delta.stats.collect", "false")
                session.conf.set("spark.databricks.delta.snapshotPartitions", "1")
                self._writer = session
            return self._writer

    def table_path(self, table: str) -> str:
        """URI of one of the state tables."""
        return platform_mod.table_uri(
            self.platform, self.location.workspace, self.location.lakehouse, SCHEMA, table
        )

    @property
    def log_path(self) -> str:
        """URI of ``log_resource_export``."""
        return self.table_path(LOG_TABLE)

    @property
    def watermark_path(self) -> str:
        """URI of ``log_resource_export_watermark``."""
        return self.table_path(WATERMARK_TABLE)

    # ------------------------------------------------------------------ tables

    def ensure_tables(self) -> None:
        """Create both tables when they are missing (``auto_create_tables``); add missing columns."""
        for path, columns in ((self.log_path, LOG_COLUMNS), (self.watermark_path, WATERMARK_COLUMNS)):
            if not self._ensure(path, columns):
                raise StateError(f"{path} does not exist and auto_create_tables is False")

    def _ensure(self, path: str, columns: Mapping[str, str]) -> bool:
        """Whether the table at ``path`` exists, creating it first when allowed (checked once)."""
        with self._ready_lock:
            if path in self._ready:
                return True
        setup = TableSetup(self.spark, self.writer_session, self.create_wait_seconds)
        if not setup.ensure(path, columns, create=self.auto_create_tables):
            return False
        with self._ready_lock:
            self._ready.add(path)
        return True

    def guard(self, action: Callable[[], T], what: str) -> T:
        """Run ``action``; a Spark/Delta failure becomes a :class:`StateError` saying ``what`` failed."""
        return guarded(action, what)

    def frame(self, rows: Iterable[tuple[Any, ...]], columns: Mapping[str, str]) -> DataFrame:
        """A DataFrame of ``rows`` with the schema ``columns`` (on the writer session)."""
        return self.writer_session.createDataFrame(list(rows), struct(columns))

    _guard, _frame = guard, frame

    # ------------------------------------------------------------------ export runs

    def add_rows(self, records: Iterable[ExportRunRecord]) -> None:
        """Append the rows of new runs (``export_run_id`` not in the table yet) in one commit, now
        (stamping ``updated_at``): a blind append, a fraction of a MERGE's time on Spark."""
        records = stamped(records)
        if not records:
            return
        self.ensure_tables()
        self.flush()  # rows saved before are committed first
        path = self.log_path
        df = self._frame((r.row() for r in records), LOG_COLUMNS)
        with table_lock(path):
            self._guard(
                lambda: retry_conflicts(
                    lambda: df.write.format("delta").mode("append").save(path), "log append"
                ),
                f"writing {LOG_TABLE}",
            )
        self.count_commit()

    def commit_rows(self, records: Iterable[ExportRunRecord]) -> None:
        """Upsert run rows by ``export_run_id`` in ONE MERGE, now (stamping ``updated_at``)."""
        records = stamped(records)
        if not records:
            return
        self.ensure_tables()
        latest = {record.export_run_id: record.row() for record in records}
        self.flush()  # rows saved before are committed first (last state wins)
        self._guard(lambda: self._merge_runs(list(latest.values())), f"writing {LOG_TABLE}")

    def save(self, record: ExportRunRecord, wait: bool = True) -> None:
        """Upsert one run row by ``export_run_id`` (MERGE), stamping ``updated_at``.

        Rows saved while a MERGE is running are merged together in the next one (last state of
        each run wins), so parallel exports share commits. ``wait=False`` returns at once
        (progress states); the next waiting save, or :meth:`flush`, surfaces its failure.
        """
        self.ensure_tables()
        record.updated_at = now_utc()
        future = self._log_queue.submit(record.export_run_id, record.row())
        if wait:
            self._result(future)

    def flush(self) -> None:
        """Wait until every saved row is committed."""
        self._result(self._log_queue.submit(None, None))

    def _result(self, future: Future[None]) -> None:
        guarded(future.result, f"writing {LOG_TABLE}")

    def _merge_runs(self, rows: list[tuple[Any, ...]]) -> None:
        from delta.tables import DeltaTable

        path = self.log_path
        df = self._frame(rows, LOG_COLUMNS)

        def merge() -> None:
            (
                DeltaTable.forPath(self.writer_session, path)
                .alias("t")
                .merge(df.alias("s"), "t.export_run_id = s.export_run_id")
                .whenMatchedUpdateAll()
                .whenNotMatchedInsertAll()
                .execute()
            )

        with table_lock(path):
            retry_conflicts(merge, f"{LOG_TABLE} merge of {len(rows)} row(s)")
        self.count_commit()

    def runs(self, execution_id: str | None = None) -> DataFrame:
        """The log table (optionally one execution's rows) as a DataFrame."""
        from pyspark.sql import functions as F

        df = self.spark.read.format("delta").load(self.log_path)
        return df.where(F.col("master_execution_id") == F.lit(execution_id)) if execution_id else df

    def get_run(self, export_run_id: str) -> ExportRunRecord | None:
        """One run row as a record (None when absent)."""
        return self.get_runs([export_run_id]).get(export_run_id)

    def get_runs(self, export_run_ids: Iterable[str]) -> dict[str, ExportRunRecord]:
        """Run rows by id (one read; absent ids are missing from the result)."""
        from pyspark.sql import functions as F

        ids = sorted(set(export_run_ids))
        if not ids or not self._ensure(self.log_path, LOG_COLUMNS):
            return {}
        rows = self._guard(
            lambda: self.runs().where(F.col("export_run_id").isin(ids)).collect(), f"reading {LOG_TABLE}"
        )
        fields = {f.name for f in dataclasses.fields(ExportRunRecord)}
        out = {}
        for row in rows:
            record = ExportRunRecord(**{k: v for k, v in row.asDict().items() if k in fields})
            out[record.export_run_id] = record
        return out

    def latest_states(self, execution_id: str) -> dict[tuple[str, str], dict[str, Any]]:
        """For each export of ``execution_id``: its latest run row (by ``queued_at``, then ``updated_at``)."""
        if not self._ensure(self.log_path, LOG_COLUMNS):
            return {}
        columns = [
            "export_group_name",
            "export_name",
            "export_state",
            "export_run_id",
            "run_date",
            "queued_at",
            "updated_at",
            "error_message",
        ]
        rows = self._guard(lambda: self.runs(execution_id).select(*columns).collect(), f"reading {LOG_TABLE}")
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        floor = datetime.min
        for row in rows:
            item = row.asDict()
            key = (item["export_group_name"], item["export_name"])
            order = (item["queued_at"] or floor, item["updated_at"] or floor)
            seen = latest.get(key)
            if seen is None or order >= (seen["queued_at"] or floor, seen["updated_at"] or floor):
                latest[key] = item
        return latest

    # ------------------------------------------------------------------ watermarks

    def watermark_history(self, keys: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
        """Success/warning rows of ``keys`` that recorded a new watermark (one read; see
        :mod:`fabgen_runtime.watermark_guard`)."""
        from pyspark.sql import functions as F

        wanted = sorted(set(keys))
        if not wanted or not self._ensure(self.log_path, LOG_COLUMNS):
            return []
        columns = [
            "export_group_name",
            "export_name",
            "export_run_id",
            "master_execution_id",
            "new_watermark_value",
            "completed_at",
            "updated_at",
        ]
        names = F.struct("export_group_name", "export_name")
        chosen = [
            F.struct(F.lit(g).alias("export_group_name"), F.lit(n).alias("export_name")) for g, n in wanted
        ]
        rows = self._guard(
            lambda: (
                self.runs()
                .where(
                    F.col("export_state").isin("success", "warning")
                    & F.col("new_watermark_value").isNotNull()
                )
                .where(names.isin(*chosen))
                .select(*columns)
                .collect()
            ),
            f"reading {LOG_TABLE}",
        )
        return [row.asDict() for row in rows]

    def get_watermark(self, export_group_name: str, export_name: str) -> StoredWatermark | None:
        """The stored watermark of one export, or None (no table, no row)."""
        from pyspark.sql import functions as F

        if not self._ensure(self.watermark_path, WATERMARK_COLUMNS):
            return None

        def read() -> list[Any]:
            df = self.spark.read.format("delta").load(self.watermark_path)
            cond = (F.col("export_group_name") == F.lit(export_group_name)) & (
                F.col("export_name") == F.lit(export_name)
            )
            return df.where(cond).limit(1).collect()

        rows = self._guard(read, f"reading {WATERMARK_TABLE}")
        if not rows or rows[0]["watermark_value"] is None:
            return None
        row = rows[0]
        return StoredWatermark(
            row["watermark_value"],
            row["incremental_column"],
            row["watermark_type"],
            row["updated_at"],
            row["updated_by_run_id"],
        )

    def set_watermark(
        self,
        export_group_name: str,
        export_name: str,
        incremental_column: str,
        value: str,
        run_id: str,
        watermark_type: str | None = None,
        execution_id: str | None = None,
    ) -> None:
        """Store the current watermark of one export (MERGE on group and name)."""

        self.ensure_tables()
        path = self.watermark_path
        row = (
            export_group_name,
            export_name,
            incremental_column,
            value,
            now_utc(),
            run_id,
            watermark_type,
            execution_id,
        )
        columns = dict(list(WATERMARK_COLUMNS.items())[:8])
        df = self._frame([row], columns)

        def merge() -> None:
            from delta.tables import DeltaTable

            values: dict[str, str | Column] = {name: f"s.{name}" for name in columns}
            (
                DeltaTable.forPath(self.writer_session, path)
                .alias("t")
                .merge(df.alias("s"), EXPORT_KEY_MATCH)
                .whenMatchedUpdate(set=values)
                .whenNotMatchedInsert(values=values)
                .execute()
            )

        with table_lock(path):
            self._guard(
                lambda: retry_conflicts(merge, f"watermark {export_group_name}/{export_name}"),
                f"writing {WATERMARK_TABLE}",
            )
        self.count_commit()
