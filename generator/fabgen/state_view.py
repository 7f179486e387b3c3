"""``fabgen status`` and ``fabgen history``: the state tables of the project's config lakehouse, read
locally with the runtime's own readers (:mod:`fabgen_runtime.status`) and shown as tables.

The tables are read through the group's engine (:func:`.local_run.state_logger`): Spark for a
``spark`` group, delta-rs for a ``python`` group (no JVM starts). When the log table does not
exist yet (nothing ran), no Spark is started either: the report says so. With ``--env E`` the
tables of environment E's config lakehouse are read over OneLake with delta-rs, whatever the
group's engine (:mod:`.onelake_read`; no JVM).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from fabgen_runtime.errors import ConfigError, ConfigIssue

from .project import Project

#: longest error text a table cell shows (``--json`` has it whole)
ERROR_WIDTH = 60


@dataclass
class StateReport:
    """What ``status`` or ``history`` read: the rows, and where the log table is."""

    group: str
    log_table: str
    log_exists: bool
    rows: list[dict[str, Any]] = field(default_factory=list)
    export: str | None = None
    env: str | None = None  # None: local Fabric; else the environment whose workspace was read

    def document(self, command: str) -> dict[str, Any]:
        """The ``--json`` document of ``command`` (``status``: ``exports``; ``history``: ``runs``)."""
        key = "exports" if command == "status" else "runs"
        doc: dict[str, Any] = {"command": command, "group": self.group}
        if self.export:
            doc["export"] = self.export
        doc["env"] = self.env
        doc.update({"log_table": self.log_table, "log_table_exists": self.log_exists, key: self.rows})
        return doc


def _exists_locally(path: str) -> bool:
    return (Path(path) / "_delta_log").is_dir()


@contextmanager
def state_tables(project: Project, group: str, env: str | None) -> Iterator[tuple[Any, bool]]:
    """The logger reading ``group``'s state tables and whether the log table exists: locally through
    the group's engine, or (``env``) environment ``env``'s tables over OneLake with delta-rs."""
    if env is not None:
        from .onelake_read import workspace

        with workspace(project, env) as remote:
            reader = remote.state_logger()
            yield reader, reader.state_reader().has_table(reader.log_path)
        return
    from .local_run import local_runtime, state_logger

    with local_runtime(project) as local:
        logger = state_logger(project, group, local)
        yield logger, _exists_locally(logger.log_path)


def read_status(project: Project, group: str, env: str | None = None) -> StateReport:
    """The latest state of every export of ``group`` (the project's exports and any the log has);
    ``env``: in environment ``env``'s workspace."""
    from fabgen_runtime.status import group_status

    names = [c.export_name for c in project.configs if c.export_group_name == group]
    with state_tables(project, group, env) as (logger, exists):
        report = StateReport(group, logger.log_path, exists, env=env)
        if not report.log_exists and not names:
            message = f"no group {group!r} in the project, and no log table yet"
            raise ConfigError(ConfigIssue("status", "--group", message))
        if report.log_exists:
            report.rows = group_status(logger, group, names)
        else:
            report.rows = [_never_run(group, name) for name in sorted(names)]
    active = {c.export_name: c.is_active for c in project.configs if c.export_group_name == group}
    for row in report.rows:
        row["is_active"] = active.get(row["export_name"])  # None: in the log only, not in the project
    return report


def _never_run(group: str, name: str) -> dict[str, Any]:
    from fabgen_runtime.status import RUN_FIELDS, WATERMARK_FIELDS

    row: dict[str, Any] = dict.fromkeys(RUN_FIELDS)
    row.update({f"stored_{key}": None for key in WATERMARK_FIELDS})
    row["export_group_name"], row["export_name"] = group, name
    return row


def export_group(project: Project, export: str, group: str | None) -> str:
    """The group of ``export``: ``group`` when given, else the one project group defining it."""
    if group:
        return group
    groups = sorted({c.export_group_name for c in project.configs if c.export_name == export})
    if len(groups) == 1:
        return groups[0]
    if not groups:
        message = f"no export {export!r} in the project: give its group with -g to read the log"
    else:
        message = f"export {export!r} is in groups {', '.join(groups)}: choose one with -g"
    raise ConfigError(ConfigIssue("history", "--export", message))


def read_history(
    project: Project, export: str, group: str | None, limit: int, env: str | None = None
) -> StateReport:
    """The ``limit`` most recent runs of ``export`` (in ``group``, or the group defining it);
    ``env``: in environment ``env``'s workspace."""
    from fabgen_runtime.status import export_history

    group = export_group(project, export, group)
    with state_tables(project, group, env) as (logger, exists):
        report = StateReport(group, logger.log_path, exists, export=export, env=env)
        if report.log_exists:
            report.rows = export_history(logger, group, export, limit)
    return report


def read_recent_runs(project: Project, group: str, since: datetime, env: str | None = None) -> StateReport:
    """Every log row of ``group`` queued, started, completed or updated since ``since`` (naive UTC),
    newest first (``fabgen report``); exit 2 when neither the project nor the log knows the group;
    ``env``: in environment ``env``'s workspace."""
    from fabgen_runtime.status import group_runs

    with state_tables(project, group, env) as (logger, exists):
        report = StateReport(group, logger.log_path, exists, env=env)
        if not report.log_exists and group not in project.groups():
            message = f"no group {group!r} in the project, and no log table yet"
            raise ConfigError(ConfigIssue("report", "--group", message))
        if report.log_exists:
            report.rows = group_runs(logger, group, since)
    return report


# --------------------------------------------------------------------------- text tables


def format_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]], right: set[int]) -> list[str]:
    """``rows`` under ``header`` in aligned columns (``right``: the indexes aligned right)."""
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=False)]
    lines = []
    for index, row in enumerate([header, *rows]):
        pairs = enumerate(zip(row, widths, strict=True))
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in pairs]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _error(row: dict[str, Any]) -> str:
    message = " ".join(str(row.get("error_message") or "").split())
    return message if len(message) <= ERROR_WIDTH else message[: ERROR_WIDTH - 3] + "..."


