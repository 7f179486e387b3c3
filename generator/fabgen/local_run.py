"""``fabgen run``, ``fabgen plan`` and ``fabgen config push``: the runtime, run locally for a project.

Everything runs inside :meth:`Project.local_environment`, on the runtime's local platform
pointed at the project's OneLake folder and warehouse, through the same
:class:`~fabgen_runtime.ExportOrchestrator` the rendered notebooks call on Fabric.

Each group runs on its engine (``Project.engine``), picked once by :func:`state_logger`: an
``ExportLogger`` on ``spark`` (the local SparkSession starts when it is first needed) or on
``python`` (delta-rs state tables, no SparkSession), so no JVM starts for a Python group's
``run``, ``recover`` and ``plan`` here, nor its ``status`` and ``history`` (:mod:`.state_view`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from fabgen_runtime import platform as platform_mod
from fabgen_runtime.config import ExportConfig
from fabgen_runtime.errors import ConfigError, ConfigIssue, FabgenError

from .progress import Progress
from .project import Project, export_count

if TYPE_CHECKING:
    from fabgen_runtime import ExportLogger

log = logging.getLogger(__name__)
Echo = Callable[[str], None]


@contextmanager
def local_runtime(project: Project) -> Iterator[platform_mod.LocalPlatform]:
    """The project's local environment, with the runtime's platform pointed at it."""
    with project.local_environment():
        import os

        from fabgen_runtime import catalog

        from .environments import EnvironmentMapping
        from .jvm_output import QuietLocalPlatform

        previous, previous_items = platform_mod.current(), catalog.current()
        local = QuietLocalPlatform(os.environ["FABGEN_ONELAKE_ROOT"])
        platform_mod.use(local)
        # The project's lakehouse layouts and warehouse_control, as the rendered notebooks carry them.
        catalog.configure(EnvironmentMapping().catalog(project.settings, project.configs))
        try:
            yield local
        finally:
            platform_mod.use(previous)
            catalog.configure(previous_items)


def run_dates(run_date: str | None, date_from: str | None, date_to: str | None) -> list[str | None]:
    """The run dates of one ``fabgen run``: one date (or today), or every day from..to."""
    if (date_from is None) != (date_to is None):
        raise ConfigError(ConfigIssue("run", "--from/--to", "give both --from and --to"))
    if date_from is None:
        return [run_date]
    if run_date:
        raise ConfigError(ConfigIssue("run", "--run-date", "use either --run-date or --from/--to"))
    try:
        first, last = date.fromisoformat(date_from), date.fromisoformat(date_to or "")
    except ValueError:
        raise ConfigError(ConfigIssue("run", "--from/--to", "dates must be YYYY-MM-DD")) from None
    if last < first:
        raise ConfigError(ConfigIssue("run", "--from/--to", "--to is before --from"))
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def check_run_arguments(dates: list[str | None], timezone: str) -> None:
    """Refuse a bad ``--timezone`` or run date before anything starts (Spark takes ~30 s to start)."""
    from fabgen_runtime.plan import parse_run_date, zone

    try:
        zone(timezone)
    except ConfigError:
        raise ConfigError(ConfigIssue("run", "--timezone", f"unknown timezone {timezone!r}")) from None
    for day in dates:
        try:
            parse_run_date(day, timezone)
        except ConfigError:
            message = f"{day!r} is not a date (YYYY-MM-DD)"
            raise ConfigError(ConfigIssue("run", "--run-date", message)) from None


def state_logger(
    project: Project, group: str, local: platform_mod.LocalPlatform, create: bool = False
) -> ExportLogger:
    """The log and watermark tables, through ``group``'s engine: the one place it is picked.

    ``python``: delta-rs (no JVM ever starts); ``spark``: Delta on Spark, whose SparkSession starts
    on its first read or write. ``create``: make the tables when missing (``run``, ``recover``;
    ``plan``, ``status`` and ``history`` only read).
    """
    from fabgen_runtime import ExportLogger

    lakehouse = project.settings.config_lakehouse
    return ExportLogger(lakehouse, auto_create_tables=create, platform=local, engine=project.engine(group))


def orchestrator_for(
    project: Project,
    group: str,
    local: platform_mod.LocalPlatform,
    max_concurrency: int,
    on_event: Any = None,
) -> Any:
    """An :class:`~fabgen_runtime.ExportOrchestrator` on ``group``'s engine (python: no JVM)."""
    from fabgen_runtime import ExportOrchestrator

    logger = state_logger(project, group, local, create=True)
    return ExportOrchestrator(logger.spark, logger, max_concurrency, platform=local, on_event=on_event)


@dataclass
class RunOutcome:
    """What ``fabgen run`` did for one run date."""

    run_date: str | None
    execution_id: str
    result: dict[str, Any]


