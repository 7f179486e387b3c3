"""One export run, start to finish, and what it reports (the run protocol: ``docs/running.md``).

The order is what makes it safe:

1. the orchestrator has taken the export's lease, committed its row as ``running`` and read the
   stored watermark (one read per execution); the run writes ``<staging>/run.json`` (who owns
   the staging folder), builds the plan (pure) and reads the source once (lakehouse tables pinned
   to a version) -- failpoint ``after_read``;
2. it writes every output file into staging (rows, ``max(incremental_column)`` and SHA-256
   counted in the same pass) -- ``after_staging``;
3. it applies the no-destroy rules to the destinations, writes the journal (durable intent) and
   publishes through :mod:`fabgen_runtime.protocol.publish` (aside, renames, manifest, trigger
   last, journal ``published``);
4. the orchestrator completes the bookkeeping for the whole group at once: one log commit (rows
   ``success``/``warning``), one MERGE storing the watermarks (compare-and-set) and releasing the
   leases, then it removes the journals and staging.

Any failure in 1-3 discards the staging folder and the export's row becomes ``error``; the
watermark stays where it was, so the next run exports those rows again. The exception: a publish
whose rollback is incomplete (:class:`~fabgen_runtime.errors.RecoveryFailed`) keeps its journal
and staging, which may hold the files it replaced, for ``fabgen recover``. A kill anywhere leaves a
journal (after 3) or a marked staging folder (before): the next run, ``--retry`` or
``fabgen recover`` finishes or rolls back the publish and completes the bookkeeping.

Zero rows: the writer stages the files the config names with no data rows (a CSV holds just its
header); an earlier file of the same name that has data rows is kept (nothing replaces it); the
state is ``warning`` ("0 rows exported") and the watermark does not move.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from . import failpoints, publish, schema_drift, sql
from .engines import Engine, column_type, struct_string
from .errors import FabgenError, RecoveryFailed
from .inputs import resolve_inputs
from .plan import ExportPlan, RunContext, build_plan
from .protocol import publish as protocol
from .protocol.journal import Journal, write_marker
from .staged import StagedOutput, null_warning
from .state_model import ExportRunRecord, StoredWatermark, now_utc

if TYPE_CHECKING:
    from .config import ExportConfig
    from .export_logger import ExportLogger
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
    manifest_path: str | None = None
    record: ExportRunRecord | None = field(default=None, repr=False)  # the final log row
    journal: Journal | None = field(default=None, repr=False)  # published, bookkeeping pending

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
            "manifest_path": self.manifest_path,
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


class ExportRun:
    """Runs one export up to a published journal; the orchestrator completes its bookkeeping."""

    def __init__(
        self,
        engine: Engine,
        config: ExportConfig,
        context: RunContext,
        logger: ExportLogger,
        record: ExportRunRecord,
        platform: Platform,
        on_event: EventHandler | None = None,
        stored: StoredWatermark | bool | None = False,
        lease_ok: Callable[[], bool] | None = None,
        lease_owner: str | None = None,
        stored_schema: str | None = None,
        marked: bool = False,
    ):
        self.engine, self.config, self.context = engine, config, context
        self.stored_schema = stored_schema  # exported_schema of the last successful run
        self.warnings: list[str] = []  # schema drift (warn), NULL incremental values
        self.logger, self.record, self.platform = logger, record, platform
        self.on_event = on_event
        self.stored = stored
        self.lease_ok = lease_ok
        self.lease_owner = lease_owner
        self.marked = marked  # the orchestrator already wrote this run's staging marker (run.json)
        self.plan: ExportPlan | None = None
        self.fs = engine.fs
        self.columns: list[schema_drift.Column] = []

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

    def _failpoint(self, point: str) -> None:
        failpoints.reached(point, self.config.export_name)

    def run(self) -> ExportResult:
        """Run the export up to publishing; never raises for a failed export (the result says error)."""
        started = time.monotonic()
        record = self.record
        result = ExportResult(
            self.config.export_group_name,
            self.config.export_name,
            "running",
            record.export_run_id,
            self.config.execution_group,
            record=record,
        )
        read = None
        try:
            if record.started_at is None:
                record.export_state, record.started_at = "running", now_utc()
            self._event("started")
            watermark, wtype, start, end = resolve_inputs(
                self.engine, self.config, self.context, self.logger, self.platform, self.stored
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
            if not self.marked:
                write_marker(
                    self.fs,
                    publish.staging_uri(plan, self.platform),
                    self.config.key,
                    record.export_run_id,
                    self.context.execution_id,
                    self.lease_owner,
                )
            read = self.engine.read(plan, self.platform)
            record.source_version, record.source_query = read.version, plan.source.query
            self._event("read", read.version or "")
            self.columns = self.engine.columns(read)
            self._check_schema()
            self._failpoint("after_read")
            staged = self.engine.write(read, plan, self.platform)
            self._failpoint("after_staging")
            self._event("written", f"{staged.rows} rows")
            journal = self._journal(plan, staged, started)
            if self.lease_ok is not None and not self.lease_ok():
                from .errors import LeaseHeld

                raise LeaseHeld(
                    "this run's lease lapsed before publishing: nothing was published", self.config.key
                )
            journal = protocol.publish(
                self.fs, journal, publish.files_root(plan, self.platform), self._failpoint
            )
        except Exception as exc:
            return self._fail(result, exc, started, read)
        try:
            self._event("published", f"{len(journal.files)} file(s)")
        except Exception as exc:
            return self._fail_published(result, exc, journal, started, read)
        if read is not None:
            read.close()
        self._result(result, journal, started)
        self._event("finished", result.status, result)
        return result

    def _journal(self, plan: ExportPlan, staged: StagedOutput, started: float) -> Journal:
        """The publish intent (see :func:`publish.build_journal`) carrying the final log row."""
        config, record = self.config, self.record
        stored = self.stored if isinstance(self.stored, StoredWatermark) else None
        journal = publish.build_journal(
            staged,
            plan,
            self.platform,
            self.fs,
            start_watermark=stored.value if stored else None,
            watermark_type=column_type(self.columns, config.incremental_column),
            schema=struct_string(self.columns),
            exported_schema=schema_drift.dumps(self.columns),
        )
        warnings = self.warnings + null_warning(staged.null_watermark_rows, plan)
        record.export_state = "success" if staged.rows and not warnings else "warning"
        record.error_message = "; ".join(warnings) or None
        if not staged.rows:
            record.error_message = "0 rows exported: files hold no data rows; watermark unchanged"
            if journal.kept:
                names = ", ".join(k.rsplit("/", 1)[-1] for k in journal.kept)
                record.error_message = (
                    f"0 rows exported: the earlier file(s) {names} (with data rows) kept, nothing "
                    "published; watermark unchanged"
                )
            record.error_message = "; ".join([record.error_message, *warnings])
        record.rows_exported = staged.rows
        record.files_created = len(journal.files)
        record.total_bytes = sum(f.size for f in journal.files)
        record.file_paths = [f.destination for f in journal.files]
        record.trigger_file_path = journal.trigger if journal.files else None
        record.new_watermark_value = staged.max_watermark if staged.rows else None
        record.manifest_path = journal.manifest_path
        record.completed_at = now_utc()
        record.duration_ms = int((time.monotonic() - started) * 1000)
        journal.log_row = dataclasses.asdict(record)
        return journal

    def _check_schema(self) -> None:
        """The schema-drift guard (:mod:`fabgen_runtime.schema_drift`), before anything is written."""
        stored = self.stored if isinstance(self.stored, StoredWatermark) else None
        warning = schema_drift.check(
            self.config, self.stored_schema, self.columns, stored.type if stored else None
        )
        if warning:
            log.warning("%s: %s", self.config.key, warning)
            self.warnings.append(warning)

    def _result(self, result: ExportResult, journal: Journal, started: float) -> None:
        record = self.record
        result.status, result.error = record.export_state, record.error_message
        result.rows_exported = record.rows_exported or 0
        result.files_created = record.files_created or 0
        result.total_bytes = record.total_bytes or 0
        result.file_paths = list(record.file_paths or [])
        result.trigger_file_path = record.trigger_file_path
        result.source_version = record.source_version
        result.watermark = record.new_watermark_value
        result.manifest_path = record.manifest_path
        result.journal = journal
        result.duration = time.monotonic() - started

    def _describe(self, plan: ExportPlan) -> None:
        record = self.record
        source = plan.source
        record.source_table = f"{source.schema}.{source.table}" if source.mode == "table" else None
        record.target_path = plan.output.directory
        record.watermark_value = plan.watermark
        record.period_start_date, record.period_end_date = plan.period_start, plan.period_end

    def _fail(self, result: ExportResult, exc: BaseException, started: float, read: Any) -> ExportResult:
        record = self.record
        message = str(exc) if isinstance(exc, FabgenError) else f"{type(exc).__name__}: {exc}"
        log.error("%s failed: %s", self.config.key, message, exc_info=not isinstance(exc, FabgenError))
        if isinstance(exc, RecoveryFailed):  # the staging may hold the files it replaced
            message += "; its journal and staging are kept: fix the cause, then run fabgen recover"
        elif self.plan is not None:
            try:
                publish.discard(self.plan, self.platform, self.fs)
            except FabgenError as cleanup:
                message += f" (and staging was not removed: {cleanup})"
        elif self.marked:  # failed before its plan: remove the staging folder the orchestrator made
            c = self.config
            staging = publish.run_staging_uri(
                c.target_workspace, c.target_lakehouse, record.export_run_id, self.platform
            )
            try:
                protocol.finish(self.fs, staging)
            except OSError as cleanup:
                message += f" (and staging {staging} was not removed: {cleanup})"
        if read is not None:
            try:
                read.close()
            except Exception as cleanup:
                log.warning("%s: could not drop temporary views: %s", self.config.key, cleanup)
        fail_record(record, message, type(exc).__name__, started)
        result.status, result.error, result.error_type = "error", message, type(exc).__name__
        result.duration = time.monotonic() - started
        result.rows_exported = result.files_created = result.total_bytes = 0
        result.file_paths, result.trigger_file_path = [], None
        self._event("finished", "error", result)
        return result

    def _fail_published(
        self, result: ExportResult, exc: BaseException, journal: Journal, started: float, read: Any
    ) -> ExportResult:
        """A failure after the file set is published: the journal stays for recovery to complete."""
        self._result(result, journal, started)
        if read is not None:
            read.close()
        message = (
            f"{self.config.key}: files were published but the run failed before its bookkeeping "
            f"({type(exc).__name__}: {exc}); the journal is kept: the next run, --retry or fabgen recover "
            "completes it (log row, watermark) without exporting again"
        )
        log.error("%s", message)
        record = self.record
        record.export_state, record.error_message, record.error_type = "error", message, type(exc).__name__
        result.status, result.error, result.error_type = "error", message, type(exc).__name__
        self._event("finished", "error", result)
        return result


def fail_record(record: ExportRunRecord, message: str, error_type: str, started: float | None = None) -> None:
    """Turn a run row into a final ``error`` row with nothing published."""
    record.export_state, record.error_message, record.error_type = "error", message, error_type
    record.completed_at = now_utc()
    if started is not None:
        record.duration_ms = int((time.monotonic() - started) * 1000)
    record.rows_exported = record.files_created = record.total_bytes = None
    record.file_paths = record.trigger_file_path = record.new_watermark_value = None
    record.manifest_path = None
