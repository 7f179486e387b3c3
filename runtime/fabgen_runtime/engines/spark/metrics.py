"""Metrics observed while writing: the row count, the incremental watermark, NULL incremental values.

``max(incremental_column)`` is computed in the same pass as the write (``DataFrame.observe``)
and rendered as lossless text by :func:`render_watermark`; the rows whose incremental column is
NULL are counted in that pass too and reported by :func:`fabgen_runtime.staged.null_warning`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import WriteError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import StructField

    from ...plan import ExportPlan

TIMESTAMP_METRIC = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS"


def incremental_field(df: DataFrame, plan: ExportPlan) -> StructField | None:
    """The schema field of an incremental export's ``incremental_column`` (case-insensitive), else None."""
    config = plan.config
    if config.extract_type != "incremental" or not config.incremental_column:
        return None
    wanted = config.incremental_column.lower()
    return next((f for f in df.schema.fields if f.name.lower() == wanted), None)


def watermark_metric(df: DataFrame, plan: ExportPlan) -> tuple[Column, str] | None:
    """``(max(incremental_column) expression, kind)`` for incremental exports, else None.

    Dates and timestamps are formatted by Spark (in the session time zone), so the value
    reaching Python is already exact text.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    config = plan.config
    if config.extract_type != "incremental" or not config.incremental_column:
        return None
    field = incremental_field(df, plan)
    if field is None:
        raise WriteError(
            f"incremental_column {config.incremental_column!r} is not a column of the source", config.key
        )
    column = F.col(f"`{field.name}`")
    if isinstance(field.dataType, T.DateType):
        return F.date_format(F.max(column), "yyyy-MM-dd"), "date"
    if isinstance(field.dataType, (T.TimestampType, T.TimestampNTZType)):
        return F.date_format(F.max(column), TIMESTAMP_METRIC), "timestamp"
    return F.max(column), "value"


def null_watermark_metric(df: DataFrame, plan: ExportPlan) -> Column | None:
    """Rows whose incremental column is NULL (counted in the write's pass), for incremental exports.

    A filtered table-mode run reads them too (``col > watermark OR col IS NULL``) and the writer
    drops them after this count (:func:`kept_rows`); a first run without a watermark and query
    mode count the NULLs among the rows they write.
    """
    from pyspark.sql import functions as F

    field = incremental_field(df, plan)
    if field is None:
        return None  # not incremental, or a missing column (watermark_metric reports it)
    return F.sum(F.col(f"`{field.name}`").isNull().cast("long"))


def kept_rows(df: DataFrame, plan: ExportPlan) -> Column | None:
    """The condition rows must meet to be written: ``col IS NOT NULL`` when the source plan reads
    NULL incremental values only to count them (see ``SourcePlan.drops_null_incremental``)."""
    from pyspark.sql import functions as F

    field = incremental_field(df, plan)
    if field is None or not plan.source.drops_null_incremental:
        return None
    return F.col(f"`{field.name}`").isNotNull()
