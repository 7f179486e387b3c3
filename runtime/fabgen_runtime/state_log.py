"""The state-logger port: what the run protocol needs from an engine's log and watermark tables.

Two adapters implement it: :class:`fabgen_runtime.engines.spark.state.ExportLogger` (Delta on
Spark) and :class:`fabgen_runtime.engines.python.state.PythonExportLogger` (delta-rs, no JVM).
``export``, ``orchestrator``, ``bookkeeping``, ``inputs`` and ``status`` type their logger as
:class:`StateLogger` and reach the engine only through :meth:`StateLogger.engine`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .engines import Engine
    from .platform import Platform
    from .state_model import ExportRunRecord, StoredWatermark
    from .status import StateReader

Key = tuple[str, str]  # (export_group_name, export_name)


class StateLogger(Protocol):
    """The log table (``log_resource_export``) and the watermark table of one config lakehouse."""

    platform: Platform

    @property
    def log_path(self) -> str:
        """Location of ``log_resource_export``."""
        ...

    @property
    def watermark_path(self) -> str:
        """Location of ``log_resource_export_watermark``."""
        ...

    def engine(self, spark: Any = None) -> Engine:
        """The engine whose runs this logger records (Spark on ``spark``, or the Python engine)."""
        ...

    def add_rows(self, records: Iterable[ExportRunRecord]) -> None:
        """Append the rows of new runs in one commit."""
        ...

    def commit_rows(self, records: Iterable[ExportRunRecord]) -> None:
        """Upsert run rows by ``export_run_id`` in one commit."""
        ...

    def get_runs(self, export_run_ids: Iterable[str]) -> dict[str, ExportRunRecord]:
        """Run rows by id (absent ids are missing from the result)."""
        ...

    def latest_states(self, execution_id: str) -> dict[Key, dict[str, Any]]:
        """For each export of ``execution_id``: its latest run row."""
        ...

    def watermark_history(self, keys: Iterable[Key]) -> list[dict[str, Any]]:
        """Success/warning rows of ``keys`` that recorded a new watermark."""
        ...

    def get_watermark(self, export_group_name: str, export_name: str) -> StoredWatermark | None:
        """The stored watermark of one export, or None."""
        ...

    def state_reader(self) -> StateReader:
        """The read-only views of :mod:`fabgen_runtime.status`, executed by this engine."""
        ...
