"""The Spark notebook's self-test (``fabgen_selftest``): the checks through Spark, Hadoop and Delta Spark.

Files go through Hadoop's ``FileSystem`` of the OneLake URI (what :class:`~.fs.HadoopFS` uses),
its own ``rename`` included (:class:`HadoopOps`). The scratch state table is made by
:class:`~.state_tables.TableSetup`, as the first run makes the real ones. The commit race
pits Spark against delta-rs when the notebook has ``deltalake`` (the notebook passes
``fabgen_runtime.engines.python.selftest.DeltaRsWriter``; this module never imports the Python
engine), else two Spark writers of this session (which Delta serialises inside one JVM, so only a
second engine or process really tests the store's put-if-absent; the row says which it was).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ... import platform as platform_mod
from ... import state_protocol
from ...selftest.delta import CommitWriter, TableFacts, check_commit_race, check_state_tables
from ...selftest.model import SPARK, Row
from ...selftest.run import Probes, run_checks
from ...state_model import LOG_COLUMNS, LOG_TABLE, SCHEMA, WATERMARK_TABLE, LakehouseLocation
from .fs import HadoopFS

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

DeltaRsFactory = Callable[[str], CommitWriter]  # a delta-rs writer of the race table at a URI


class HadoopOps:
    """:class:`~fabgen_runtime.selftest.files.FileOps` over Hadoop's ``FileSystem`` (through ``HadoopFS``)."""

    def __init__(self, spark: SparkSession):
        self.hadoop = HadoopFS(spark)
        self.name = "Hadoop FileSystem"

    def describe(self, uri: str) -> None:
        """Name the ``FileSystem`` class serving ``uri`` in the rows (``AzureBlobFileSystem`` on OneLake)."""
        from py4j.protocol import Py4JError

        jpath = self.hadoop.path(uri)
        try:
            self.name = (
                f"Hadoop FileSystem ({jpath.getFileSystem(self.hadoop.conf).getClass().getSimpleName()})"
            )
        except Py4JError as exc:  # cosmetic: the rename check will meet the same error and report it
            log.debug("cannot name the FileSystem of %s: %s", uri, exc)

    def put(self, uri: str, text: str) -> None:
        """Create or replace a small text file."""
        self.hadoop.write_bytes(uri, text.encode("utf-8"), overwrite=True)

    def read(self, uri: str) -> str:
        """The text of a small file."""
        return self.hadoop.read_bytes(uri).decode("utf-8")

    def exists(self, uri: str) -> bool:
        """True when something exists at ``uri``."""
        return self.hadoop.exists(uri)

    def rename(self, src: str, dst: str) -> bool:
        """``FileSystem.rename(src, dst)`` itself: no existence check before it."""
        from py4j.protocol import Py4JError

        jsrc, jdst = self.hadoop.path(src), self.hadoop.path(dst)
        try:
            return bool(jsrc.getFileSystem(self.hadoop.conf).rename(jsrc, jdst))
        except Py4JError as exc:
            java = getattr(exc, "java_exception", None)
            raise OSError(java.toString() if java is not None else str(exc)) from exc

    def remove(self, uri: str) -> None:
        """Delete ``uri`` recursively."""
        self.hadoop.delete(uri, recursive=True)

    def names(self, uri: str) -> list[str]:
        """Names directly under ``uri``."""
        return [status.name for status in self.hadoop.list(uri)]


def spark_facts(spark: SparkSession, path: str) -> TableFacts | None:
    """The protocol and properties of the Delta table at ``path`` (None: no table there)."""
    from delta.tables import DeltaTable

    from .state_tables import has_delta_log, protocol_of

    if not has_delta_log(spark, path):
        return None
    detail = DeltaTable.forPath(spark, path).detail().collect()[0].asDict()
    properties = {str(k): str(v) for k, v in (detail.get("properties") or {}).items()}
    protocol = protocol_of(spark, path)
    reader = tuple(protocol.reader_features) if protocol and protocol.reader_features is not None else None
    writer = tuple(protocol.writer_features) if protocol and protocol.writer_features is not None else None
    if protocol is None and detail.get("tableFeatures"):
        writer = tuple(str(f) for f in detail["tableFeatures"])
    return TableFacts(
        int(detail["minReaderVersion"]), int(detail["minWriterVersion"]), reader, writer, properties
    )


