"""The run protocol's bookkeeping on Spark and Delta: recovery at start, coalesced completions.

:func:`recover_exports` runs before anything else, for the exports whose leases we hold: it
lists ``Files/_fabgen_staging/*`` of their target lakehouses and

* finishes (rolls forward) or rolls back every interrupted publish it finds
  (:func:`fabgen_runtime.protocol.publish.recover`);
* for a published journal, completes the bookkeeping from it: the run's final log row (upsert by
  ``export_run_id``), its watermark (compare-and-set against the value the run started from,
  or already this run's) and its exported schema -- the export is NOT exported again
  ("effectively once");
* deletes staging folders without a journal (runs that died before publishing: we hold the lease,
  so their owner is gone) and closes their log rows as ``error`` ("abandoned").

An export whose interrupted publish cannot be finished or fully rolled back (its staging cannot
be read, a move fails, a file it would restore is in the way) is *blocked*
(:attr:`Recovered.blocked`): its journal and staging are kept untouched (they may hold the files
it replaced) and the caller does not run it again until ``fabgen recover`` succeeds.

The log rows it produces go into the caller's first log commit; journals and staging are deleted
only after that commit (:meth:`Recovered.cleanup`), so a kill in between just repeats the work.

:class:`Completions` collects the final rows of a group's exports and commits them in one MERGE
(at group end, or every 30 s in a long group).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from . import failpoints
from . import platform as platform_mod
from .errors import FabgenError
from .protocol import publish as protocol
from .protocol.journal import Journal, list_staging
from .protocol.publish import STAGING_FOLDER
from .protocol.store import join
from .protocol.tables import Key, WatermarkWrite
from .state_model import UNFINISHED, ExportRunRecord, StoredWatermark, now_utc

if TYPE_CHECKING:
    from .config import ExportConfig
    from .export import ExportResult
    from .protocol.store import FileStore

log = logging.getLogger(__name__)
FLUSH_SECONDS = 30.0
SWEPT = "swept"  # a run whose staging held no journal and no moved file: never published


class StateLog(Protocol):
    """What bookkeeping needs of the log table (an ``ExportLogger``, on either engine)."""

    def commit_rows(self, records: Iterable[ExportRunRecord]) -> None: ...

    def add_rows(self, records: Iterable[ExportRunRecord]) -> None: ...

    def get_runs(self, export_run_ids: Iterable[str]) -> dict[str, ExportRunRecord]: ...


class LeaseTable(Protocol):
    """What bookkeeping needs of one call's leases (:class:`~fabgen_runtime.protocol.leasing.Leases`)."""

    held: set[Key]

    def store(self, writes: list[WatermarkWrite], release: bool = True) -> set[Key]: ...


@dataclass
class Recovered:
    """What recovery did: rows to commit, runs finished, lines to print, staging to delete after."""

    records: list[ExportRunRecord] = field(default_factory=list)
    completed: set[str] = field(default_factory=set)  # run ids completed as success/warning
    handled: set[str] = field(default_factory=set)  # every run id recovery wrote a row for
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    blocked: dict[str, str] = field(default_factory=dict)  # export key -> why recovery did not finish
    watermarks: bool = False  # a watermark was stored (re-read the table)
    staging: list[str] = field(default_factory=list)

    def block(self, export: str, problem: str, staging: str) -> None:
        """Record that ``export``'s interrupted run at ``staging`` could not be recovered: its
        staging is kept and the export is not run (see the module docstring)."""
        problem = f"{problem} (its staging is kept: {staging})"
        self.problems.append(f"{export}: {problem}")
        self.blocked.setdefault(export, problem)

    def refusal(self, export: str) -> str:
        """Why a blocked export is not run (its error message)."""
        return (
            f"{export}: not run: an interrupted publish of this export could not be recovered "
            f"({self.blocked[export]}); nothing was changed and the watermark is kept: fix the cause, "
            "then run fabgen recover"
        )

    def cleanup(self, fs: FileStore) -> None:
        """Delete the journals and staging folders whose bookkeeping is committed."""
        for uri in self.staging:
            protocol.finish(fs, uri)
        self.staging.clear()


def _record(journal: Journal) -> ExportRunRecord:
    return ExportRunRecord(**journal.log_row)


