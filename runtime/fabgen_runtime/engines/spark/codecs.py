"""What Spark's JVM offers the codecs: Hadoop's gzip level, JVM classes a codec needs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .jvm import gateway, has_class

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def jvm_has_class(spark: SparkSession) -> Callable[[str], bool]:
    """``has_class`` for :meth:`fabgen_runtime.compression.Codec.check_available` on ``spark``."""
    return lambda name: has_class(spark, name)


ZLIB_DEFAULT_LEVEL = 6  # what java.util.zip / zlib use when no level is given


def hadoop_gzip_honours_level(spark: SparkSession, level: int | None) -> bool:
    """Whether Hadoop's ``GzipCodec`` (Spark's own gzip, for text and parquet) writes at ``level``.

    Hadoop 3.4+ (Spark 4, Fabric Runtime 2.0) has a pure-Java gzip compressor that reads
    ``zlib.compress.level``. Hadoop 3.3 (Spark 3.5, Runtime 1.3) reads it only when native zlib is
    loaded; otherwise it writes zlib's default level (6), whatever the option says.
    """
    if level is None or level == ZLIB_DEFAULT_LEVEL:
        return True
    if has_class(spark, "org.apache.hadoop.io.compress.zlib.BuiltInGzipCompressor"):
        return True
    from py4j.protocol import Py4JError

    try:
        factory = gateway(spark).org.apache.hadoop.io.compress.zlib.ZlibFactory
        return bool(factory.isNativeZlibLoaded(spark._jsc.hadoopConfiguration()))
    except Py4JError:
        return False