def run_project(
    project: Project,
    group: str,
    export: str | None = None,
    run_date: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    execution_id: str | None = None,
    retry: bool = False,
    timezone: str | None = None,
    max_concurrency: int | None = None,
    echo: Echo = print,
    progress: Progress | None = None,
) -> list[RunOutcome]:
    """Run a group's exports locally, once per run date (stopping at the first date that fails).

    Lines go to ``progress`` (default: plain lines to ``echo``). The group runs on its engine
    (:func:`orchestrator_for`).
    """
    configs = project.select(group, export)
    counted = export_count(project.select(group, export, active_only=False))
    dates = run_dates(run_date, date_from, date_to)
    tz = timezone or project.settings.defaults.timezone
    check_run_arguments(dates, tz)
    concurrency = max_concurrency or project.settings.defaults.max_concurrency
    progress = progress or Progress(echo)
    echo = progress.echo
    progress.total = len(configs) * len(dates)
    outcomes: list[RunOutcome] = []
    with local_runtime(project) as local:
        orchestrator = orchestrator_for(project, group, local, concurrency, on_event=progress)
        for day in dates:
            if execution_id and len(dates) > 1:
                run_id = f"{execution_id}-{day}"
            else:
                run_id = execution_id or str(uuid.uuid4())
            day, origin = resolved_run_date(orchestrator, day, retry, run_id, tz)
            echo(
                f"{'retrying' if retry else 'running'} {len(configs)} export(s) of {group} "
                f"({counted}; engine {project.engine(group)}; "
                f"run date {day}{origin}, {tz}), execution id {run_id}"
            )
            result = orchestrator.process_exports(configs, run_id, run_date=day, timezone=tz, is_retry=retry)
            recovered = orchestrator.last_recovery
            for line in recovered.lines if recovered else []:
                echo(f"recovered: {line}")
            outcomes.append(RunOutcome(day, run_id, result))
            if not result["success"]:
                break
    return outcomes


def resolved_run_date(
    orchestrator: Any, day: str | None, retry: bool, execution_id: str, timezone: str
) -> tuple[str, str]:
    """The run date a run uses and where it came from (shown in its header): the one given, the
    retried execution's (from its log rows; a retry never uses today instead), or today in ``timezone``."""
    if day:
        return day, ""
    if retry:
        return orchestrator.retry_run_date(execution_id), " (from the log of the retried execution)"
    from fabgen_runtime.plan import RunContext

    return RunContext.create(None, timezone).run_date.date().isoformat(), " (today)"


def recover_project(project: Project, group: str, export: str | None = None) -> Any:
    """``fabgen recover``: finish or roll back the interrupted publishes of a group's exports (its engine)."""
    configs = project.select(group, export)
    with local_runtime(project) as local:
        return orchestrator_for(project, group, local, 1).recover(configs)


# --------------------------------------------------------------------------- plan


def describe_plans(document: dict[str, Any]) -> list[str]:
    """The text of a :func:`plan_document`: per export, resolved query, filters, watermark and outputs."""
    lines = [f"plan for {document['group']}, run date {document['run_date']} ({document['timezone']})"]
    for entry in document["exports"]:
        lines += ["", *entry_lines(entry)]
    return lines


def plan_document(
    project: Project,
    group: str,
    export: str | None = None,
    run_date: str | None = None,
    timezone: str | None = None,
    period_queries: bool = True,
) -> dict[str, Any]:
    """Per export: resolved query, filters, watermark and output paths; reads no source data.

    The stored watermark is read from the log table when it exists; ``period_date_query`` (a
    one-row control query) runs unless ``period_queries`` is False. ``fabgen plan --json`` prints
    this document (``exports``: one entry per export, in run order).
    """
    from fabgen_runtime.plan import RunContext

    configs = project.select(group, export)
    tz = timezone or project.settings.defaults.timezone
    check_run_arguments([run_date], tz)
    context = RunContext.create(run_date, tz, "plan")
    document: dict[str, Any] = {
        "command": "plan",
        "group": group,
        "run_date": str(context.run_date.date()),
        "timezone": tz,
    }
    with local_runtime(project) as local:
        logger = state_logger(project, group, local)
        # Spark starts only to run a period query or to read a stored watermark (when that table
        # exists); a python group's logger has no SparkSession: delta-rs reads, ODBC periods.
        runs_period = period_queries and any(c.extract_type == "period" for c in configs)
        periods = logger.engine() if runs_period else None
        ordered = sorted(configs, key=lambda c: (c.execution_group, c.export_name))
        document["exports"] = [
            _describe(config, context, logger, periods, local, period_queries) for config in ordered
        ]
    return document


