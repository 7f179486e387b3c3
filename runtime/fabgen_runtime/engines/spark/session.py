"""Where each platform's SparkSession comes from (:data:`fabgen_runtime.platform.SPARK_SESSIONS`).

On Fabric the notebook's active session; locally the Delta-enabled ``local[*]`` session of
:mod:`.local_spark`. Imported by :mod:`fabgen_runtime.engines.spark`, so every process that
imports the runtime has both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...platform import SPARK_SESSIONS
from .local_spark import local_spark

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def fabric_spark() -> SparkSession:
    """The Fabric notebook's SparkSession (the active one, else the builder's)."""
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    return session or SparkSession.builder.getOrCreate()


SPARK_SESSIONS["fabric"] = fabric_spark
SPARK_SESSIONS["local"] = local_spark
