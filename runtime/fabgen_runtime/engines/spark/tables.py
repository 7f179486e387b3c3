"""The state tables with Delta on Spark: the :class:`~fabgen_runtime.protocol.tables.TableStore` adapter.

:class:`SparkTables` reads and writes ``log_resource_export`` (one row per run, keyed by
``export_run_id``) and ``log_resource_export_watermark`` (one row per export: watermark and lease)
with the SparkSession, the same tables and columns (:mod:`fabgen_runtime.state_model`) the
Python engine's :class:`fabgen_runtime.engines.python.tables.DeltaRsTables` writes, so either
engine reads and writes tables the other created. The lease operations are
:class:`.leases.SparkLeaseStore`'s; the read-only views for ``status`` are :class:`.status.SparkStateReader`.

Writers never lose updates: within a process one lock per table serialises the commits, and
Delta's optimistic-concurrency conflicts (another process or notebook committing at the same
time) are retried with exponential backoff. Commits run on a session of the same SparkContext
tuned for tiny tables (:attr:`SparkTables.writer_session`); the user's session is untouched.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from ...commits import EXPORT_KEY_MATCH, retry_conflicts, table_lock
from ...errors import StateError
from ...protocol.tables import Key, LeaseClaim, LeaseTerms, Row, WatermarkWrite
from ...state_model import (
    LOG_COLUMNS,
    LOG_TABLE,
    WATERMARK_COLUMNS,
    WATERMARK_TABLE,
    ExportRunRecord,
    now_utc,
)
from .leases import SparkLeaseStore
from .schema import struct
from .spark_errors import guarded
from .state_tables import TableSetup
from .status import SparkStateReader

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

T = TypeVar("T")

#: what :meth:`SparkTables.latest_states` reads of each run row
_LATEST_COLUMNS = (
    "export_group_name",
    "export_name",
    "export_state",
    "export_run_id",
    "run_date",
    "queued_at",
    "updated_at",
    "error_message",
)
#: what :meth:`SparkTables.watermark_history` reads of each run row
_HISTORY_COLUMNS = (
    "export_group_name",
    "export_name",
    "export_run_id",
    "master_execution_id",
    "new_watermark_value",
    "completed_at",
    "updated_at",
)


class SparkTables:
    """The two state tables at ``log_path`` and ``watermark_path``, read and written with Spark."""

    def __init__(
        self,
        log_path: str,
        watermark_path: str,
        session: Callable[[], SparkSession],
        auto_create_tables: bool = True,
    ):
        self.log_path = log_path
        self.watermark_path = watermark_path
        self.auto_create_tables = auto_create_tables
        #: how long to wait for a table another run is creating at the same moment
        self.create_wait_seconds = 60.0
        self._session = session
        self._writer: SparkSession | None = None
        self._ready: set[str] = set()
        self._ready_lock = threading.Lock()
        self._commits = 0
        self._commits_lock = threading.Lock()
        self._leases = SparkLeaseStore(self)

    # ------------------------------------------------------------------ sessions, commits
    @property
    def spark(self) -> SparkSession:
        """The SparkSession the tables are read with."""
        return self._session()

    @property
    def writer_session(self) -> SparkSession:
        """A session of the same SparkContext tuned for tiny commits (1 shuffle partition)."""
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

    @property
    def commits(self) -> int:
        """Delta commits made to the state tables (log and watermark) so far."""
        return self._commits

    def count_commit(self) -> None:
        """Count one commit to the state tables (see :attr:`commits`)."""
        with self._commits_lock:
            self._commits += 1

    def guard(self, action: Callable[[], T], what: str) -> T:
        """Run ``action``; a Spark/Delta failure becomes a :class:`StateError` saying ``what`` failed."""
        return guarded(action, what)

    def frame(self, rows: Iterable[tuple[Any, ...]], columns: Mapping[str, str]) -> DataFrame:
        """A DataFrame of ``rows`` with the schema ``columns`` (on the writer session)."""
        return self.writer_session.createDataFrame(list(rows), struct(columns))

    # ------------------------------------------------------------------ tables
    def ensure_tables(self) -> None:
        """Create both tables when they are missing (``auto_create_tables``); add missing columns."""
        for path, columns in ((self.log_path, LOG_COLUMNS), (self.watermark_path, WATERMARK_COLUMNS)):
            if not self._ensure(path, columns):
                raise StateError(f"{path} does not exist and auto_create_tables is False")

    def exists(self, path: str) -> bool:
        """Whether the Delta table at ``path`` exists (a read: nothing is created)."""
        with self._ready_lock:
            if path in self._ready:
                return True
        return TableSetup(self.spark, self.spark, 0).has_commit(path)

    def _ensure(self, path: str, columns: Mapping[str, str]) -> bool:
        with self._ready_lock:
            if path in self._ready:
                return True
        setup = TableSetup(self.spark, self.writer_session, self.create_wait_seconds)
        if not setup.ensure(path, columns, create=self.auto_create_tables):
            return False
        with self._ready_lock:
            self._ready.add(path)
        return True

    def reader(self) -> SparkStateReader:
        """Read-only views of the tables for :mod:`fabgen_runtime.status`."""
        return SparkStateReader(self)

    # ------------------------------------------------------------------ export runs
    def append_runs(self, records: Sequence[ExportRunRecord]) -> None:
        """Append new run rows in one commit: a blind append, a fraction of a MERGE's time on Spark."""
        if not records:
            return
        self.ensure_tables()
        path = self.log_path
        df = self.frame((r.row() for r in records), LOG_COLUMNS)
        with table_lock(path):
            self.guard(
                lambda: retry_conflicts(
                    lambda: df.write.format("delta").mode("append").save(path), "log append"
                ),
                f"writing {LOG_TABLE}",
            )
        self.count_commit()

    def upsert_runs(self, records: Sequence[ExportRunRecord]) -> None:
        """Upsert run rows by ``export_run_id`` in ONE MERGE (the last record of each id wins)."""
        if not records:
            return
        self.ensure_tables()
        latest = {record.export_run_id: record.row() for record in records}
        self.guard(lambda: self._merge_runs(list(latest.values())), f"writing {LOG_TABLE}")

    def _merge_runs(self, rows: list[tuple[Any, ...]]) -> None:
        from delta.tables import DeltaTable

        path = self.log_path
        df = self.frame(rows, LOG_COLUMNS)

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

    def get_runs(self, run_ids: Iterable[str]) -> dict[str, ExportRunRecord]:
        """Run rows by id (one read; absent ids are missing from the result)."""
        from pyspark.sql import functions as F

        ids = sorted(set(run_ids))
        if not ids or not self._ensure(self.log_path, LOG_COLUMNS):
            return {}
        rows = self.guard(
            lambda: self.runs().where(F.col("export_run_id").isin(ids)).collect(), f"reading {LOG_TABLE}"
        )
        fields = {f.name for f in dataclasses.fields(ExportRunRecord)}
        out = {}
        for row in rows:
            record = ExportRunRecord(**{k: v for k, v in row.asDict().items() if k in fields})
            out[record.export_run_id] = record
        return out

    def latest_states(self, execution_id: str) -> dict[Key, Row]:
        """Each export's latest run row of ``execution_id`` (by ``queued_at``, then ``updated_at``)."""
        if not self._ensure(self.log_path, LOG_COLUMNS):
            return {}
        rows = self.guard(
            lambda: self.runs(execution_id).select(*_LATEST_COLUMNS).collect(), f"reading {LOG_TABLE}"
        )
        latest: dict[Key, Row] = {}
        floor = datetime.min
        for row in rows:
            item = row.asDict()
            key = (item["export_group_name"], item["export_name"])
            order = (item["queued_at"] or floor, item["updated_at"] or floor)
            seen = latest.get(key)
            if seen is None or order >= (seen["queued_at"] or floor, seen["updated_at"] or floor):
                latest[key] = item
        return latest

    def watermark_history(self, keys: Iterable[Key]) -> list[Row]:
        """Success/warning rows of ``keys`` that recorded a new watermark (one read)."""
        from pyspark.sql import functions as F

        wanted = sorted(set(keys))
        if not wanted or not self._ensure(self.log_path, LOG_COLUMNS):
            return []
        names = F.struct("export_group_name", "export_name")
        chosen = [
            F.struct(F.lit(g).alias("export_group_name"), F.lit(n).alias("export_name")) for g, n in wanted
        ]
        published = (
            F.col("export_state").isin("success", "warning") & F.col("new_watermark_value").isNotNull()
        )
        rows = self.guard(
            lambda: (
                self.runs().where(published).where(names.isin(*chosen)).select(*_HISTORY_COLUMNS).collect()
            ),
            f"reading {LOG_TABLE}",
        )
        return [row.asDict() for row in rows]

    # ------------------------------------------------------------------ watermarks and leases
    def read_watermarks(self, keys: Iterable[Key]) -> dict[Key, Row]:
        """The watermark-table rows of ``keys`` (one read; none when there is no table)."""
        wanted = set(keys)
        if not wanted or not self._ensure(self.watermark_path, WATERMARK_COLUMNS):
            return {}
        return self._leases.read_watermarks(wanted)

    def take(self, claims: Sequence[LeaseClaim], terms: LeaseTerms) -> None:
        """ONE MERGE taking every claimed lease the shared take condition allows."""
        self._leases.take(claims, terms)

    def renew(self, terms: LeaseTerms) -> None:
        """Push the expiry of every lease ``terms.owner`` holds (one UPDATE)."""
        self._leases.renew(terms)

    def store(self, writes: Sequence[WatermarkWrite], terms: LeaseTerms, release: bool) -> int:
        """ONE MERGE: compare-and-set the watermarks, record schemas, release (see the port)."""
        return self._leases.store(writes, terms, release)

    def release(self, terms: LeaseTerms) -> None:
        """Free every lease ``terms.owner`` still holds (one UPDATE)."""
        self._leases.release(terms)

    def set_watermark(
        self,
        key: Key,
        incremental_column: str,
        value: str,
        run_id: str,
        watermark_type: str | None = None,
        execution_id: str | None = None,
    ) -> None:
        """Store one export's watermark unconditionally (MERGE on group and name), without a lease.

        For repairs by hand and tests: a run stores its watermark through :meth:`store`."""
        self.ensure_tables()
        path = self.watermark_path
        row = (*key, incremental_column, value, now_utc(), run_id, watermark_type, execution_id)
        columns = dict(list(WATERMARK_COLUMNS.items())[:8])
        df = self.frame([row], columns)

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
            self.guard(
                lambda: retry_conflicts(merge, f"watermark {key[0]}/{key[1]}"), f"writing {WATERMARK_TABLE}"
            )
        self.count_commit()
