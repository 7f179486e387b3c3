"""Sources, a registry by ``source_type``: each turns a plan into one Spark DataFrame.

A source has two jobs:

* :meth:`Source.read`: the export's rows as a lazy DataFrame, read once by the writer. Lakehouse
  tables are pinned to the Delta version they are read at (``SourceRead.version``).
* :meth:`Source.period`: run ``period_date_query`` on the export's source and return
  ``(start_date, end_date)``; anything but exactly one row with both columns is a
  :class:`~fabgen_runtime.errors.SourceReadError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import SourceReadError
from ..registry import Registry

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from ..config import ExportConfig
    from ..plan import ExportPlan
    from ..platform import Platform


@dataclass
class SourceRead:
    """A lazy DataFrame over the source, plus what the log records about it."""

    df: DataFrame
    version: str | None = None  # e.g. "dbo.orders@12" (lakehouse), None for warehouses
    query: str | None = None  # the SQL text actually run (view names substituted)
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        """Drop temporary views (safe to call twice)."""
        while self.cleanup:
            self.cleanup.pop()()


class Source(Protocol):
    """What the export run needs from a source type."""

    def read(self, spark: SparkSession, plan: ExportPlan, platform: Platform) -> SourceRead: ...

    def period(
        self, spark: SparkSession, config: ExportConfig, query: str, platform: Platform
    ) -> tuple[datetime, datetime]: ...


REGISTRY: Registry[Source] = Registry("source_type", SourceReadError)


def register(name: str, source: Source) -> None:
    """Register ``source`` for ``source_type`` ``name``."""
    REGISTRY.register(name, source)


def _load_builtins() -> None:
    # Import unconditionally: exports run on threads, and a check of an empty registry lets a
    # second thread through while the first is still between registering the two built-ins.
    from . import lakehouse, warehouse  # noqa: F401 - registers the built-in sources


def source_types() -> list[str]:
    """Registered source types (what ``source_type`` may say)."""
    _load_builtins()
    return REGISTRY.names()


def get(name: str) -> Source:
    """The source for ``source_type`` ``name``."""
    _load_builtins()
    return REGISTRY.get(name)


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
