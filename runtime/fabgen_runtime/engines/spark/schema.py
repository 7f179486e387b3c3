"""Spark schemas of the state tables: ``{name: SQL type}`` (``state_model``) as a ``StructType``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql.types import DataType, StructType


def struct(columns: Mapping[str, str]) -> StructType:
    """A Spark schema from ``{name: type}`` (every column nullable)."""
    from pyspark.sql.types import StructField, StructType

    # Built field by field: ``StructType.fromDDL`` is Spark 4 only (Fabric Runtime 1.3 is Spark 3.5).
    return StructType([StructField(name, spark_type(kind), True) for name, kind in columns.items()])


def spark_type(kind: str) -> DataType:
    """The Spark type of a simple SQL type name: the scalars the state tables use, ``array<T>``,
    ``map<K,V>`` (of scalars). Pure Python, so it needs no JVM and no Spark 4 API."""
    from pyspark.sql import types as T

    kind = kind.strip().lower()
    scalars = {
        "string": T.StringType,
        "boolean": T.BooleanType,
        "int": T.IntegerType,
        "bigint": T.LongType,
        "double": T.DoubleType,
        "date": T.DateType,
        "timestamp": T.TimestampType,
    }
    if kind in scalars:
        scalar: DataType = scalars[kind]()
        return scalar
    if kind.startswith("array<") and kind.endswith(">"):
        return T.ArrayType(spark_type(kind[6:-1]), True)
    if kind.startswith("map<") and kind.endswith(">") and "," in kind:
        key, value = kind[4:-1].split(",", 1)
        return T.MapType(spark_type(key), spark_type(value), True)
    raise ValueError(f"unsupported column type {kind!r}")
