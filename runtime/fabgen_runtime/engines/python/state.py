"""``PythonExportLogger``: the log and watermark tables written with delta-rs (no Spark).

The same two Delta tables of the config lakehouse as :class:`fabgen_runtime.engines.spark.state.ExportLogger`
(``Tables/dbo/log_resource_export`` and ``log_resource_export_watermark``, same columns), read and
written through :class:`.tables.DeltaRsTables`, so Spark and Python runs of one project share
their log, watermarks and leases. Handing one to :class:`fabgen_runtime.ExportOrchestrator` runs
the exports on the Python engine (:class:`.engine.PythonEngine`): no SparkSession is created.

On Fabric the tables are OneLake URIs read and written with a bearer token
(:class:`.onelake.FabricStorageOptions`, unless ``storage_options`` is given) and the engine's
files go through ``notebookutils.fs`` (:class:`.onelake.NotebookFileStore`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ... import platform as platform_mod
from ...bookkeeping import stored_watermark
from ...protocol.store import FileStore, LocalFileStore
from ...protocol.tables import Key, Row
from ...state_model import (
    LOG_TABLE,
    SCHEMA,
    WATERMARK_TABLE,
    ExportRunRecord,
    LakehouseLocation,
    StoredWatermark,
    stamped,
)
from .engine import PythonEngine
from .onelake import FabricStorageOptions, NotebookFileStore, StorageOptions
from .status import DeltaRsStateReader
from .tables import DeltaRsTables


class PythonExportLogger:
    """The log and watermark tables of one config lakehouse, through delta-rs."""

    #: no SparkSession: the Python engine runs without one (:class:`ExportLogger` has its session here)
    spark = None

    def __init__(
        self,
        config_lakehouse: Any,
        auto_create_tables: bool = True,
        platform: platform_mod.Platform | None = None,
        storage_options: StorageOptions = None,
        file_store: FileStore | None = None,
    ):
        self.location = LakehouseLocation.of(config_lakehouse)
        self.platform = platform or platform_mod.current()
        on_fabric = self.platform.name != "local"
        if storage_options is None and on_fabric:
            storage_options = FabricStorageOptions()
        self.storage_options = storage_options
        if file_store is None:  # ``file_store``: e.g. a read-only OneLake store (``fabgen status --env``)
            file_store = NotebookFileStore() if on_fabric else LocalFileStore()
        self.file_store: FileStore = file_store
        self.tables = DeltaRsTables(
            self.table_path(LOG_TABLE),
            self.table_path(WATERMARK_TABLE),
            storage_options=storage_options,
            auto_create_tables=auto_create_tables,
        )

    def engine(self, spark: Any = None) -> PythonEngine:
        """The engine whose runs this logger records (``spark`` is ignored: there is none)."""
        return PythonEngine(self.storage_options, self.file_store)

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
        return self.tables.log_path

    @property
    def watermark_path(self) -> str:
        return self.tables.watermark_path

    def ensure_tables(self) -> None:
        """Create both tables when missing (``auto_create_tables``); add missing columns."""
        self.tables.ensure_tables()

    def commit_rows(self, records: Iterable[ExportRunRecord]) -> None:
        """Upsert run rows by ``export_run_id`` in ONE MERGE, now (stamping ``updated_at``)."""
        if records := stamped(records):
            self.tables.upsert_runs(records)

    def add_rows(self, records: Iterable[ExportRunRecord]) -> None:
        """Append the rows of new runs (``export_run_id`` not in the table yet) in one commit, now
        (stamping ``updated_at``)."""
        if records := stamped(records):
            self.tables.append_runs(records)

    def flush(self) -> None:
        """Nothing is queued: every :meth:`commit_rows` commits at once."""

    def get_runs(self, export_run_ids: Iterable[str]) -> dict[str, ExportRunRecord]:
        """Run rows by id (absent ids are missing from the result)."""
        return self.tables.get_runs(export_run_ids)

    def get_run(self, export_run_id: str) -> ExportRunRecord | None:
        """One run row (None when absent)."""
        return self.get_runs([export_run_id]).get(export_run_id)

    def latest_states(self, execution_id: str) -> dict[Key, Row]:
        """For each export of ``execution_id``: its latest run row."""
        return self.tables.latest_states(execution_id)

    def watermark_history(self, keys: Iterable[Key]) -> list[Row]:
        """Success/warning rows of ``keys`` that recorded a new watermark (one read; see
        :mod:`fabgen_runtime.watermark_guard`)."""
        import pyarrow.dataset as ds

        wanted = set(keys)
        if not wanted:
            return []
        self.tables.ensure_tables()
        condition = (
            ds.field("export_state").isin(["success", "warning"]) & ~ds.field("new_watermark_value").is_null()
        )
        rows = self.tables.read(self.log_path, condition, LOG_TABLE)
        return [r for r in rows if (r["export_group_name"], r["export_name"]) in wanted]

    def state_reader(self) -> DeltaRsStateReader:
        """Read-only views of the state tables for :mod:`fabgen_runtime.status`, through delta-rs."""
        return DeltaRsStateReader(self.tables)

    def get_watermark(self, export_group_name: str, export_name: str) -> StoredWatermark | None:
        """The stored watermark of one export, or None (no row; no table and ``auto_create_tables`` off)."""
        if not self.tables.auto_create_tables and not self.tables.exists(self.watermark_path):
            return None
        key = (export_group_name, export_name)
        return stored_watermark(self.tables.read_watermarks([key]).get(key))
