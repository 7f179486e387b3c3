"""One export run, start to finish, and what it reports.

The order is what makes it safe:

1. mark the run ``running``; look up the stored watermark (incremental) or run
   ``period_date_query`` (period);
2. build the plan (pure), read the source once (lakehouse tables pinned to a version);
3. write into staging (rows and ``max(incremental_column)`` counted in the same pass), publish
   (atomic moves, trigger file last);
4. log ``success`` (``warning`` when no rows were exported);
5. only THEN store the new watermark.

Any failure in 1-4 discards the staging folder, logs ``error`` with the error's message, and
leaves the watermark where it was, so the next run exports those rows again. A failure in 5
turns the logged state to ``error`` (the files are published, the watermark is not: the next
run re-exports the same rows; no row is ever skipped).

Zero rows: the writer publishes the files the config names with no data rows (a CSV holds just
its header), the state is ``warning`` ("0 rows exported"), and the watermark does not move.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from . import publish, sources, sql, writer
from .errors import FabgenError, StateError
from .plan import ExportPlan, RunContext, build_plan
from .state import ExportLogger, ExportRunRecord, now_utc

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from .config import ExportConfig
    from .platform import Platform

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportEvent:
    """Progress of one export: ``stage`` is started, planned, read, written, published, logged,
    watermark, finished (plus group_started, group_finished and skipped from the orchestrator)."""

    stage: str
    export: str  # group/name, or "" for group events
    execution_group: int | None = None
    export_run_id: str | None = None
    detail: str = ""
    result: ExportResult | None = None


EventHandler = Callable[[ExportEvent], None]


@dataclass
class ExportResult:
    """The outcome of one export run, as the orchestrator's result dict reports it."""

    export_group_name: str
    export_name: str
    status: str
    export_run_id: str | None = None
    execution_group: int | None = None
    rows_exported: int = 0
    files_created: int = 0
    total_bytes: int = 0
    file_paths: list[str] = field(default_factory=list)
    trigger_file_path: str | None = None
    error: str | None = None
    error_type: str | None = None
    duration: float = 0.0
    watermark: str | None = None
    source_version: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The spec's per-export result entry (plus run id, trigger path, watermark, version)."""
        return {
            "export_name": self.export_name,
            "export_group_name": self.export_group_name,
            "status": self.status,
            "rows_exported": self.rows_exported,
            "files_created": self.files_created,
            "total_bytes": self.total_bytes,
            "file_paths": list(self.file_paths),
            "error": self.error,
            "duration": round(self.duration, 3),
            "export_run_id": self.export_run_id,
            "execution_group": self.execution_group,
            "trigger_file_path": self.trigger_file_path,
            "error_type": self.error_type,
            "watermark": self.watermark,
            "source_version": self.source_version,
        }


def new_record(
    config: ExportConfig, context: RunContext, export_run_id: str, is_retry: bool
) -> ExportRunRecord:
    """The ``pending`` log row of one export run."""
    return ExportRunRecord(
        export_run_id=export_run_id,
        master_execution_id=context.execution_id,
        export_group_name=config.export_group_name,
        export_name=config.export_name,
        export_state="pending",
        source_type=config.source_type,
        source_workspace=config.source_workspace,
        source_datastore=config.source_datastore,
        file_format=config.file_format,
        compression=config.codec,
        execution_group=config.execution_group,
        extract_type=config.extract_type,
        is_retry=is_retry,
        run_date=context.run_date.date(),
        process_date=context.process_date.replace(tzinfo=ZoneInfo(context.timezone)),
        timezone=context.timezone,
        target_workspace=config.target_workspace,
        target_lakehouse=config.target_lakehouse,
        queued_at=now_utc(),
    )


def _column_type(df: DataFrame, column: str | None) -> str | None:
    if not column:
        return None
    for f in df.schema.fields:
        if f.name.lower() == column.lower():
            return f.dataType.simpleString()
    return None


def resolve_inputs(
    spark: SparkSession,
    config: ExportConfig,
    context: RunContext,
    logger: ExportLogger | None,
    platform: Platform,
) -> tuple[str | None, str | None, datetime | None, datetime | None]:
    """The watermark (and its column type) and the period dates one run of ``config`` starts from."""
    watermark = watermark_type = None
    start = end = None
    if config.extract_type == "incremental":
        stored = logger.get_watermark(config.export_group_name, config.export_name) if logger else None
        if stored is not None:
            if (
                stored.column
                and config.incremental_column
                and stored.column.lower() != config.incremental_column.lower()
            ):
                raise StateError(
                    f"the stored watermark {stored.value!r} is for column {stored.column!r} "
                    f"but incremental_column is now {config.incremental_column!r}: delete this export's row "
                    "from log_resource_export_watermark to start again from incremental_initial_watermark",
                    config.key,
                )
            watermark, watermark_type = stored.value, stored.type
        else:
            watermark = config.incremental_initial_watermark
    if config.extract_type == "period" and config.period_date_query:
        dialect = sql.default_dialect(config, platform)
        values = {"run_date": context.run_date, "process_date": context.process_date}
        query = sql.render_control_query(
            config.period_date_query, values, dialect, config.key, "period_date_query"
        )
        start, end = sources.get(config.source_type).period(spark, config, query, platform)
    return watermark, watermark_type, start, end


