"""``ExportLogger``: the export log and the watermark table of one config lakehouse, for both engines.

``Tables/dbo/log_resource_export`` holds one row per export run (``export_run_id``), moving
``pending -> running -> success | warning | error``; ``Tables/dbo/log_resource_export_watermark``
holds one row per export (``export_group_name``, ``export_name``): its watermark and its lease.
The state operations are written once, here and in :mod:`fabgen_runtime.protocol`, over the
:class:`~fabgen_runtime.protocol.tables.TableStore` port; an engine adapter gives the store and
the engine (:class:`fabgen_runtime.engines.StateBackend`):

* ``engine="spark"`` (the default, the spec's ``ExportLogger(config_lakehouse)``): Delta on Spark
  (:class:`fabgen_runtime.engines.spark.tables.SparkTables`), the exports run on Spark;
* ``engine="python"``: delta-rs (:class:`fabgen_runtime.engines.python.tables.DeltaRsTables`), the
  exports run on the Python engine, no JVM (:class:`fabgen_runtime.engines.python.state.PythonExportLogger`
  is this with the Python engine's options spelled out).

Both write the same tables with the same columns, so a Spark run and a Python run of one project
share their log, watermarks and leases, and exclude each other.

``config_lakehouse`` names the lakehouse holding these tables (and ``config_resource_export``):
a mapping ``{"workspace": ..., "lakehouse": ...}``, an object with ``workspace`` and
``lakehouse`` attributes (fabgen.yaml's ``config_lakehouse``), the text ``"workspace/lakehouse"``,
or, inside a Fabric notebook only, a bare lakehouse name in the notebook's workspace.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from . import platform as platform_mod
from .bookkeeping import stored_watermark
from .engines import state_backend
from .state_model import (
    LOG_TABLE,
    SCHEMA,
    WATERMARK_TABLE,
    ExportRunRecord,
    LakehouseLocation,
    StoredWatermark,
    stamped,
)

if TYPE_CHECKING:
    from .engines import Engine, StateBackend
    from .protocol.tables import Key, Row, TableStore
    from .status import StateReader


class ExportLogger:
    """The log and watermark tables of one config lakehouse, through one engine's ``TableStore``."""

    def __init__(
        self,
        config_lakehouse: Any,
        auto_create_tables: bool = True,
        spark: Any = None,
        platform: platform_mod.Platform | None = None,
        *,
        engine: str = "spark",
        **options: Any,
    ):
        """``spark``: the Spark engine's session (default: the platform's); ``options``: the
        engine's own (the Python engine's ``storage_options`` and ``file_store``)."""
        self.location = LakehouseLocation.of(config_lakehouse)
        self.platform = platform or platform_mod.current()
        if spark is not None:
            options["spark"] = spark
        self.backend: StateBackend = state_backend(engine, self.platform, **options)
        self.tables: TableStore = self.backend.tables(
            self.table_path(LOG_TABLE), self.table_path(WATERMARK_TABLE), auto_create_tables
        )

    @property
    def spark(self) -> Any:
        """The Spark engine's SparkSession (None on the Python engine)."""
        return self.backend.spark

    def engine(self, spark: Any = None) -> Engine:
        """The engine whose runs this logger records (Spark: on ``spark``, default the logger's)."""
        return self.backend.engine(spark)

    @property
    def commits(self) -> int:
        """Delta commits made to the state tables so far."""
        return self.tables.commits

    def table_path(self, table: str) -> str:
        """Location of one of the state tables."""
        return platform_mod.table_uri(
            self.platform, self.location.workspace, self.location.lakehouse, SCHEMA, table
        )

    @property
    def log_path(self) -> str:
        """Location of ``log_resource_export``."""
        return self.tables.log_path

    @property
    def watermark_path(self) -> str:
        """Location of ``log_resource_export_watermark``."""
        return self.tables.watermark_path

    def ensure_tables(self) -> None:
        """Create both tables when missing (``auto_create_tables``); add missing columns."""
        self.tables.ensure_tables()

    def add_rows(self, records: Iterable[ExportRunRecord]) -> None:
        """Append the rows of new runs (``export_run_id`` not in the table yet) in one commit, now
        (stamping ``updated_at``)."""
        if records := stamped(records):
            self.tables.append_runs(records)

    def commit_rows(self, records: Iterable[ExportRunRecord]) -> None:
        """Upsert run rows by ``export_run_id`` in ONE MERGE, now (stamping ``updated_at``)."""
        if records := stamped(records):
            self.tables.upsert_runs(records)

    def get_runs(self, export_run_ids: Iterable[str]) -> dict[str, ExportRunRecord]:
        """Run rows by id (absent ids are missing from the result)."""
        return self.tables.get_runs(export_run_ids)

    def get_run(self, export_run_id: str) -> ExportRunRecord | None:
        """One run row (None when absent)."""
        return self.get_runs([export_run_id]).get(export_run_id)

    def latest_states(self, execution_id: str) -> dict[Key, Row]:
        """For each export of ``execution_id``: its latest run row (by ``queued_at``, then ``updated_at``)."""
        return self.tables.latest_states(execution_id)

    def watermark_history(self, keys: Iterable[Key]) -> list[Row]:
        """Success/warning rows of ``keys`` that recorded a new watermark (one read; see
        :mod:`fabgen_runtime.watermark_guard`)."""
        return self.tables.watermark_history(keys)

    def get_watermark(self, export_group_name: str, export_name: str) -> StoredWatermark | None:
        """The stored watermark of one export, or None (no row; no table and ``auto_create_tables`` off)."""
        if not self.tables.exists(self.watermark_path):
            return None
        key = (export_group_name, export_name)
        return stored_watermark(self.tables.read_watermarks([key]).get(key))

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
        """Store one export's watermark by hand (one MERGE on group and name, no lease taken).

        A run stores its watermark as a compare-and-set under its lease; this is for repairs (the
        next run re-exports from ``value``). :mod:`fabgen_runtime.watermark_guard` leaves a value
        set by a run id the log does not know alone."""
        self.tables.set_watermark(
            (export_group_name, export_name), incremental_column, value, run_id, watermark_type, execution_id
        )

    def state_reader(self) -> StateReader:
        """Read-only views of the state tables for :mod:`fabgen_runtime.status`, run by this engine."""
        return self.tables.reader()
