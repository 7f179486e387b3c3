"""The read-only views of :mod:`fabgen_runtime.status`, run by Spark (``SparkTables.reader()``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...state_model import LOG_TABLE, WATERMARK_TABLE
from ...status import NEWEST_FIRST, RUN_FIELDS, WATERMARK_FIELDS, Row
from .state_tables import TableSetup

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from .tables import SparkTables


class SparkStateReader:
    """:class:`StateReader` through the tables' SparkSession (ordering and ranking run in Spark)."""

    def __init__(self, tables: SparkTables):
        self.tables = tables

    def has_table(self, path: str) -> bool:
        return TableSetup(self.tables.spark, self.tables.spark, 0).has_commit(path)

    def runs(self, group: str, export: str | None, latest_only: bool, limit: int | None) -> list[Row]:
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        def read() -> list[Any]:
            df = self.tables.spark.read.format("delta").load(self.tables.log_path)
            cond = F.col("export_group_name") == F.lit(group)
            if export is not None:
                cond = cond & (F.col("export_name") == F.lit(export))
            df = df.where(cond)
            order = _newest_first(df)
            if latest_only:
                window = Window.partitionBy("export_name").orderBy(*order)
                ranked = df.select(*_columns(df, RUN_FIELDS), F.row_number().over(window).alias("_rank"))
                df = ranked.where(F.col("_rank") == 1).drop("_rank")
            else:
                df = df.orderBy(*order).select(*_columns(df, RUN_FIELDS))
            return (df if limit is None else df.limit(limit)).collect()

        rows = self.tables.guard(read, f"reading {LOG_TABLE}")
        return [row.asDict() for row in rows]

    def watermarks(self, group: str) -> list[Row]:
        from pyspark.sql import functions as F

        def read() -> list[Any]:
            df = self.tables.spark.read.format("delta").load(self.tables.watermark_path)
            cond = (F.col("export_group_name") == F.lit(group)) & F.col("watermark_value").isNotNull()
            return df.where(cond).select("export_name", *_columns(df, WATERMARK_FIELDS)).collect()

        return [row.asDict() for row in self.tables.guard(read, f"reading {WATERMARK_TABLE}")]


def _columns(df: DataFrame, wanted: tuple[str, ...]) -> list[Any]:
    """``wanted`` as columns of ``df``; ones an older table lacks read as NULL."""
    from pyspark.sql import functions as F

    present = set(df.columns)
    return [F.col(name) if name in present else F.lit(None).alias(name) for name in wanted]


def _newest_first(df: DataFrame) -> list[Any]:
    from pyspark.sql import functions as F

    return [F.col(name).desc_nulls_last() for name in NEWEST_FIRST if name in df.columns]