class ExportRun:
    """Runs one export and keeps its log row current."""

    def __init__(
        self,
        spark: SparkSession,
        config: ExportConfig,
        context: RunContext,
        logger: ExportLogger,
        record: ExportRunRecord,
        platform: Platform,
        on_event: EventHandler | None = None,
    ):
        self.spark, self.config, self.context = spark, config, context
        self.logger, self.record, self.platform = logger, record, platform
        self.on_event = on_event
        self.plan: ExportPlan | None = None

    def _event(self, stage: str, detail: str = "", result: ExportResult | None = None) -> None:
        if self.on_event is not None:
            self.on_event(
                ExportEvent(
                    stage,
                    self.config.key,
                    self.config.execution_group,
                    self.record.export_run_id,
                    detail,
                    result,
                )
            )

    def run(self) -> ExportResult:
        """Run the export; never raises for a failed export (the result and the log say error)."""
        started = time.monotonic()
        record = self.record
        result = ExportResult(
            self.config.export_group_name,
            self.config.export_name,
            "running",
            record.export_run_id,
            self.config.execution_group,
        )
        read = None
        try:
            record.export_state, record.started_at = "running", now_utc()
            self.logger.save(record, wait=False)  # progress only: the final state is awaited
            self._event("started")
            watermark, wtype, start, end = resolve_inputs(
                self.spark, self.config, self.context, self.logger, self.platform
            )
            self.plan = plan = build_plan(
                self.config,
                self.context,
                watermark,
                start,
                end,
                export_run_id=record.export_run_id,
                dialect=sql.default_dialect(self.config, self.platform),
                watermark_type=wtype,
            )
            self._describe(plan)
            self._event("planned", plan.source.query)
            read = sources.get(self.config.source_type).read(self.spark, plan, self.platform)
            record.source_version, record.source_query = read.version, plan.source.query
            self._event("read", read.version or "")
            staged = writer.write(read.df, plan, self.platform)
            self._event("written", f"{staged.rows} rows")
            published = publish.publish(staged, plan, self.platform)
            self._event("published", f"{published.files} file(s)")
            new_watermark = published.max_watermark if published.rows else None
            self._finish(
                result,
                published.rows,
                published.files,
                published.total_bytes,
                list(published.file_paths),
                published.trigger_path,
                new_watermark,
                started,
            )
            self.logger.save(record)
            self._event("logged", result.status)
        except Exception as exc:
            return self._fail(result, exc, started, read)
        if read is not None:
            read.close()
        if new_watermark is not None and self.config.incremental_column:
            try:
                self.logger.set_watermark(
                    self.config.export_group_name,
                    self.config.export_name,
                    self.config.incremental_column,
                    new_watermark,
                    record.export_run_id,
                    _column_type(read.df, self.config.incremental_column),
                    self.context.execution_id,
                )
                self._event("watermark", new_watermark)
            except Exception as exc:
                message = (
                    f"files were published but the watermark was not stored ({exc}); the next run "
                    "exports these rows again"
                )
                return self._fail(result, StateError(message, self.config.key), started, None, published=True)
        result.watermark = new_watermark
        result.duration = time.monotonic() - started
        self._event("finished", result.status, result)
        return result

    def _describe(self, plan: ExportPlan) -> None:
        record = self.record
        source = plan.source
        record.source_table = f"{source.schema}.{source.table}" if source.mode == "table" else None
        record.target_path = plan.output.directory
        record.watermark_value = plan.watermark
        record.period_start_date, record.period_end_date = plan.period_start, plan.period_end

    def _finish(
        self,
        result: ExportResult,
        rows: int,
        files: int,
        size: int,
        paths: list[str],
        trigger: str | None,
        new_watermark: str | None,
        started: float,
    ) -> None:
        record = self.record
        record.export_state = "success" if rows else "warning"
        record.error_message = (
            None if rows else "0 rows exported: files hold no data rows; watermark unchanged"
        )
        record.rows_exported, record.files_created, record.total_bytes = rows, files, size
        record.file_paths, record.trigger_file_path = paths, trigger
        record.new_watermark_value = new_watermark
        record.completed_at = now_utc()
        record.duration_ms = int((time.monotonic() - started) * 1000)
        result.status, result.error = record.export_state, record.error_message
        result.rows_exported, result.files_created, result.total_bytes = rows, files, size
        result.file_paths, result.trigger_file_path = paths, trigger
        result.source_version = record.source_version
        result.duration = time.monotonic() - started

    def _fail(
        self, result: ExportResult, exc: BaseException, started: float, read: Any, published: bool = False
    ) -> ExportResult:
        record = self.record
        message = str(exc) if isinstance(exc, FabgenError) else f"{type(exc).__name__}: {exc}"
        log.error("%s failed: %s", self.config.key, message, exc_info=not isinstance(exc, FabgenError))
        if self.plan is not None and not published:
            try:
                publish.discard(self.plan, self.platform)
            except FabgenError as cleanup:
                message += f" (and staging was not removed: {cleanup})"
        if read is not None:
            try:
                read.close()
            except Exception as cleanup:
                log.warning("%s: could not drop temporary views: %s", self.config.key, cleanup)
        record.export_state, record.error_message, record.error_type = "error", message, type(exc).__name__
        record.completed_at = now_utc()
        record.duration_ms = int((time.monotonic() - started) * 1000)
        if not published:
            record.rows_exported = record.files_created = record.total_bytes = None
            record.file_paths = record.trigger_file_path = record.new_watermark_value = None
        try:
            self.logger.save(record)
        except FabgenError as log_error:
            message += f" (and the log row could not be written: {log_error})"
        result.status, result.error, result.error_type = "error", message, type(exc).__name__
        result.duration = time.monotonic() - started
        if not published:
            result.rows_exported = result.files_created = result.total_bytes = 0
            result.file_paths, result.trigger_file_path = [], None
        self._event("finished", "error", result)
        return result
