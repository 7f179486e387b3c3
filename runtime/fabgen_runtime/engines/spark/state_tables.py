"""Creating and upgrading the state tables (the export log and the watermark table).

A table is created when missing, and columns a table made by an earlier fabgen lacks are added.
Two runs starting at once on a new config lakehouse both try to create the tables: Delta lets one
commit and refuses the other (its location is no longer empty), so the loser waits for the
winner's first commit and uses that table instead of failing. A folder that never becomes a Delta
table is reported, never touched.

A table is created with its protocol pinned (:mod:`fabgen_runtime.state_protocol`: reader 1 /
writer 2, deletion vectors off, whatever the session's defaults), so the Python engine's delta-rs
can use the tables a Spark group created; a table that still came out with features delta-rs cannot
use is logged as a warning. :func:`rebuild_state_table` turns a table an older fabgen created under
Fabric Runtime 2.0's defaults (deletion vectors) into one with the pinned protocol.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from ... import state_protocol
from ...commits import retry_conflicts, table_lock
from ...errors import PlatformError, StateError
from .schema import struct
from .spark_errors import guarded, spark_errors, spark_message

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)
T = TypeVar("T")

POLL_SECONDS = 0.5
FIRST_COMMIT = "00000000000000000000.json"  # a Delta table's version 0


class Protocol(NamedTuple):
    """A Delta table's protocol as its log states it (features ``None`` below table-features versions)."""

    min_reader_version: int
    min_writer_version: int
    reader_features: list[str] | None
    writer_features: list[str] | None

    def unsupported(self) -> list[str]:
        """What of it the Python engine cannot use (:func:`fabgen_runtime.state_protocol.unsupported`)."""
        return state_protocol.unsupported(*self)


def protocol_of(spark: SparkSession, path: str) -> Protocol | None:
    """The protocol of the Delta table at ``path`` from the driver's Delta log (no Spark job; the
    snapshot Delta last loaded, so read the table first), or None when the JVM cannot say."""
    from py4j.protocol import Py4JError

    from .jvm import gateway

    try:
        delta_log = gateway(spark).org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)
        action = json.loads(delta_log.unsafeVolatileSnapshot().protocol().json())["protocol"]
    except (Py4JError, PlatformError, AttributeError, ValueError, KeyError) as exc:  # best effort
        log.debug("could not read the Delta protocol of %s: %s", path, exc)
        return None
    return Protocol(
        int(action["minReaderVersion"]),
        int(action["minWriterVersion"]),
        action.get("readerFeatures"),
        action.get("writerFeatures"),
    )


def has_delta_log(spark: SparkSession, path: str) -> bool:
    """Whether ``path/_delta_log`` exists (a table, or one being created)."""
    from .fs import HadoopFS

    try:
        return HadoopFS(spark).exists(f"{path}/_delta_log")
    except OSError as exc:
        raise StateError(f"cannot reach the config lakehouse at {path}: {exc}") from exc


class TableSetup:
    """Makes sure one state table exists with (at least) the columns fabgen writes."""

    def __init__(self, spark: SparkSession, writer_session: SparkSession, wait_seconds: float):
        self.spark = spark
        self.writer_session = writer_session
        self.wait_seconds = wait_seconds

    def ensure(self, path: str, columns: Mapping[str, str], create: bool) -> bool:
        """Make ``path`` a Delta table with ``columns``; ``False`` if it is missing and ``create`` is off."""
        if not has_delta_log(self.spark, path):
            if not create:
                return False
            self.create(path, columns)
        elif not self.await_table(path):
            raise StateError(
                f"{path} has a _delta_log folder but no Delta commit after "
                f"{self.wait_seconds:.0f}s: it is not a table fabgen can use"
            )
        self.add_missing_columns(path, columns)
        return True

    def has_commit(self, path: str) -> bool:
        """Whether ``path/_delta_log`` holds the table's first commit, or a checkpoint.

        Two existence checks, never a listing (a long-lived table's log holds thousands of files):
        a table has version 0's commit until log cleanup, which removes it only after a checkpoint
        has been written (and ``_last_checkpoint`` with it).
        """
        from .fs import HadoopFS

        store = HadoopFS(self.spark)
        try:
            return store.exists(f"{path}/_delta_log/{FIRST_COMMIT}") or store.exists(
                f"{path}/_delta_log/_last_checkpoint"
            )
        except OSError as exc:
            raise StateError(f"cannot reach the config lakehouse at {path}: {exc}") from exc

    def create(self, path: str, columns: Mapping[str, str]) -> None:
        """Create the table; if another run is creating it at the same moment, wait for that one."""
        from delta.tables import DeltaTable

        properties = state_protocol.spark_properties(self.spark.version)

        def create() -> None:
            builder = DeltaTable.createIfNotExists(self.spark).location(path).addColumns(struct(columns))
            for key, value in properties.items():  # the pinned protocol, whatever the session's defaults
                builder = builder.property(key, value)
            builder.execute()

        with table_lock(path):
            try:
                retry_conflicts(create, f"creating {path}")
                self.check_created(path)
                return
            except spark_errors() as exc:
                failure = exc
        # Delta refuses a location another creator has already written to (its _delta_log is
        # there, its first commit not yet): that creator's table is the one to use.
        if not self.await_table(path):
            raise StateError(f"creating {path} failed: {spark_message(failure)}") from failure
        log.info("%s was created by another run at the same time; using it", path)

    def check_created(self, path: str) -> None:
        """Warn when the table created at ``path`` has protocol parts the Python engine cannot use
        (a session default the pinned properties do not cover); the table is used as it is."""
        protocol = protocol_of(self.spark, path)
        found = protocol.unsupported() if protocol else []
        if protocol and found:
            log.warning(
                "%s was created at Delta %s with %s although fabgen pins reader 1 / writer 2: this "
                "session's defaults (spark.databricks.delta.properties.defaults.*) added them. Spark "
                "uses the table; the python engine refuses it until it is rebuilt (%s)",
                path,
                state_protocol.describe(protocol.min_reader_version, protocol.min_writer_version),
                ", ".join(found),
                state_protocol.REBUILD,
            )

    def await_table(self, path: str) -> bool:
        """Whether ``path`` has, or within ``wait_seconds`` gets, a Delta commit.

        The commit files are listed directly: Delta caches a table it found empty, so asking
        Delta again would not see another process's first commit.
        """
        deadline = time.monotonic() + self.wait_seconds
        while True:
            if self.has_commit(path):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_SECONDS)

    def add_missing_columns(self, path: str, columns: Mapping[str, str]) -> None:
        """Add the columns a table made by an earlier fabgen lacks (``manifest_path``, the lease)."""
        fields = guarded(lambda: self.spark.read.format("delta").load(path).schema.fields, f"reading {path}")
        present = {f.name.lower() for f in fields}
        missing = [(name, kind) for name, kind in columns.items() if name.lower() not in present]
        if not missing:
            return
        quoted = path.replace("`", "``")
        added = ", ".join(f"{name} {kind.upper()}" for name, kind in missing)
        statement = f"ALTER TABLE delta.`{quoted}` ADD COLUMNS ({added})"
        with table_lock(path):
            guarded(
                lambda: retry_conflicts(
                    lambda: self.writer_session.sql(statement), f"adding columns to {path}"
                ),
                f"adding columns to {path}",
            )
        log.info("added column(s) %s to %s", ", ".join(n for n, _k in missing), path)


