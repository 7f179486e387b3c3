"""Reading the state tables: the latest state of a group's exports, and one export's recent runs.

What ``fabgen status`` and ``fabgen history`` show, read with the logger's SparkSession; a notebook
can call the same functions. Nothing here writes: a missing table reads as no rows (see
:func:`tables_present`), and a table made by an older fabgen, lacking some columns, reads with
those columns empty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .state import LOG_TABLE, WATERMARK_TABLE, ExportLogger

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

#: the log columns a status or history row carries, in this order
RUN_FIELDS = (
    "export_group_name",
    "export_name",
    "export_state",
    "master_execution_id",
    "export_run_id",
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


def tables_present(logger: ExportLogger) -> dict[str, bool]:
    """Whether each state table (``log_resource_export``, ``log_resource_export_watermark``) exists."""
    return {
        LOG_TABLE: _has_table(logger, logger.log_path),
        WATERMARK_TABLE: _has_table(logger, logger.watermark_path),
    }


def _has_table(logger: ExportLogger, path: str) -> bool:
    from .state_tables import TableSetup

    return TableSetup(logger.spark, logger.spark, 0).has_commit(path)


def _columns(df: DataFrame, wanted: tuple[str, ...]) -> list[Any]:
    """``wanted`` as columns of ``df``; ones an older table lacks read as NULL."""
    from pyspark.sql import functions as F

    present = set(df.columns)
    return [F.col(name) if name in present else F.lit(None).alias(name) for name in wanted]


def _newest_first(df: DataFrame) -> list[Any]:
    from pyspark.sql import functions as F

    order = [name for name in ("queued_at", "updated_at", "started_at") if name in df.columns]
    return [F.col(name).desc_nulls_last() for name in order]


def latest_runs(logger: ExportLogger, group: str) -> dict[str, dict[str, Any]]:
    """Each export of ``group`` that has run: its newest run row (by ``queued_at``, ``updated_at``)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if not _has_table(logger, logger.log_path):
        return {}

    def read() -> list[Any]:
        df = logger.spark.read.format("delta").load(logger.log_path)
        df = df.where(F.col("export_group_name") == F.lit(group))
        window = Window.partitionBy("export_name").orderBy(*_newest_first(df))
        ranked = df.select(*_columns(df, RUN_FIELDS), F.row_number().over(window).alias("_rank"))
        return ranked.where(F.col("_rank") == 1).drop("_rank").collect()

    rows = logger.guard(read, f"reading {LOG_TABLE}")
    return {row["export_name"]: row.asDict() for row in rows}


def stored_watermarks(logger: ExportLogger, group: str) -> dict[str, dict[str, Any]]:
    """The stored watermark of each export of ``group`` that has one."""
    from pyspark.sql import functions as F

    if not _has_table(logger, logger.watermark_path):
        return {}

    def read() -> list[Any]:
        df = logger.spark.read.format("delta").load(logger.watermark_path)
        df = df.where((F.col("export_group_name") == F.lit(group)) & F.col("watermark_value").isNotNull())
        return df.select("export_name", *_columns(df, WATERMARK_FIELDS)).collect()

    rows = logger.guard(read, f"reading {WATERMARK_TABLE}")
    return {row["export_name"]: {k: v for k, v in row.asDict().items() if k != "export_name"} for row in rows}


def group_status(
    logger: ExportLogger, group: str, export_names: list[str] | None = None
) -> list[dict[str, Any]]:
    """One row per export of ``group``: its latest run's fields plus ``stored_watermark_*``.

    ``export_names`` (the exports the project defines) are listed even when they never ran
    (``export_state`` None); exports only the log knows are listed too. Sorted by name.
    """
    runs = latest_runs(logger, group)
    marks = stored_watermarks(logger, group)
    names = sorted(set(export_names or []) | set(runs) | set(marks))
    out = []
    for name in names:
        row: dict[str, Any] = dict.fromkeys(RUN_FIELDS)
        row.update(runs.get(name, {}))
        row["export_group_name"], row["export_name"] = group, name
        mark = marks.get(name, {})
        row.update({f"stored_{key}": mark.get(key) for key in WATERMARK_FIELDS})
        out.append(row)
    return out


def export_history(logger: ExportLogger, group: str, export: str, limit: int = 20) -> list[dict[str, Any]]:
    """The ``limit`` most recent runs of one export, newest first."""
    from pyspark.sql import functions as F

    if not _has_table(logger, logger.log_path):
        return []

    def read() -> list[Any]:
        df = logger.spark.read.format("delta").load(logger.log_path)
        cond = (F.col("export_group_name") == F.lit(group)) & (F.col("export_name") == F.lit(export))
        newest = df.where(cond).orderBy(*_newest_first(df))
        return newest.select(*_columns(df, RUN_FIELDS)).limit(limit).collect()

    return [row.asDict() for row in logger.guard(read, f"reading {LOG_TABLE}")]
