"""Reading the state tables: the latest state of a group's exports, and one export's recent runs.

What ``fabgen status`` and ``fabgen history`` show; a notebook can call the same functions. Each
takes the group's :class:`~fabgen_runtime.export_logger.ExportLogger` (on Spark, or on the Python
engine: delta-rs, no JVM) and reads through its :meth:`state_reader`, which executes the queries
defined here: the columns (:data:`RUN_FIELDS`, :data:`WATERMARK_FIELDS`) and the order
(:data:`NEWEST_FIRST`, each column descending, nulls last). Nothing here writes: a missing table
reads as no rows (see :func:`tables_present`), and a table made by an older fabgen, lacking some
columns, reads with those columns empty. Timestamps are naive datetimes: UTC, as Spark reads them in
a UTC session (fabgen's local one), and as the delta-rs reader gives them (:func:`naive_utc`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from .state_model import LOG_TABLE, WATERMARK_TABLE

if TYPE_CHECKING:
    from .export_logger import ExportLogger

Row = dict[str, Any]

#: the log columns a status or history row carries, in this order
RUN_FIELDS = (
    "export_group_name",
    "export_name",
    "export_state",
    "master_execution_id",
    "export_run_id",
    "execution_group",
    "run_date",
    "is_retry",
    "rows_exported",
    "files_created",
    "total_bytes",
    "watermark_value",
    "new_watermark_value",
    "started_at",
    "completed_at",
    "duration_ms",
    "error_type",
    "error_message",
    "target_path",
    "queued_at",
    "updated_at",
)
#: the watermark columns a status row carries (prefixed ``stored_``)
WATERMARK_FIELDS = ("watermark_value", "watermark_type", "incremental_column", "updated_at")
#: the newest run first: these log columns, each descending, nulls last
NEWEST_FIRST = ("queued_at", "updated_at", "started_at")
#: the log columns that place a run in time: it is recent when any of them is (:func:`group_runs`)
RUN_TIMES = ("queued_at", "started_at", "completed_at", "updated_at")


class StateReader(Protocol):
    """The read-only queries of this module, executed by one engine (``logger.state_reader()``)."""

    def has_table(self, path: str) -> bool:
        """Whether the Delta table at ``path`` exists."""

    def runs(self, group: str, export: str | None, latest_only: bool, limit: int | None) -> list[Row]:
        """Log rows of ``group`` (one export, or all) as :data:`RUN_FIELDS`, :data:`NEWEST_FIRST`.

        ``latest_only``: the first row of each export only; ``limit``: at most that many rows.
        """

    def watermarks(self, group: str) -> list[Row]:
        """Watermark rows of ``group`` with a value: ``export_name`` and :data:`WATERMARK_FIELDS`."""


def tables_present(logger: ExportLogger) -> dict[str, bool]:
    """Whether each state table (``log_resource_export``, ``log_resource_export_watermark``) exists."""
    reader = logger.state_reader()
    return {
        LOG_TABLE: reader.has_table(logger.log_path),
        WATERMARK_TABLE: reader.has_table(logger.watermark_path),
    }


def latest_runs(logger: ExportLogger, group: str) -> dict[str, Row]:
    """Each export of ``group`` that has run: its newest run row (:data:`NEWEST_FIRST`)."""
    reader = logger.state_reader()
    if not reader.has_table(logger.log_path):
        return {}
    return {row["export_name"]: row for row in reader.runs(group, None, True, None)}


def stored_watermarks(logger: ExportLogger, group: str) -> dict[str, Row]:
    """The stored watermark of each export of ``group`` that has one."""
    reader = logger.state_reader()
    if not reader.has_table(logger.watermark_path):
        return {}
    rows = reader.watermarks(group)
    return {row["export_name"]: {k: v for k, v in row.items() if k != "export_name"} for row in rows}


def group_status(logger: ExportLogger, group: str, export_names: list[str] | None = None) -> list[Row]:
    """One row per export of ``group``: its latest run's fields plus ``stored_watermark_*``.

    ``export_names`` (the exports the project defines) are listed even when they never ran
    (``export_state`` None); exports only the log knows are listed too. Sorted by name.
    """
    runs = latest_runs(logger, group)
    marks = stored_watermarks(logger, group)
    names = sorted(set(export_names or []) | set(runs) | set(marks))
    out = []
    for name in names:
        row: Row = dict.fromkeys(RUN_FIELDS)
        row.update(runs.get(name, {}))
        row["export_group_name"], row["export_name"] = group, name
        mark = marks.get(name, {})
        row.update({f"stored_{key}": mark.get(key) for key in WATERMARK_FIELDS})
        out.append(row)
    return out


def export_history(logger: ExportLogger, group: str, export: str, limit: int = 20) -> list[Row]:
    """The ``limit`` most recent runs of one export, newest first."""
    reader = logger.state_reader()
    if not reader.has_table(logger.log_path):
        return []
    return reader.runs(group, export, False, limit)


def group_runs(logger: ExportLogger, group: str, since: datetime | None = None) -> list[Row]:
    """Every run row of ``group`` (all exports, all executions), newest first.

    ``since`` (naive UTC, as the rows' timestamps): only the runs queued, started, completed or
    updated at that time or later (:data:`RUN_TIMES`; the filter runs over the group's rows read).
    """
    reader = logger.state_reader()
    if not reader.has_table(logger.log_path):
        return []
    rows = reader.runs(group, None, False, None)
    return rows if since is None else [row for row in rows if is_since(row, since)]


# --------------------------------------------------------------------------- pure helpers


def is_since(row: Row, since: datetime) -> bool:
    """Whether any of ``row``'s :data:`RUN_TIMES` is at ``since`` or later (naive UTC)."""
    return any(isinstance(row.get(f), datetime) and naive_utc(row[f]) >= since for f in RUN_TIMES)


def naive_utc(value: Any) -> Any:
    """A timezone-aware datetime as the naive UTC datetime Spark reads (others unchanged)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def shaped(row: Row, fields: tuple[str, ...]) -> Row:
    """``row`` as ``fields`` in that order (absent ones None), timestamps naive UTC."""
    return {name: naive_utc(row.get(name)) for name in fields}


def newest_first(rows: list[Row]) -> list[Row]:
    """``rows`` ordered by :data:`NEWEST_FIRST`, each column descending with nulls last (stable)."""

    def key(row: Row) -> tuple[tuple[bool, Any], ...]:
        return tuple((row.get(f) is not None, row.get(f) or datetime.min) for f in NEWEST_FIRST)

    return sorted(rows, key=key, reverse=True)


def select_runs(rows: list[Row], latest_only: bool, limit: int | None) -> list[Row]:
    """:meth:`StateReader.runs` over rows already read: ordered, one per export if asked, limited."""
    ordered = newest_first(rows)
    if latest_only:
        first: dict[Any, Row] = {}
        for row in ordered:
            first.setdefault(row["export_name"], row)
        ordered = list(first.values())
    return ordered if limit is None else ordered[:limit]