def _stored_watermark(logger: ExportLogger, config: ExportConfig) -> Any:
    """The watermark stored for ``config`` (None: none, or no watermark table yet: read nothing)."""
    from pathlib import Path

    if config.extract_type != "incremental" or not (Path(logger.watermark_path) / "_delta_log").is_dir():
        return None
    return logger.get_watermark(config.export_group_name, config.export_name)


def _describe(
    config: ExportConfig,
    context: Any,
    logger: ExportLogger,
    periods: Any,
    local: Any,
    period_queries: bool,
) -> dict[str, Any]:
    """One export's plan as a dict (``error`` set when it cannot be planned)."""
    from fabgen_runtime.inputs import resolve_inputs
    from fabgen_runtime.plan import build_plan
    from fabgen_runtime.sql import default_dialect

    entry: dict[str, Any] = dict.fromkeys(PLAN_FIELDS)
    entry.update(
        export=config.key,
        execution_group=config.execution_group,
        extract_type=config.extract_type,
        source_type=config.source_type,
        filters=[],
    )
    try:
        # the stored watermark (read once here, for its origin) goes through the runtime's own
        # resolution, so plan refuses what run refuses (e.g. a watermark of another column)
        stored = _stored_watermark(logger, config)
        watermark, wtype, start, end = resolve_inputs(
            periods, config, context, None, local, stored=stored, period_query=period_queries
        )
        if config.extract_type == "incremental":
            if stored is not None:
                origin = f"stored by run {stored.run_id}"
            elif config.incremental_initial_watermark:
                origin = "incremental_initial_watermark"
            else:
                origin = "none yet: the first run exports every row"
            entry.update(watermark=watermark, watermark_origin=origin)
        if config.extract_type == "period" and not period_queries:
            entry["period_resolved"] = False
            return entry
        plan = build_plan(
            config,
            context,
            watermark,
            start,
            end,
            export_run_id=str(uuid.uuid4()),
            dialect=default_dialect(config, local),
            watermark_type=wtype,
        )
    except FabgenError as exc:
        entry["error"] = str(exc)
        return entry
    source, out = plan.source, plan.output
    base = platform_mod.files_uri(local, out.workspace, out.lakehouse, out.directory)
    final = out.compressed_filename if out.post_process else out.filename
    entry.update(
        dialect=source.dialect,
        query=" ".join(source.query.split()),
        filters=list(source.filters),
        output=f"{base}/{final}",
        max_rows_per_file=out.max_rows_per_file or None,
        trigger=f"{base}/{out.trigger_filename}" if out.trigger_filename else None,
    )
    if plan.period_start is not None:
        entry.update(period_start=plan.period_start, period_end=plan.period_end, period_resolved=True)
    return entry


#: the keys of each ``plan --json`` export entry
PLAN_FIELDS = (
    "export",
    "execution_group",
    "extract_type",
    "source_type",
    "dialect",
    "query",
    "filters",
    "watermark",
    "watermark_origin",
    "period_start",
    "period_end",
    "period_resolved",
    "output",
    "max_rows_per_file",
    "trigger",
    "error",
)


def entry_lines(entry: dict[str, Any]) -> list[str]:
    """One export's plan entry as the text ``fabgen plan`` prints."""
    kind = f"group {entry['execution_group']}, {entry['extract_type']}, {entry['source_type']}"
    lines = [f"{entry['export']}  ({kind})"]
    if entry["error"]:
        return [*lines, f"  error: {entry['error']}"]
    if entry["period_resolved"] is False:
        return [*lines, "  period: not resolved (--no-period-query)"]
    lines.append(f"  query ({entry['dialect']}): {entry['query']}")
    lines += [f"  filter: {f}" for f in entry["filters"]]
    if entry["extract_type"] == "incremental":
        shown = entry["watermark"] if entry["watermark"] is not None else "-"
        lines.append(f"  watermark: {shown} ({entry['watermark_origin']})")
    if entry["period_start"] is not None:
        lines.append(f"  period: {entry['period_start']} .. {entry['period_end']}")
    split = f" (split every {entry['max_rows_per_file']} rows)" if entry["max_rows_per_file"] else ""
    lines.append(f"  output: {entry['output']}{split}")
    if entry["trigger"]:
        lines.append(f"  trigger: {entry['trigger']}")
    return lines


# --------------------------------------------------------------------------- config push


def push_project(project: Project, group: str | None = None) -> tuple[int, str]:
    """Upsert the project's config rows (optionally one group) into ``config_resource_export``."""
    from fabgen_runtime import ConfigExportManager

    configs = project.select(group, active_only=False) if group else list(project.configs)
    with local_runtime(project) as local:
        manager = ConfigExportManager(project.settings.config_lakehouse, spark=local.spark(), platform=local)
        count = manager.push_configs(configs)
        return count, manager.path