def recover_exports(
    logger: StateLog,
    leases: LeaseTable,
    configs: list[ExportConfig],
    platform: platform_mod.Platform,
    fs: FileStore,
) -> Recovered:
    """Recover the interrupted runs of ``configs`` (whose leases we hold); see the module docstring."""
    keys = {c.key for c in configs}
    outcome = Recovered()
    published: list[tuple[Journal, ExportRunRecord]] = []
    swept: dict[str, str] = {}  # run id -> why its row is closed (SWEPT, or the problem)
    for workspace, lakehouse in sorted({(c.target_workspace, c.target_lakehouse) for c in configs}):
        root = platform_mod.files_uri(platform, workspace, lakehouse)
        try:
            entries = list_staging(fs, join(root, STAGING_FOLDER))
        except (OSError, ValueError) as exc:
            problem = f"{workspace}/{lakehouse}: cannot read staging: {exc}"
            outcome.problems.append(problem)
            for c in configs:
                if (c.target_workspace, c.target_lakehouse) == (workspace, lakehouse):
                    outcome.blocked.setdefault(c.key, problem)
            continue
        for entry in entries:
            if entry.export not in keys:
                continue
            if entry.problem is not None:
                outcome.block(entry.export or "", f"run {entry.name}: {entry.problem}", entry.uri)
                continue
            try:
                moved = entry.marker.moved_files(fs) if entry.journal is None and entry.marker else []
                if moved:  # its journal is lost but files left staging: maybe a partial publish
                    problem = (
                        f"run {entry.name}: its journal is missing but {len(moved)} of its files left "
                        f"staging ({', '.join(moved[:3])}{', ...' if len(moved) > 3 else ''}): it may be "
                        "partly published, so it is not taken as unpublished; check those files, then "
                        "remove this staging folder"
                    )
                    outcome.block(entry.export or "", problem, entry.uri)
                    if entry.marker is not None:
                        swept[entry.marker.export_run_id] = f"error: {problem}; its staging is kept"
                    continue
                if entry.journal is None:
                    protocol.finish(fs, entry.uri)
                    if entry.marker is not None:
                        swept[entry.marker.export_run_id] = SWEPT
                    outcome.lines.append(
                        f"{entry.export}: removed staging of run {entry.name} (never published)"
                    )
                    continue
                done = protocol.recover(fs, entry.journal, root)
            except (OSError, ValueError) as exc:
                outcome.block(entry.export or "", f"run {entry.name}: recovery failed: {exc}", entry.uri)
                continue
            _recovered(outcome, done, published)
    _store_watermarks(leases, published, outcome)
    _close_swept(logger, swept, outcome)
    return outcome


def _recovered(
    outcome: Recovered, done: protocol.Recovery, published: list[tuple[Journal, ExportRunRecord]]
) -> None:
    journal, record = done.journal, _record(done.journal)
    outcome.handled.add(journal.export_run_id)
    if done.action == "back" and done.problems:  # the staging may hold replaced files: keep it
        problem = f"run {journal.export_run_id}: rollback incomplete: " + "; ".join(done.problems)
        outcome.block(journal.export, problem, journal.staging)
        return
    outcome.staging.append(journal.staging)
    if done.action == "back":
        record.export_state, record.error_type = "error", "Abandoned"
        record.error_message = (
            "abandoned: the process ended during its publish, which was rolled back (nothing published)"
        )
        record.file_paths = record.trigger_file_path = record.manifest_path = None
        record.rows_exported = record.files_created = record.total_bytes = None
        record.new_watermark_value = None
        record.completed_at = now_utc()
        outcome.records.append(record)
        outcome.lines.append(f"{journal.export}: run {journal.export_run_id} rolled back (nothing published)")
        return
    verb = "publish finished" if done.action == "forward" else "was published"
    outcome.lines.append(
        f"{journal.export}: run {journal.export_run_id} {verb} ({len(journal.files)} file(s), "
        f"{journal.rows} rows); bookkeeping completed"
    )
    published.append((journal, record))


def _store_watermarks(
    leases: LeaseTable, published: list[tuple[Journal, ExportRunRecord]], outcome: Recovered
) -> None:
    writes = [
        WatermarkWrite(
            tuple(j.export.split("/", 1)),  # type: ignore[arg-type]
            j.new_watermark,
            j.start_watermark,
            j.incremental_column,
            j.watermark_type,
            j.export_run_id,
            j.execution_id,
            j.exported_schema,
        )
        for j, _r in published
        if j.new_watermark is not None or j.exported_schema is not None
    ]
    stored = leases.store(writes, release=False) if writes else set()
    outcome.watermarks = bool(stored)
    for journal, record in published:
        key = tuple(journal.export.split("/", 1))
        outcome.handled.add(journal.export_run_id)
        if journal.new_watermark is not None and key not in stored:
            record.export_state, record.error_type = "error", "WatermarkNotStored"
            record.error_message = (
                f"abandoned after publishing {len(journal.files)} file(s) ({journal.rows} rows): the "
                f"watermark {journal.new_watermark!r} was not stored because the stored one is no longer "
                f"{journal.start_watermark!r} (another run moved it)"
            )
            outcome.problems.append(f"{journal.export}: run {journal.export_run_id}: watermark not stored")
        else:
            outcome.completed.add(journal.export_run_id)
        outcome.records.append(record)


