"""Creating and upgrading the state tables (the export log and the watermark table).

A table is created when missing, and columns a table made by an earlier fabgen lacks are added.
Two runs starting at once on a new config lakehouse both try to create the tables: Delta lets one
commit and refuses the other (its location is no longer empty), so the loser waits for the
winner's first commit and uses that table instead of failing. A folder that never becomes a Delta
table is reported, never touched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, TypeVar

from .commits import retry_conflicts, table_lock
from .errors import StateError
from .spark_errors import guarded, spark_errors, spark_message
from .state_model import struct

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)
T = TypeVar("T")

POLL_SECONDS = 0.5
FIRST_COMMIT = "00000000000000000000.json"  # a Delta table's version 0


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

        def create() -> None:
            DeltaTable.createIfNotExists(self.spark).location(path).addColumns(struct(columns)).execute()

        with table_lock(path):
            try:
                retry_conflicts(create, f"creating {path}")
                return
            except spark_errors() as exc:
                failure = exc
        # Delta refuses a location another creator has already written to (its _delta_log is
        # there, its first commit not yet): that creator's table is the one to use.
        if not self.await_table(path):
            raise StateError(f"creating {path} failed: {spark_message(failure)}") from failure
        log.info("%s was created by another run at the same time; using it", path)

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