def state_tables_row(
    spark: SparkSession, scratch: str, config: LakehouseLocation, platform: platform_mod.Platform
) -> Row:
    """``state_table_protocol`` on Spark: a scratch table made by ``TableSetup``, and the real ones."""
    from .state_tables import TableSetup

    def created() -> TableFacts:
        path = f"{scratch}/{LOG_TABLE}"
        TableSetup(spark, spark, wait_seconds=60.0).ensure(path, LOG_COLUMNS, create=True)
        facts = spark_facts(spark, path)
        if facts is None:
            raise OSError(f"TableSetup made no table at {path}")
        return facts

    existing: dict[str, Callable[[], TableFacts | None]] = {
        table: functools.partial(
            spark_facts,
            spark,
            platform_mod.table_uri(platform, config.workspace, config.lakehouse, SCHEMA, table),
        )
        for table in (LOG_TABLE, WATERMARK_TABLE)
    }
    pinned = state_protocol.spark_properties(spark.version)
    return check_state_tables(created, pinned, existing)


class SparkWriter:
    """A Spark writer of the race table: one append per commit, marked by Delta's ``userMetadata``."""

    def __init__(self, spark: SparkSession, path: str, name: str = "spark"):
        self.spark, self.path, self.name = spark, path, name

    def create(self) -> None:
        """The race table (a ``marker`` column) with the state tables' pinned properties, and a first row."""
        from delta.tables import DeltaTable

        builder = DeltaTable.createIfNotExists(self.spark).location(self.path).addColumn("marker", "STRING")
        for key, value in state_protocol.spark_properties(self.spark.version).items():
            builder = builder.property(key, value)
        builder.execute()

    def pin(self) -> bool:
        """Spark reads the newest snapshot at each commit: it cannot commit from a stale one."""
        return False

    def append(self, marker: str) -> int | None:
        """Append the row ``marker`` in one commit."""
        frame = self.spark.createDataFrame([(marker,)], "marker string")
        frame.write.format("delta").mode("append").option("userMetadata", marker).save(self.path)
        return versions(self.spark, self.path).get(marker)

    def is_conflict(self, exc: BaseException) -> bool:
        """Delta's ``ConcurrentModificationException`` family (``Concurrent*`` / ``DELTA_CONCURRENT_*``)."""
        text = f"{type(exc).__name__} {exc}"
        return "Concurrent" in text or "DELTA_CONCURRENT" in text


def versions(spark: SparkSession, path: str) -> dict[str, int]:
    """Each commit's ``userMetadata`` (the race's markers) and its version."""
    from delta.tables import DeltaTable

    rows = DeltaTable.forPath(spark, path).history().select("version", "userMetadata").collect()
    return {str(r["userMetadata"]): int(r["version"]) for r in rows if r["userMetadata"]}


def markers(spark: SparkSession, path: str) -> dict[str, int]:
    """Rows per marker in the race table, read by Spark."""
    rows = spark.read.format("delta").load(path).groupBy("marker").count().collect()
    return {str(r["marker"]): int(r["count"]) for r in rows}


def commit_race_row(spark: SparkSession, path: str, rounds: int, deltars: DeltaRsFactory | None) -> Row:
    """``delta_commit_race`` on Spark: Spark against delta-rs (``deltars``), else two Spark writers."""
    first = SparkWriter(spark, path)
    first.create()
    first.append("init")
    second: CommitWriter = deltars(path) if deltars else SparkWriter(spark, path, "spark (same session)")
    merged: Callable[[], Mapping[str, int]] = lambda: versions(spark, path)  # noqa: E731
    return check_commit_race(first, second, lambda: markers(spark, path), merged, rounds)


def run_spark(
    spark: SparkSession,
    config_lakehouse: Any,
    target_lakehouses: list[Any],
    race_rounds: int = 3,
    deltars: DeltaRsFactory | None = None,
    platform: platform_mod.Platform | None = None,
) -> list[Row]:
    """The Spark notebook's checks (``model.checks_for("spark")``), one row each."""
    platform = platform or platform_mod.current()
    config = LakehouseLocation.of(config_lakehouse)
    ops = HadoopOps(spark)
    ops.describe(platform_mod.files_uri(platform, config.workspace, config.lakehouse))
    probes = Probes(
        SPARK,
        ops,
        state_tables=lambda scratch: state_tables_row(spark, scratch, config, platform),
        commit_race=lambda scratch: commit_race_row(spark, scratch, race_rounds, deltars),
        reader=spark.read,
    )
    return run_checks(probes, config, target_lakehouses, platform)
