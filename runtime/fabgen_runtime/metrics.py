"""Metrics observed while writing: the row count, the incremental watermark, NULL incremental values.

``max(incremental_column)`` is computed in the same pass as the write (``DataFrame.observe``)
and rendered as lossless text by :func:`render_watermark`; the rows whose incremental column is
NULL are counted in that pass too and reported by :func:`null_warning`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .errors import WriteError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import StructField

    from .plan import ExportPlan

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


def null_warning(null_rows: int, plan: ExportPlan) -> list[str]:
    """The log row's warning about NULL incremental values (empty when there are none)."""
    if not null_rows:
        return []
    column = plan.config.incremental_column
    if plan.source.drops_null_incremental:
        return [
            f"{null_rows} row(s) with a NULL incremental_column {column!r} not exported (NULL is never "
            f"> the watermark {plan.watermark!r}); give them a value, or export them with a full or "
            "period export"
        ]
    if plan.source.mode == "table":
        return [
            f"{null_rows} exported row(s) have a NULL incremental_column {column!r}: this run without a "
            "watermark exported them, later incremental runs will not (they never move the watermark)"
        ]
    return [
        f"{null_rows} exported row(s) have a NULL incremental_column {column!r} (source_query decides "
        "which rows reach the file; NULLs never move the watermark)"
    ]


def render_watermark(value: Any, kind: str = "value") -> str | None:
    """The watermark as lossless text: ISO dates (``2025-01-31``), ISO timestamps in the session
    time zone without trailing fractional zeros (``2025-01-31T12:00:00.5``), plain numbers
    (``12345.67``, never an exponent), other values as ``str``. ``None`` stays ``None``.
    """
    if value is None:
        return None
    if kind == "timestamp":
        text = str(value)
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return repr(value)
    return str(value)
