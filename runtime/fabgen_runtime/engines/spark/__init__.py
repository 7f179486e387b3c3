"""The Spark engine: every module of the runtime that imports pyspark, py4j or delta-spark.

:class:`.engine.SparkEngine` is the :class:`fabgen_runtime.engines.Engine` adapter over its parts:
sources (``sources``), the writer (``writer``, ``assemble``, ``pieces``, ``metrics``,
``exact_values``), Hadoop's FileSystem API (``fs``, ``jvm``), Delta on Spark (``tables``, ``state``,
``state_tables``, ``leases``, ``status``, ``manager``) and the local SparkSession (``local_spark``).
"""

from . import session as session  # registers the platforms' SparkSessions
from .engine import SparkEngine

__all__ = ["SparkEngine"]
