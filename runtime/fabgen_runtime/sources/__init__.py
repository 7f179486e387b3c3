"""Sources: the ``source_type`` names a row may use, and what every engine's reader shares.

Each engine reads a source type its own way (Spark: :mod:`fabgen_runtime.engines.spark.sources`;
the Python engine: ``engines/python/read`` and ``engines/python/warehouse``). Shared here:

* :data:`SOURCE_TYPES`, the names ``validate`` accepts;
* :func:`period_from_rows`: ``(start_date, end_date)`` from the rows a ``period_date_query``
  returned; anything but exactly one row with both columns is a
  :class:`~fabgen_runtime.errors.SourceReadError`;
* :mod:`.names` (the table names a query uses) and :mod:`.odbc` (control queries over ODBC).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from ..errors import SourceReadError

#: the source types a config row may name (each engine reads every one of them)
SOURCE_TYPES = ("lakehouse", "warehouse")


def source_types() -> list[str]:
    """The source types ``source_type`` may say."""
    return list(SOURCE_TYPES)


def _as_datetime(value: Any, column: str, export: str) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip().replace("Z", "")).replace(tzinfo=None)
        except ValueError:
            pass
    raise SourceReadError(f"period_date_query returned {column} = {value!r}, which is not a date", export)


def period_from_rows(rows: Sequence[Mapping[str, Any]], export: str) -> tuple[datetime, datetime]:
    """``(start_date, end_date)`` from the rows a ``period_date_query`` returned (at most 2 are needed)."""
    if len(rows) != 1:
        found = "no rows" if not rows else "more than one row"
        raise SourceReadError(
            f"period_date_query must return exactly one row with start_date and end_date; got {found}",
            export,
        )
    row = {str(k).lower(): v for k, v in rows[0].items()}
    missing = [c for c in ("start_date", "end_date") if c not in row]
    if missing:
        raise SourceReadError(
            f"period_date_query must return columns start_date and end_date; missing {', '.join(missing)} "
            f"(it returned {', '.join(rows[0]) or 'no columns'})",
            export,
        )
    values = {}
    for column in ("start_date", "end_date"):
        if row[column] is None:
            raise SourceReadError(f"period_date_query returned NULL {column}", export)
        values[column] = _as_datetime(row[column], column, export)
    if values["end_date"] < values["start_date"]:
        raise SourceReadError(
            f"period_date_query returned end_date {values['end_date']} "
            f"before start_date {values['start_date']}",
            export,
        )
    return values["start_date"], values["end_date"]
