"""The Spark engine's state backend: :class:`~fabgen_runtime.export_logger.ExportLogger` on Spark.

``ExportLogger(config_lakehouse)`` (the spec's call) asks for the ``spark`` backend: the state
tables as :class:`.tables.SparkTables` (Delta on Spark) and :class:`.engine.SparkEngine` to run the
exports. Importing this package registers it (:data:`fabgen_runtime.engines.STATE_BACKENDS`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ... import platform as platform_mod
from .. import STATE_BACKENDS
from .engine import SparkEngine
from .tables import SparkTables

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class SparkStateBackend:
    """The state tables and the engine of Spark groups, on one SparkSession (default: the platform's)."""

    def __init__(self, platform: platform_mod.Platform, spark: SparkSession | None = None):
        self.platform = platform
        self._spark = spark

    @property
    def spark(self) -> SparkSession:
        """The SparkSession (created by the platform on first use)."""
        if self._spark is None:
            self._spark = self.platform.spark()
        return self._spark

    def tables(self, log_path: str, watermark_path: str, auto_create_tables: bool) -> SparkTables:
        return SparkTables(log_path, watermark_path, lambda: self.spark, auto_create_tables)

    def engine(self, spark: SparkSession | None = None) -> SparkEngine:
        return SparkEngine(spark or self.spark)


STATE_BACKENDS["spark"] = SparkStateBackend
