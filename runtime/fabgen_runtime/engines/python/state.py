"""The Python engine's state backend: :class:`~fabgen_runtime.export_logger.ExportLogger` on delta-rs.

The same two Delta tables of the config lakehouse as on Spark (``Tables/dbo/log_resource_export``
and ``log_resource_export_watermark``, same columns), read and written through
:class:`.tables.DeltaRsTables`, so Spark and Python runs of one project share their log,
watermarks and leases. Handing such a logger to :class:`fabgen_runtime.ExportOrchestrator` runs
the exports on the Python engine (:class:`.engine.PythonEngine`): no SparkSession is created.

On Fabric the tables are OneLake URIs read and written with a bearer token
(:class:`.onelake.FabricStorageOptions`, unless ``storage_options`` is given) and the engine's
files go through ``notebookutils.fs`` (:class:`.onelake.NotebookFileStore`).
"""

from __future__ import annotations

from typing import Any

from ... import platform as platform_mod
from ...export_logger import ExportLogger
from ...protocol.store import FileStore, LocalFileStore
from .. import STATE_BACKENDS
from .engine import PythonEngine
from .onelake import FabricStorageOptions, NotebookFileStore, StorageOptions
from .tables import DeltaRsTables


class PythonStateBackend:
    """The state tables and the engine of Python groups: delta-rs and the engine's file store."""

    #: no SparkSession: the Python engine runs without one
    spark = None

    def __init__(
        self,
        platform: platform_mod.Platform,
        storage_options: StorageOptions = None,
        file_store: FileStore | None = None,
    ):
        on_fabric = platform.name != "local"
        if storage_options is None and on_fabric:
            storage_options = FabricStorageOptions()
        self.storage_options = storage_options
        if file_store is None:  # ``file_store``: e.g. a read-only OneLake store (``fabgen status --env``)
            file_store = NotebookFileStore() if on_fabric else LocalFileStore()
        self.file_store: FileStore = file_store

    def tables(self, log_path: str, watermark_path: str, auto_create_tables: bool) -> DeltaRsTables:
        return DeltaRsTables(
            log_path,
            watermark_path,
            storage_options=self.storage_options,
            auto_create_tables=auto_create_tables,
        )

    def engine(self, spark: Any = None) -> PythonEngine:
        """The Python engine (``spark`` is ignored: there is none)."""
        return PythonEngine(self.storage_options, self.file_store)


STATE_BACKENDS["python"] = PythonStateBackend


class PythonExportLogger(ExportLogger):
    """``ExportLogger(..., engine="python")`` with the Python engine's options as parameters."""

    def __init__(
        self,
        config_lakehouse: Any,
        auto_create_tables: bool = True,
        platform: platform_mod.Platform | None = None,
        storage_options: StorageOptions = None,
        file_store: FileStore | None = None,
    ):
        super().__init__(
            config_lakehouse,
            auto_create_tables,
            platform=platform,
            engine="python",
            storage_options=storage_options,
            file_store=file_store,
        )