def status_lines(report: StateReport) -> list[str]:
    """``fabgen status`` as text: a line naming the log table, then one row per export."""
    if not report.log_exists:
        head = f"no runs logged yet: {report.log_table} does not exist (the first run creates it)"
    else:
        head = f"latest state of {report.group} (log: {report.log_table})"
    header = ("export", "state", "rows", "files", "watermark", "run date", "finished at", "error")
    rows = [
        (
            r["export_name"],
            (r["export_state"] or "never run") + (" (inactive)" if r.get("is_active") is False else ""),
            _text(r["rows_exported"]),
            _text(r["files_created"]),
            _text(r["stored_watermark_value"]),
            _text(r["run_date"]),
            _text(r["completed_at"]),
            _error(r) or "-",
        )
        for r in report.rows
    ]
    return [head, "", *format_table(header, rows, {2, 3})]


def history_lines(report: StateReport) -> list[str]:
    """``fabgen history`` as text: one row per run, newest first."""
    name = f"{report.group}/{report.export}"
    if not report.log_exists:
        return [f"no runs logged yet: {report.log_table} does not exist (the first run creates it)"]
    if not report.rows:
        return [f"no runs of {name} in {report.log_table}"]
    header = ("queued at", "run date", "state", "rows", "files", "seconds", "execution id", "error")
    rows = [
        (
            _text(r["queued_at"] or r["started_at"]),
            _text(r["run_date"]),
            r["export_state"] + (" (retry)" if r["is_retry"] else ""),
            _text(r["rows_exported"]),
            _text(r["files_created"]),
            "-" if r["duration_ms"] is None else f"{r['duration_ms'] / 1000:.1f}",
            _text(r["master_execution_id"]),
            _error(r) or "-",
        )
        for r in report.rows
    ]
    return [f"last {len(rows)} run(s) of {name}, newest first", "", *format_table(header, rows, {3, 4, 5})]
