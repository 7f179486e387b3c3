"""Execution groups, concurrency and retry: :class:`ExportOrchestrator`.

``process_exports`` runs execution groups in ascending order. Within a group, up to
``max_concurrency`` exports run at once on threads, each in its own Spark FAIR scheduler pool
(``spark.scheduler.pool`` = ``fabgen_<slot>``), so one large export does not starve the others.
One export's failure never stops its siblings. When any export of a group fails, later groups
do not start (groups express dependencies, as the rendered pipeline's "Succeeded" links do);
their exports stay ``pending`` in the log and are reported as ``skipped``, so a retry of the same
execution runs them. Pass ``stop_on_group_failure=False`` to run later groups anyway.

The run protocol (``docs/running.md``) sets the order of a call:

1. ONE conditional MERGE takes the leases of every export of the call (one writer per export),
   ONE read gives which we hold and every stored watermark; exports whose lease another live run
   holds fail with :class:`~fabgen_runtime.errors.LeaseHeld` and are not run;
2. interrupted publishes of the leased exports are finished or rolled back and their bookkeeping
   completed (:func:`~fabgen_runtime.bookkeeping.recover_exports`) before anything runs; an export
   whose recovery cannot finish fails with ``RecoveryFailed`` and is not run (a retry includes it);
3. ONE log commit: the first group's rows ``running``, later groups' ``pending``, plus recovered
   and abandoned rows; a lease heartbeat renews our leases every TTL/3;
4. per group: the exports run and publish; their final rows are committed in ONE MERGE
   (:class:`~fabgen_runtime.bookkeeping.Completions`), then ONE MERGE stores the watermarks
   (compare-and-set) and releases the group's leases; then journals and staging are deleted.

So a group costs at most 4 commits to the state tables whatever its size (later groups: 3).
``run_date`` defaults to today in ``timezone``; ``process_date`` is taken once per call.

Retry (``is_retry=True``, same ``execution_id``) first recovers, then re-runs only the exports
whose latest run in that execution is ``error``, ``pending`` (never started) or ``running`` (the
process died) and was not completed by recovery, with the original run's ``run_date`` unless one
is given (:func:`retry_run_date`: a retry never uses today in its place). Runs left
``pending``/``running`` are closed as ``error`` ("abandoned"). An execution with no log rows at
all never started (or was killed before its first log commit): its retry runs everything, and
needs the run date given.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from . import failpoints
from . import platform as platform_mod
from .bookkeeping import (
    Completions,
    Recovered,
    finish_group,
    key_of,
    recover_exports,
    stored_schema,
    stored_watermark,
)
from .config import ExportConfig
from .configs import as_configs
from .export import EventHandler, ExportEvent, ExportResult, ExportRun, fail_record, new_record
from .plan import RunContext
from .protocol import lease as lease_rules
from .protocol.journal import write_marker
from .protocol.leasing import Leases
from .publish import run_staging_uri
from .scheduling import retry_run_date, schedule, select_for_retry, summarize
from .state_model import UNFINISHED, ExportRunRecord, now_utc
from .watermark_guard import repair_lost_watermarks

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from .engines import Engine
    from .export_logger import ExportLogger

log = logging.getLogger(__name__)


class ExportOrchestrator:
    """Runs export configs group by group, in parallel within a group, and logs every run."""

    def __init__(
        self,
        spark: SparkSession | None = None,
        export_logger: ExportLogger | None = None,
        max_concurrency: int = 4,
        platform: platform_mod.Platform | None = None,
        on_event: EventHandler | None = None,
    ):
        """``export_logger`` picks the engine: an :class:`~fabgen_runtime.export_logger.ExportLogger`
        on Spark (the default) runs the exports on Spark (``spark``, default the logger's session);
        one on the Python engine (``engine="python"``, or
        :class:`~fabgen_runtime.engines.python.state.PythonExportLogger`) runs them without a
        SparkSession."""
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be 1 or more")
        if export_logger is None:
            raise ValueError("export_logger is required (ExportLogger(config_lakehouse))")
        self.platform = platform or export_logger.platform
        self.logger = export_logger
        self.engine: Engine = export_logger.engine(spark)
        self.max_concurrency = max_concurrency
        self._marked: set[str] = set()  # export_run_ids whose staging marker the orchestrator wrote
        self.on_event = on_event
        self.last_recovery: Recovered | None = None

    def _event(
        self,
        stage: str,
        execution_group: int | None = None,
        detail: str = "",
        export: str = "",
        result: ExportResult | None = None,
    ) -> None:
        if self.on_event is not None:
            self.on_event(ExportEvent(stage, export, execution_group, None, detail, result))

    def recover(self, configs: Iterable[ExportConfig | Mapping[str, Any]]) -> Recovered:
        """Finish or roll back the interrupted publishes of ``configs`` and complete their
        bookkeeping; run nothing else (``fabgen recover``). Exports whose lease another live run
        holds are reported in ``problems``."""
        configs = as_configs(configs)
        leases = Leases(self.logger.tables)
        runs = {key_of(c): ("recover", "recover") for c in configs}
        try:
            _rows, refused = leases.acquire(runs)
            held = [c for c in configs if key_of(c) in leases.held]
            recovered = recover_exports(self.logger, leases, held, self.platform, self.engine.fs)
            for c in configs:
                if key_of(c) in refused:
                    recovered.problems.append(f"{c.key}: {lease_rules.refusal(c.key, refused[key_of(c)])}")
            self.logger.commit_rows(recovered.records)
            recovered.cleanup(self.engine.fs)
            return recovered
        finally:
            leases.release()

    def retry_run_date(self, execution_id: str) -> str:
        """The run date a retry of ``execution_id`` would use (see :func:`retry_run_date`); one log read."""
        return retry_run_date(execution_id, self.logger.latest_states(execution_id))

    def process_exports(
        self,
        configs: Iterable[ExportConfig | Mapping[str, Any]],
        execution_id: str | None = None,
        run_date: Any = None,
        timezone: str = "UTC",
        is_retry: bool = False,
        execution_group: int | None = None,
        stop_on_group_failure: bool = True,
    ) -> dict[str, Any]:
        """Run ``configs`` and return the result dict (see :func:`summarize`)."""
        configs = as_configs(configs)
        execution_id = execution_id or str(uuid.uuid4())
        latest = self.logger.latest_states(execution_id) if is_retry else {}
        if is_retry and run_date in (None, ""):
            run_date = retry_run_date(execution_id, latest)
        context = RunContext.create(run_date, timezone, execution_id)
        candidates = [c for _g, group in schedule(configs, execution_group) for c in group]
        run_ids = {c.key: str(uuid.uuid4()) for c in candidates}
        leases = Leases(self.logger.tables)
        try:
            rows, refused = leases.acquire({key_of(c): (run_ids[c.key], execution_id) for c in candidates})
            failpoints.reached("after_lease")
            leases.start_heartbeat()
            held = [c for c in candidates if key_of(c) in leases.held]
            recovered = recover_exports(self.logger, leases, held, self.platform, self.engine.fs)
            self.last_recovery = recovered
            for line in recovered.lines:
                log.info("recovery: %s", line)
            for problem in recovered.problems:  # exports it names are not run (recovered.blocked)
                log.error("recovery: %s", problem)
            runnable = [c for c in held if c.key not in recovered.blocked]
            repairs = repair_lost_watermarks(self.logger, leases, runnable, rows)
            recovered.lines += repairs  # printed by the CLI; logged as warnings
            if recovered.watermarks or repairs:
                rows = leases.read(key_of(c) for c in held)
            selected = candidates
            if is_retry:
                retried = select_for_retry(candidates, latest, recovered.completed)
                selected = [c for c in candidates if c in retried or c.key in recovered.blocked]
            plan = schedule(selected, execution_group)
            records = {c.key: new_record(c, context, run_ids[c.key], is_retry) for c in selected}
            first = [records[c.key] for c in plan[0][1]] if plan else []
            now = now_utc()
            for record in first:
                record.export_state, record.started_at = "running", now
            reasons = {
                c.key: (f"{c.key}: {lease_rules.refusal(c.key, refused[key_of(c)])}", "LeaseHeld")
                for c in selected
                if key_of(c) in refused
            }
            for c in selected:
                if c.key in recovered.blocked and c.key not in reasons:
                    reasons[c.key] = (recovered.refusal(c.key), "RecoveryFailed")
            refusals = self._refuse(selected, reasons, records)
            mine = [c for c in selected if c.key not in reasons]  # rows of a live holder / blocked stay open
            closures = self._abandon(mine, latest, recovered.handled) if is_retry else []
            updated = recovered.records + closures
            if plan:
                self._mark(
                    [c for c in plan[0][1] if c.key not in reasons], records, execution_id, leases.owner
                )
            if updated:  # rows of earlier runs change: one MERGE of those and the new ones
                self.logger.commit_rows(updated + list(records.values()))
            else:  # only new runs (fresh export_run_ids): one append
                self.logger.add_rows(records.values())
            failpoints.reached("after_log")
            recovered.cleanup(self.engine.fs)
            leases.release({key_of(c) for c in candidates} - {key_of(c) for c in selected})
            log.info(
                "execution %s: %d export(s) in %d group(s), run_date %s",
                execution_id,
                len(records),
                len(plan),
                context.run_date.date(),
            )
            results = self._run_groups(plan, context, records, rows, leases, refusals, stop_on_group_failure)
        finally:
            leases.stop_heartbeat()
            leases.release()
        return summarize(results)

    def _refuse(
        self,
        selected: list[ExportConfig],
        reasons: Mapping[str, tuple[str, str]],
        records: dict[str, ExportRunRecord],
    ) -> dict[str, ExportResult]:
        """Error rows and results of the exports not run (``reasons``: key -> (message, error type)):
        another live run holds the lease, or recovery of an interrupted publish did not finish."""
        out = {}
        for c in selected:
            if c.key not in reasons:
                continue
            message, error_type = reasons[c.key]
            fail_record(records[c.key], message, error_type)
            out[c.key] = ExportResult(
                c.export_group_name,
                c.export_name,
                "error",
                records[c.key].export_run_id,
                c.execution_group,
                error=message,
                error_type=error_type,
                record=records[c.key],
            )
            log.error("%s", message)
        return out

    def _run_groups(
        self,
        plan: list[tuple[int, list[ExportConfig]]],
        context: RunContext,
        records: dict[str, ExportRunRecord],
        rows: Mapping[Any, Mapping[str, Any]],
        leases: Any,
        refusals: dict[str, ExportResult],
        stop_on_group_failure: bool,
    ) -> list[ExportResult]:
        results: list[ExportResult] = []
        failed_group: int | None = None
        for index, (group, group_configs) in enumerate(plan):
            if failed_group is not None and stop_on_group_failure:
                for c in group_configs:
                    skipped = ExportResult(
                        c.export_group_name,
                        c.export_name,
                        "skipped",
                        records[c.key].export_run_id,
                        group,
                        error=f"not run: execution group {failed_group} failed",
                    )
                    results.append(skipped)
                    self._event("skipped", group, skipped.error or "", c.key, skipped)
                continue
            self._event("group_started", group, f"{len(group_configs)} export(s)")
            runnable = [c for c in group_configs if c.key not in refusals]
            if index > 0:
                self._mark(runnable, records, context.execution_id, leases.owner)
                now = now_utc()
                for c in runnable:
                    records[c.key].export_state, records[c.key].started_at = "running", now
                self.logger.commit_rows(records[c.key] for c in runnable)
            done = {
                c.key: r
                for c, r in zip(
                    runnable, self._run_group(runnable, context, records, rows, leases), strict=True
                )
            }
            done.update({c.key: refusals[c.key] for c in group_configs if c.key in refusals})
            group_results = [done[c.key] for c in group_configs]
            finish_group(self.logger, leases, runnable, group_results, self.engine.fs)
            results += group_results
            if any(r.status == "error" for r in group_results) and failed_group is None:
                failed_group = group
            self._event("group_finished", group)
        return results

    def _mark(
        self,
        configs: list[ExportConfig],
        records: Mapping[str, ExportRunRecord],
        execution_id: str,
        lease_owner: str | None,
    ) -> None:
        """Create each export's staging folder with its ``run.json`` before its log row says ``running``.

        A process killed after that commit so always leaves a staging folder without a journal, which
        the next run's or ``fabgen recover``'s recovery removes, closing the row as abandoned. An
        export whose marker cannot be written is left to :class:`ExportRun`, which fails it clearly.
        """

        def mark(config: ExportConfig) -> str | None:
            run_id = records[config.key].export_run_id
            staging = run_staging_uri(config.target_workspace, config.target_lakehouse, run_id, self.platform)
            try:
                write_marker(self.engine.fs, staging, config.key, run_id, execution_id, lease_owner)
            except OSError as exc:
                log.warning("%s: staging folder not created before the run (%s)", config.key, exc)
                return None
            return run_id

        if len(configs) <= 1 or self.max_concurrency == 1:
            marked = [mark(c) for c in configs]
        else:
            with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(configs))) as pool:
                marked = list(pool.map(mark, configs))
        self._marked.update(run_id for run_id in marked if run_id)

    def _abandon(
        self,
        configs: list[ExportConfig],
        latest: Mapping[tuple[str, str], Mapping[str, Any]],
        handled: set[str],
    ) -> list[ExportRunRecord]:
        """Rows closing runs a crashed process left pending/running (one read), before retrying them."""
        ids = []
        for c in configs:
            row = latest.get((c.export_group_name, c.export_name))
            if (
                row is not None
                and row.get("export_state") in UNFINISHED
                and row["export_run_id"] not in handled
            ):
                ids.append(row["export_run_id"])
        closures = []
        for record in self.logger.get_runs(ids).values() if ids else []:
            was = record.export_state
            record.export_state = "error"
            record.error_type = "Abandoned"
            record.error_message = (
                f"abandoned while {was} (the process ended before the export finished; nothing of it "
                "was published); re-run by a retry of this execution"
            )
            record.completed_at = now_utc()
            closures.append(record)
        return closures

    def _run_group(
        self,
        configs: list[ExportConfig],
        context: RunContext,
        records: dict[str, Any],
        rows: Mapping[Any, Mapping[str, Any]],
        leases: Any,
    ) -> list[ExportResult]:
        slots = threading.local()
        counter = iter(range(1_000_000))
        counter_lock = threading.Lock()
        completions = Completions(self.logger)

        def task(config: ExportConfig) -> ExportResult:
            if not hasattr(slots, "slot"):
                with counter_lock:
                    slots.slot = next(counter)
            with self.engine.task(config, slots.slot):
                runner = ExportRun(
                    self.engine,
                    config,
                    context,
                    self.logger,
                    records[config.key],
                    self.platform,
                    self.on_event,
                    stored=stored_watermark(rows.get(key_of(config))),
                    stored_schema=stored_schema(rows.get(key_of(config))),
                    lease_ok=functools.partial(leases.holds, key_of(config)),
                    lease_owner=leases.owner,
                    marked=records[config.key].export_run_id in self._marked,
                )
                result = runner.run()
            completions.add(records[config.key], config.export_name if result.journal else None)
            return result

        try:
            if len(configs) <= 1 or self.max_concurrency == 1:
                return [task(c) for c in configs]
            started = time.monotonic()
            with ThreadPoolExecutor(
                max_workers=min(self.max_concurrency, len(configs)), thread_name_prefix="fabgen-export"
            ) as pool:
                results = list(pool.map(task, configs))
            log.debug("group of %d export(s) took %.1fs", len(configs), time.monotonic() - started)
            return results
        finally:
            completions.flush()
