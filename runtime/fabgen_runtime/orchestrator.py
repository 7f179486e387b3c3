"""Execution groups, concurrency and retry: :class:`ExportOrchestrator`.

``process_exports`` runs execution groups in ascending order. Within a group, up to
``max_concurrency`` exports run at once on threads, each in its own Spark FAIR scheduler pool
(``spark.scheduler.pool`` = ``fabgen_<slot>``), so one large export does not starve the others.
One export's failure never stops its siblings. When any export of a group fails, later groups
do not start (groups express dependencies, as the rendered pipeline's "Succeeded" links do);
their exports stay ``pending`` in the log and are reported as ``skipped``, so a retry of the same
execution runs them. Pass ``stop_on_group_failure=False`` to run later groups anyway.

Every run of an execution is queued as ``pending`` in one log commit before the first group
starts. ``run_date`` defaults to today in ``timezone``; ``process_date`` is taken once per call.

Retry (``is_retry=True``, same ``execution_id``) re-runs only the exports whose latest run in
that execution is ``error``, ``pending`` (never started) or ``running`` (the process died), with
the original run's ``run_date`` unless one is given. Runs left ``pending``/``running`` are
closed as ``error`` ("abandoned") first. An execution with no log rows at all never started:
its retry runs everything.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from . import platform as platform_mod
from .config import ExportConfig, parse_configs
from .export import EventHandler, ExportEvent, ExportResult, ExportRun, new_record
from .plan import RunContext
from .state import UNFINISHED, ExportLogger, now_utc

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

RETRY_STATES = ("error", "pending", "running")


def as_configs(configs: Iterable[ExportConfig | Mapping[str, Any]]) -> list[ExportConfig]:
    """Configs as :class:`ExportConfig` (raw rows are validated)."""
    items = list(configs)
    rows = [c for c in items if not isinstance(c, ExportConfig)]
    parsed = iter(parse_configs(rows)) if rows else iter(())
    return [c if isinstance(c, ExportConfig) else next(parsed) for c in items]


def schedule(
    configs: Iterable[ExportConfig], execution_group: int | None = None
) -> list[tuple[int, list[ExportConfig]]]:
    """``[(execution_group, configs)]`` in ascending group order, configs in name order."""
    groups: dict[int, list[ExportConfig]] = {}
    for config in configs:
        if execution_group is None or config.execution_group == execution_group:
            groups.setdefault(config.execution_group, []).append(config)
    return [
        (g, sorted(groups[g], key=lambda c: (c.export_group_name, c.export_name))) for g in sorted(groups)
    ]


def select_for_retry(
    configs: Iterable[ExportConfig], latest: Mapping[tuple[str, str], Mapping[str, Any]]
) -> list[ExportConfig]:
    """The configs a retry runs: latest state in the execution is error, pending or running.

    With no log rows at all (``latest`` empty), the execution never started: every config runs.
    """
    configs = list(configs)
    if not latest:
        return configs
    return [
        c
        for c in configs
        if (row := latest.get((c.export_group_name, c.export_name))) is not None
        and row.get("export_state") in RETRY_STATES
    ]


def summarize(results: list[ExportResult]) -> dict[str, Any]:
    """The spec's result dict: success, total_exports, successful, failed, results (+ warnings, skipped)."""
    failed = sum(1 for r in results if r.status == "error")
    skipped = sum(1 for r in results if r.status == "skipped")
    ok = sum(1 for r in results if r.status in ("success", "warning"))
    return {
        "success": failed == 0 and skipped == 0,
        "total_exports": len(results),
        "successful": ok,
        "failed": failed,
        "warnings": sum(1 for r in results if r.status == "warning"),
        "skipped": skipped,
        "results": [r.as_dict() for r in results],
    }


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
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be 1 or more")
        self.platform = platform or (export_logger.platform if export_logger else platform_mod.current())
        self.spark = spark or self.platform.spark()
        if export_logger is None:
            raise ValueError("export_logger is required (ExportLogger(config_lakehouse))")
        self.logger = export_logger
        self.max_concurrency = max_concurrency
        self.on_event = on_event

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
        if is_retry:
            latest = self.logger.latest_states(execution_id)
            configs = select_for_retry(configs, latest)
            if run_date in (None, "") and latest:
                dates = sorted({str(r["run_date"]) for r in latest.values() if r.get("run_date")})
                run_date = dates[-1] if dates else None
            self._abandon(configs, latest)
        context = RunContext.create(run_date, timezone, execution_id)
        plan = schedule(configs, execution_group)
        records = {
            c.key: new_record(c, context, str(uuid.uuid4()), is_retry) for _g, group in plan for c in group
        }
        self.logger.queue(list(records.values()))
        log.info(
            "execution %s: %d export(s) in %d group(s), run_date %s",
            execution_id,
            len(records),
            len(plan),
            context.run_date.date(),
        )

        results: list[ExportResult] = []
        failed_group: int | None = None
        for group, group_configs in plan:
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
            group_results = self._run_group(group_configs, context, records)
            results += group_results
            if any(r.status == "error" for r in group_results) and failed_group is None:
                failed_group = group
            self._event("group_finished", group)
        self.logger.flush()
        return summarize(results)

    def _abandon(
        self, configs: list[ExportConfig], latest: Mapping[tuple[str, str], Mapping[str, Any]]
    ) -> None:
        """Close runs a crashed process left pending/running before retrying them."""
        for c in configs:
            row = latest.get((c.export_group_name, c.export_name))
            if row is None or row.get("export_state") not in UNFINISHED:
                continue
            record = self.logger.get_run(row["export_run_id"])
            if record is None:
                continue
            record.export_state = "error"
            record.error_type = "Abandoned"
            record.error_message = (
                f"abandoned while {row['export_state']} (the process ended before the export "
                "finished); re-run by a retry of this execution"
            )
            record.completed_at = now_utc()
            self.logger.save(record)

    def _run_group(
        self, configs: list[ExportConfig], context: RunContext, records: dict[str, Any]
    ) -> list[ExportResult]:
        slots = threading.local()
        counter = iter(range(1_000_000))
        counter_lock = threading.Lock()
        sc = self.spark.sparkContext

        def task(config: ExportConfig) -> ExportResult:
            if not hasattr(slots, "pool"):
                with counter_lock:
                    slots.pool = f"fabgen_{next(counter)}"
            sc.setLocalProperty("spark.scheduler.pool", slots.pool)
            sc.setLocalProperty("spark.job.description", f"fabgen export {config.key}")
            try:
                runner = ExportRun(
                    self.spark,
                    config,
                    context,
                    self.logger,
                    records[config.key],
                    self.platform,
                    self.on_event,
                )
                return runner.run()
            finally:
                sc.setLocalProperty("spark.job.description", None)
                sc.setLocalProperty("spark.scheduler.pool", None)

        if len(configs) == 1 or self.max_concurrency == 1:
            return [task(c) for c in configs]
        started = time.monotonic()
        with ThreadPoolExecutor(
            max_workers=min(self.max_concurrency, len(configs)), thread_name_prefix="fabgen-export"
        ) as pool:
            results = list(pool.map(task, configs))
        log.debug("group of %d export(s) took %.1fs", len(configs), time.monotonic() - started)
        return results
