"""Two Spark jobs per export made on the driver instead, checked against Spark doing them.

* The CSV header (:func:`fabgen_runtime.engines.spark.csv_header.csv_header`) must be byte for
  byte what Spark's CSV writer writes for an empty DataFrame with ``header=true``, for every
  option that shapes a header line.
* The source version (:func:`fabgen_runtime.engines.spark.lakehouse.table_version`, from the
  Delta log) must be the version Delta's own history reports, follow new commits, and say -1 for
  a folder that is not a Delta table.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from fabgen_runtime.engines.spark import lakehouse
from fabgen_runtime.engines.spark.csv_header import csv_header
from fabgen_runtime.errors import SourceReadError

pytestmark = pytest.mark.jvm

COLUMNS = ["id", "plain name", "sep;inside", 'quote"inside', " padded ", "ünïcødé", "new\nline", ""]

OPTIONS = [
    {},
    {"sep": ";"},
    {"sep": "\t", "quoteAll": "true"},
    {"quote": "'", "escape": "\\"},
    {"lineSep": "\r\n"},
    {"lineSep": "|"},
    {"encoding": "UTF-16"},
    {"encoding": "ISO-8859-1"},
    {"ignoreLeadingWhiteSpace": "false", "ignoreTrailingWhiteSpace": "false"},
    {"escapeQuotes": "false"},
    {"emptyValue": "EMPTY", "nullValue": "NULL"},
]


def spark_written_header(df, options: dict[str, str], out: Path) -> bytes:
    target = out / uuid.uuid4().hex
    df.limit(0).write.format("csv").options(header="true", **options).save(str(target))
    return b"".join(p.read_bytes() for p in sorted(target.glob("part-*")))


def option_id(options: dict[str, str]) -> str:
    return ",".join(f"{k}={v!r}" for k, v in options.items()) or "defaults"


@pytest.mark.parametrize("options", OPTIONS, ids=option_id)
def test_header_is_the_one_spark_writes(spark, tmp_path, options) -> None:
    df = spark.createDataFrame([tuple(range(len(COLUMNS)))], COLUMNS)
    made = csv_header(df, {"header": "true", **options})
    assert made is not None
    assert made == spark_written_header(df, options, tmp_path)
    assert made  # a header line, never nothing


def test_table_version_follows_the_delta_log(spark, tmp_path) -> None:
    path = str(tmp_path / "t")
    spark.range(3).write.format("delta").save(path)
    assert lakehouse.table_version(spark, path) == 0
    for _ in range(2):
        spark.range(2).write.format("delta").mode("append").save(path)
    history = DeltaTable.forPath(spark, path).history(1).select("version").head()[0]
    assert lakehouse.table_version(spark, path) == history == 2
    assert lakehouse._logged_version(spark, path) == 2  # the no-job path, not the history fallback
    df, version = lakehouse.pinned_table(spark, path, "dbo.t", "g/e")
    assert version == 2 and df.count() == 7


def test_missing_table_is_a_source_error(spark, tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    assert lakehouse.table_version(spark, str(tmp_path / "empty")) == -1
    with pytest.raises(SourceReadError, match=r"cannot read lakehouse table dbo.nope: no Delta table at"):
        lakehouse.pinned_table(spark, str(tmp_path / "empty"), "dbo.nope", "g/e")
