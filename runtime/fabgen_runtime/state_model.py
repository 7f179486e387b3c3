"""The state tables' shape: columns, the run record, the watermark row, the config lakehouse.

See :mod:`fabgen_runtime.export_logger` for how they are written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from . import platform as platform_mod
from .errors import PlatformError

SCHEMA = "dbo"
LOG_TABLE = "log_resource_export"
WATERMARK_TABLE = "log_resource_export_watermark"
STATES = ("pending", "running", "success", "warning", "error")
UNFINISHED = ("pending", "running")

# Column name -> Spark SQL type. Spec columns first, then fabgen's extras.
LOG_COLUMNS: dict[str, str] = {
    "export_run_id": "string",
    "master_execution_id": "string",
    "export_group_name": "string",
    "export_name": "string",
    "export_state": "string",
    "source_type": "string",
    "source_workspace": "string",
    "source_datastore": "string",
    "source_table": "string",
    "target_path": "string",
    "file_format": "string",
    "compression": "string",
    "watermark_value": "string",
    "period_start_date": "timestamp",
    "period_end_date": "timestamp",
    "started_at": "timestamp",
    "completed_at": "timestamp",
    "duration_ms": "bigint",
    "rows_exported": "bigint",
    "files_created": "int",
    "total_bytes": "bigint",
    "file_paths": "array<string>",
    "trigger_file_path": "string",
    "error_message": "string",
    "updated_at": "timestamp",
    # extras
    "execution_group": "int",
    "extract_type": "string",
    "is_retry": "boolean",
    "run_date": "date",
    "process_date": "timestamp",
    "timezone": "string",
    "source_query": "string",
    "source_version": "string",
    "target_workspace": "string",
    "target_lakehouse": "string",
    "new_watermark_value": "string",
    "error_type": "string",
    "queued_at": "timestamp",
    "manifest_path": "string",
}

WATERMARK_COLUMNS: dict[str, str] = {
    "export_group_name": "string",
    "export_name": "string",
    "incremental_column": "string",
    "watermark_value": "string",
    "updated_at": "timestamp",
    "updated_by_run_id": "string",
    # extras
    "watermark_type": "string",
    "master_execution_id": "string",
    # the export's lease (one writer per export; see fabgen_runtime.engines.spark.leases)
    "lease_owner": "string",
    "lease_run_id": "string",
    "lease_execution_id": "string",
    "lease_host": "string",
    "lease_pid": "bigint",
    "lease_expires_at": "timestamp",
    # the exported schema of the last successful run (see fabgen_runtime.schema_drift)
    "exported_schema": "string",
}


@dataclass(frozen=True)
class LakehouseLocation:
    """A lakehouse by workspace and name."""

    workspace: str
    lakehouse: str

    @classmethod
    def of(cls, value: Any) -> LakehouseLocation:
        """Accept a mapping, an object with ``workspace``/``lakehouse``, ``"ws/lh"``, or ``"lh"`` (Fabric)."""
        if isinstance(value, LakehouseLocation):
            return value
        if isinstance(value, Mapping):
            ws = value.get("workspace") or value.get("workspace_name") or value.get("workspace_id")
            lh = value.get("lakehouse") or value.get("lakehouse_name") or value.get("lakehouse_id")
        elif isinstance(value, str):
            ws, _, lh = value.rpartition("/")
            if not ws and platform_mod.on_fabric():
                ws = platform_mod.fabric_context().get("currentWorkspaceName")
        else:
            ws, lh = getattr(value, "workspace", None), getattr(value, "lakehouse", None)
        if not ws or not lh:
            raise PlatformError(
                f"config_lakehouse {value!r} must name a workspace and a lakehouse: "
                '{"workspace": "...", "lakehouse": "..."} or "workspace/lakehouse"'
            )
        return cls(str(ws), str(lh))


def now_utc() -> datetime:
    """The current time as an aware UTC datetime (what the log tables store)."""
    return datetime.now(UTC)


def stamped(records: Iterable[ExportRunRecord]) -> list[ExportRunRecord]:
    """``records`` as a list, each with ``updated_at`` set to one common now (rows about to be written)."""
    listed = list(records)
    stamp = now_utc()
    for record in listed:
        record.updated_at = stamp
    return listed


def _utc(value: Any) -> Any:
    # Naive datetimes are wall-clock values: store them as that wall clock in UTC so every
    # session time zone setting of the driver process reads back the same text.
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass
class ExportRunRecord:
    """One row of ``log_resource_export`` (see :data:`LOG_COLUMNS`)."""

    export_run_id: str
    master_execution_id: str
    export_group_name: str
    export_name: str
    export_state: str = "pending"
    source_type: str | None = None
    source_workspace: str | None = None
    source_datastore: str | None = None
    source_table: str | None = None
    target_path: str | None = None
    file_format: str | None = None
    compression: str | None = None
    watermark_value: str | None = None
    period_start_date: datetime | None = None
    period_end_date: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_ms: int | None = None
    rows_exported: int | None = None
    files_created: int | None = None
    total_bytes: int | None = None
    file_paths: list[str] | None = None
    trigger_file_path: str | None = None
    error_message: str | None = None
    updated_at: datetime | None = None
    execution_group: int | None = None
    extract_type: str | None = None
    is_retry: bool | None = None
    run_date: date | None = None
    process_date: datetime | None = None
    timezone: str | None = None
    source_query: str | None = None
    source_version: str | None = None
    target_workspace: str | None = None
    target_lakehouse: str | None = None
    new_watermark_value: str | None = None
    error_type: str | None = None
    queued_at: datetime | None = None
    manifest_path: str | None = None

    def row(self) -> tuple[Any, ...]:
        """The record as a tuple in :data:`LOG_COLUMNS` order, ready for Spark."""
        values = dataclasses.asdict(self)
        return tuple(_utc(values[name]) for name in LOG_COLUMNS)


@dataclass(frozen=True)
class StoredWatermark:
    """The current watermark of one export."""

    value: str
    column: str | None
    type: str | None
    updated_at: datetime | None
    run_id: str | None
