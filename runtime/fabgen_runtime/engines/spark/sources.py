"""Spark's readers, a registry by ``source_type``: each turns a plan into one Spark DataFrame.

A source has two jobs:

* :meth:`Source.read`: the export's rows as a lazy DataFrame, read once by the writer. Lakehouse
  tables are pinned to the Delta version they are read at (``SourceRead.version``).
* :meth:`Source.period`: run ``period_date_query`` on the export's source and return
  ``(start_date, end_date)`` (:func:`fabgen_runtime.sources.period_from_rows`).

The built-ins (:mod:`.lakehouse`, :mod:`.warehouse`) register themselves when imported, which
:mod:`.engine` does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from ...errors import SourceReadError
from ...registry import Registry

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from ...config import ExportConfig
    from ...plan import ExportPlan
    from ...platform import Platform


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


def get(name: str) -> Source:
    """The Spark reader for ``source_type`` ``name`` (the built-ins register when
    :mod:`fabgen_runtime.engines.spark` is imported)."""
    return REGISTRY.get(name)
