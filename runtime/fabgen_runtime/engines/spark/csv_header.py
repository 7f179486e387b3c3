"""The CSV header line exactly as Spark's CSV writer writes it, made on the driver without a job.

Spark writes a CSV file's header with ``UnivocityGenerator.writeHeaders()`` through an
``OutputStreamWriter`` in the options' charset (``CsvOutputWriter``). :func:`csv_header` calls the
same classes on the driver with the same ``CSVOptions``, so quoting, escaping, separators, line
separator, whitespace trimming and encoding (a UTF-16 BOM included) are Spark's own. Where this
Spark build's classes cannot be called that way, :func:`csv_header` returns None and the caller
lets Spark write an empty DataFrame with a header instead (one small job).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .jvm import gateway

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

log = logging.getLogger(__name__)


def csv_header(df: DataFrame, options: Mapping[str, str]) -> bytes | None:
    """The header Spark's CSV writer writes for ``df``'s columns with ``options`` (None: cannot say)."""
    from py4j.protocol import Py4JError

    spark = df.sparkSession
    try:
        jvm = gateway(spark)
        params = jvm.java.util.HashMap()
        for key, value in options.items():
            params.put(key, str(value))
        conf = spark._jsparkSession.sessionState().conf()
        csv_options = jvm.org.apache.spark.sql.catalyst.csv.CSVOptions(
            jvm.org.apache.spark.api.python.PythonUtils.toScalaMap(params),
            conf.csvColumnPruning(),
            conf.sessionLocalTimeZone(),
        )
        buffer = jvm.java.io.ByteArrayOutputStream()
        writer = jvm.java.io.OutputStreamWriter(buffer, csv_options.charset())
        generator = jvm.org.apache.spark.sql.catalyst.csv.UnivocityGenerator(
            df._jdf.schema(), writer, csv_options
        )
        generator.writeHeaders()
        generator.close()  # flushes the univocity writer and the stream writer into the buffer
        return bytes(buffer.toByteArray())
    except (Py4JError, AttributeError) as exc:
        log.debug("no driver-side CSV header (%s): Spark writes it", exc)
        return None
