"""The JVM behind a SparkSession (py4j), for the few calls Spark's Python API does not offer.

Hadoop's FileSystem (:mod:`.fs`), java.util.zip and zstd-jni (compression), Spark's SQL parser
(:mod:`.query_plan`) and class look-ups are reached through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...errors import PlatformError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def gateway(spark: SparkSession) -> Any:
    """``spark._jvm``: the py4j view of the driver JVM (Spark Connect sessions have none)."""
    jvm = getattr(spark, "_jvm", None)
    if jvm is None:
        raise PlatformError("this SparkSession has no driver JVM (Spark Connect is not supported)")
    return jvm


def load_class(spark: SparkSession, name: str, loader: Any = None) -> Any | None:
    """The JVM class ``name`` (from ``loader``, default the thread's context loader), or None."""
    from py4j.protocol import Py4JError

    jvm = gateway(spark)
    try:
        loader = loader or jvm.java.lang.Thread.currentThread().getContextClassLoader()
        return jvm.java.lang.Class.forName(name, False, loader)
    except Py4JError:  # ClassNotFoundException: not in this Spark / Hadoop version
        return None


def has_class(spark: SparkSession, name: str) -> bool:
    """Whether the driver JVM can load class ``name``."""
    return load_class(spark, name) is not None