def rebuild_state_table(spark: SparkSession, path: str) -> str:
    """Rebuild the state table at ``path`` with the pinned protocol; return where the old table went.

    For a table an older fabgen created under Fabric Runtime 2.0's defaults (deletion vectors, which
    the Python engine's delta-rs cannot use; its refusal names this call). Run it once in a Spark
    notebook while no fabgen run uses the config lakehouse: the table's rows at its current version
    are copied (deleted rows stay deleted) into a new table created as :class:`TableSetup` creates
    one (:mod:`fabgen_runtime.state_protocol`, with the old table's columns), beside the old one;
    then the old table is moved to ``<path>_fabgen_backup_<UTC time>`` and the new one to ``path``.
    A commit to the table while it is copied stops the rebuild before anything moves (the copy is
    removed): run it again when no run is active. Remove the backup once runs succeed.
    """
    from delta.tables import DeltaTable
    from pyspark.sql.types import StructField, StructType

    from .fs import HadoopFS
    from .jvm import gateway

    path = path.rstrip("/")
    store = HadoopFS(spark)
    if not has_delta_log(spark, path):
        raise StateError(f"{path} is not a Delta table: nothing to rebuild")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    copy, backup = f"{path}_fabgen_rebuild_{stamp}", f"{path}_fabgen_backup_{stamp}"

    def version() -> int:
        return int(DeltaTable.forPath(spark, path).history(1).collect()[0]["version"])

    def rebuild() -> None:
        start = version()
        rows = spark.read.format("delta").option("versionAsOf", start).load(path)
        # the columns without their field metadata (a column-mapped table's physical names)
        schema = StructType([StructField(f.name, f.dataType, f.nullable) for f in rows.schema.fields])
        builder = DeltaTable.create(spark).location(copy).addColumns(schema)
        for key, value in state_protocol.spark_properties(spark.version).items():
            builder = builder.property(key, value)
        builder.execute()
        rows.write.format("delta").mode("append").save(copy)
        copied, expected = spark.read.format("delta").load(copy).count(), rows.count()
        if copied != expected:
            raise StateError(f"rebuilding {path}: {copied} rows copied of {expected}")
        if version() != start:
            raise StateError(
                f"{path} was written while it was being rebuilt (version {start} -> {version()}): "
                "nothing was moved; rebuild it again when no fabgen run uses the config lakehouse"
            )

    try:
        guarded(rebuild, f"rebuilding {path}")
    except StateError:
        store.delete(copy, recursive=True)
        raise
    store.rename(path, backup)
    try:
        store.rename(copy, path)
    except OSError as exc:  # put the old table back: a missing table would be created anew, empty
        store.rename(backup, path)
        raise StateError(
            f"rebuilding {path}: {exc}; the table was left as it was, the copy is {copy}"
        ) from exc
    # the driver's cached Delta log of ``path`` describes the old table
    gateway(spark).org.apache.spark.sql.delta.DeltaLog.clearCache()
    guarded(lambda: spark.read.format("delta").load(path).schema, f"reading the rebuilt {path}")
    protocol = protocol_of(spark, path)
    found = protocol.unsupported() if protocol else []
    if found:
        raise StateError(f"{path} was rebuilt but still has {', '.join(found)}; the old table is at {backup}")
    log.info("rebuilt %s with the pinned protocol; the old table is at %s", path, backup)
    return backup
