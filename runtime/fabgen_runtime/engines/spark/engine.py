"""The Spark engine: Spark sources and writer, Hadoop's FileSystem API, Delta on Spark.

The adapter of :class:`fabgen_runtime.engines.Engine` over the modules that were the runtime's
only data path: :mod:`fabgen_runtime.sources`, :mod:`fabgen_runtime.engines.spark.writer`,
:class:`fabgen_runtime.engines.spark.fs.HadoopFS`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ... import schema_drift
from . import lakehouse, sources, warehouse, writer  # noqa: F401 - the readers register themselves
from .fs import HadoopFS

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from ...config import ExportConfig
    from ...plan import ExportPlan
    from ...platform import Platform
    from ...schema_drift import Column
    from ...staged import StagedOutput
    from .sources import SourceRead


class SparkEngine:
    """Exports on a SparkSession (each concurrent export in its own FAIR scheduler pool)."""

    name = "spark"

    def __init__(self, spark: SparkSession):
        self.spark = spark

    @functools.cached_property
    def fs(self) -> HadoopFS:
        """Hadoop's FileSystem API through the session's JVM (made on first use)."""
        return HadoopFS(self.spark)

    def period(self, config: ExportConfig, query: str, platform: Platform) -> tuple[datetime, datetime]:
        """``period_date_query`` run by the source's Spark reader."""
        return sources.get(config.source_type).period(self.spark, config, query, platform)

    def read(self, plan: ExportPlan, platform: Platform) -> SourceRead:
        return sources.get(plan.config.source_type).read(self.spark, plan, platform)

    def columns(self, rows: Any) -> list[Column]:
        return schema_drift.columns(rows.df.schema)

    def write(self, rows: Any, plan: ExportPlan, platform: Platform) -> StagedOutput:
        return writer.write(rows.df, plan, platform)

    @contextmanager
    def task(self, config: ExportConfig, slot: int) -> Iterator[None]:
        sc = self.spark.sparkContext
        sc.setLocalProperty("spark.scheduler.pool", f"fabgen_{slot}")
        sc.setLocalProperty("spark.job.description", f"fabgen export {config.key}")
        try:
            yield
        finally:
            # None removes a local property (pyspark's stub types the value as str only)
            sc.setLocalProperty("spark.job.description", None)  # type: ignore[arg-type]
            sc.setLocalProperty("spark.scheduler.pool", None)  # type: ignore[arg-type]