def _close_swept(logger: StateLog, swept: dict[str, str], outcome: Recovered) -> None:
    if not swept:
        return
    for run_id, record in logger.get_runs(swept).items():
        was = record.export_state
        if was not in UNFINISHED:
            continue
        if swept[run_id] == SWEPT:
            record.export_state, record.error_type = "error", "Abandoned"
            record.error_message = (
                f"abandoned while {was} (the process ended before publishing; nothing was "
                "published and its staging was removed)"
            )
        else:  # its publish may be partial and cannot be recovered: closed, never re-run as unpublished
            record.export_state, record.error_type = "error", "RecoveryFailed"
            record.error_message = f"abandoned while {was}: {swept[run_id]}"
        record.completed_at = now_utc()
        outcome.records.append(record)
        outcome.handled.add(run_id)


class Completions:
    """Final log rows of a group's exports, committed together (at most every 30 s in long groups)."""

    def __init__(self, logger: StateLog, flush_seconds: float = FLUSH_SECONDS):
        self.logger = logger
        self.flush_seconds = flush_seconds
        self._pending: list[tuple[ExportRunRecord, str | None]] = []
        self._lock = threading.Lock()
        self._last = time.monotonic()

    def add(self, record: ExportRunRecord, published_name: str | None) -> None:
        """Queue a final row (``published_name``: the export's name when it published files)."""
        with self._lock:
            self._pending.append((record, published_name))
            due = time.monotonic() - self._last >= self.flush_seconds
        if due:
            self.flush()

    def flush(self) -> None:
        """Commit every queued row in one MERGE, then pass ``after_success_log`` for each."""
        with self._lock:
            batch, self._pending = self._pending, []
            self._last = time.monotonic()
            if not batch:
                return
            self.logger.commit_rows([r for r, _n in batch])
        for record, name in batch:
            if name is not None and record.export_state in ("success", "warning"):
                failpoints.reached("after_success_log", name)


def key_of(config: ExportConfig) -> Key:
    """(export_group_name, export_name)."""
    return (config.export_group_name, config.export_name)


def safe_cleanup(fs: FileStore, staging: str, export: str) -> str | None:
    """Remove a finished run's staging; the problem as text instead of an exception."""
    try:
        protocol.finish(fs, staging)
    except (OSError, FabgenError) as exc:
        return f"{export}: staging {staging} not removed: {exc}"
    return None


def stored_schema(row: Mapping[str, Any] | None) -> str | None:
    """The ``exported_schema`` recorded by the export's last successful run (None: none yet)."""
    return row.get("exported_schema") if row else None


def stored_watermark(row: Mapping[str, Any] | None) -> StoredWatermark | None:
    """The stored watermark of a watermark-table row (None: no row or no value)."""
    if not row or row.get("watermark_value") is None:
        return None
    return StoredWatermark(
        row["watermark_value"],
        row.get("incremental_column"),
        row.get("watermark_type"),
        row.get("updated_at"),
        row.get("updated_by_run_id"),
    )


def finish_group(
    logger: StateLog,
    leases: LeaseTable,
    configs: list[ExportConfig],
    results: list[ExportResult],
    fs: FileStore,
) -> None:
    """Group end: ONE MERGE stores the watermarks (compare-and-set) and releases the group's
    leases; then journals and staging of the published runs are removed.

    A watermark that could not be stored turns its export into an error (files stay published,
    the journal stays for recovery to report).
    """
    by_key = {(r.export_group_name, r.export_name): r for r in results}
    published = [r for r in results if r.journal is not None and r.status != "error"]
    writes = []
    for config in configs:
        key = key_of(config)
        result = by_key.get(key)
        if key not in leases.held or result is None:
            continue
        journal = result.journal if result.status != "error" else None
        writes.append(
            WatermarkWrite(
                key,
                journal.new_watermark if journal else None,
                journal.start_watermark if journal else None,
                journal.incremental_column if journal else None,
                journal.watermark_type if journal else None,
                result.export_run_id or "",
                journal.execution_id if journal else "",
                journal.exported_schema if journal else None,
            )
        )
    for result in published:
        failpoints.reached("before_watermark", result.export_name)
    failure = None
    try:
        stored = leases.store(writes)
    except FabgenError as exc:
        stored, failure = set(), str(exc)
    for result in published:
        failpoints.reached("after_watermark", result.export_name)
    failed = []
    for result in published:
        journal = result.journal
        assert journal is not None
        key = (result.export_group_name, result.export_name)
        if journal.new_watermark is not None and key not in stored:
            why = failure or (
                f"the stored watermark is no longer {journal.start_watermark!r} (another run moved it) or "
                "this run's lease lapsed"
            )
            message = (
                f"{journal.export}: files were published but the watermark {journal.new_watermark!r} was not "
                f"stored: {why}"
            )
            result.status, result.error, result.error_type = "error", message, "WatermarkNotStored"
            if result.record is not None:
                result.record.export_state, result.record.error_message = "error", message
                result.record.error_type = "WatermarkNotStored"
                failed.append(result.record)
            log.error("%s", message)
            continue
        problem = safe_cleanup(fs, journal.staging, journal.export)
        if problem:
            log.warning("%s", problem)
        result.journal = None
    if failed:
        logger.commit_rows(failed)
