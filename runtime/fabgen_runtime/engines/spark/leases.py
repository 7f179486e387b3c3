"""Leases and watermarks on Delta with Spark: the lease-store adapter of the run protocol.

``log_resource_export_watermark`` holds one row per export: the spec's watermark columns plus the
lease (``lease_owner``, ``lease_run_id``, ``lease_execution_id``, ``lease_host``, ``lease_pid``,
``lease_expires_at``). Full and period exports get a row with a NULL watermark.

The lease protocol itself (take, read back, take over a dead local holder, heartbeat, "do we
surely still hold it", compare-and-set store and release) is written once, in
:class:`fabgen_runtime.protocol.leasing.Leases`, for both engines. :class:`SparkLeaseStore` gives it
the table operations as Delta-on-Spark commits, with the shared MERGE predicates of
:mod:`fabgen_runtime.protocol.tables` (values travel in the MERGE's source rows):

* :meth:`SparkLeaseStore.take`: ONE conditional MERGE takes every claimed lease that is free, ours,
  expired or a dead holder's; two processes MERGE-ing at once conflict (Delta optimistic
  concurrency) and the loser is re-run, so it sees the winner's lease;
* :meth:`SparkLeaseStore.renew`: one UPDATE of our leases' expiry;
* :meth:`SparkLeaseStore.store`: ONE MERGE stores the new watermarks as a compare-and-set, records
  each published run's ``exported_schema`` and (``release``) frees the leases;
* :meth:`SparkLeaseStore.release`: one UPDATE freeing every lease we hold.

:class:`.tables.SparkTables` (the Spark ``TableStore``) delegates its lease operations here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ...commits import retry_conflicts, table_lock
from ...protocol.tables import (
    CAS_CONDITION,
    KEY_MATCH,
    LEASE_COLUMNS,
    NO_WATERMARK_CONDITION,
    TAKE_CONDITION,
    Key,
    LeaseClaim,
    LeaseTerms,
    Row,
    WatermarkWrite,
)
from ...state_model import WATERMARK_COLUMNS, WATERMARK_TABLE

if TYPE_CHECKING:
    from pyspark.sql import Column

    from .tables import SparkTables

log = logging.getLogger(__name__)
__all__ = ["KEY_MATCH", "LEASE_COLUMNS", "Key", "SparkLeaseStore", "WatermarkWrite"]

_TAKE_COLUMNS = {
    "export_group_name": "string", "export_name": "string", "lease_owner": "string",
    "lease_run_id": "string", "lease_execution_id": "string", "lease_host": "string",
    "lease_pid": "bigint", "lease_expires_at": "timestamp", "now_ts": "timestamp",
    "takeover_owner": "string",
}  # fmt: skip
_STORE_COLUMNS = {
    "export_group_name": "string", "export_name": "string", "lease_owner": "string",
    "new_watermark": "string", "expected_watermark": "string", "incremental_column": "string",
    "watermark_type": "string", "run_id": "string", "execution_id": "string", "now_ts": "timestamp",
    "exported_schema": "string",
}  # fmt: skip


class SparkLeaseStore:
    """The lease operations of :class:`~fabgen_runtime.protocol.tables.TableStore` on Spark."""

    def __init__(self, tables: SparkTables):
        self.tables = tables

    def take(self, claims: Sequence[LeaseClaim], terms: LeaseTerms) -> None:
        """ONE MERGE taking each claimed lease where the shared take condition holds."""
        from delta.tables import DeltaTable
        from pyspark.sql import functions as F

        self.tables.ensure_tables()
        rows = [
            (
                c.key[0],
                c.key[1],
                terms.owner,
                c.run_id,
                c.execution_id,
                terms.host,
                terms.pid,
                terms.expires_at,
                terms.now,
                c.takeover,
            )
            for c in sorted(claims, key=lambda c: c.key)
        ]
        lease_set: dict[str, str | Column] = {c: F.col(f"s.{c}") for c in LEASE_COLUMNS}
        insert: dict[str, str | Column] = {
            **lease_set,
            "export_group_name": F.col("s.export_group_name"),
            "export_name": F.col("s.export_name"),
        }

        def merge() -> None:
            source = self.tables.frame(rows, _TAKE_COLUMNS)
            (
                DeltaTable.forPath(self.tables.writer_session, self.tables.watermark_path)
                .alias("t")
                .merge(source.alias("s"), KEY_MATCH)
                .whenMatchedUpdate(condition=TAKE_CONDITION, set=lease_set)
                .whenNotMatchedInsert(values=insert)
                .execute()
            )

        self._commit(merge, f"taking {len(rows)} lease(s)")

    def read_watermarks(self, keys: Iterable[Key]) -> dict[Key, Row]:
        """The watermark-table rows of ``keys`` (one read)."""
        from pyspark.sql import functions as F

        wanted = set(keys)
        if not wanted:
            return {}
        groups = sorted({g for g, _n in wanted})
        names = sorted({n for _g, n in wanted})

        def read() -> list[Any]:
            df = self.tables.spark.read.format("delta").load(self.tables.watermark_path)
            return df.where(
                F.col("export_group_name").isin(groups) & F.col("export_name").isin(names)
            ).collect()

        out = {}
        for row in self.tables.guard(read, f"reading {WATERMARK_TABLE}"):
            item = row.asDict()
            key = (item["export_group_name"], item["export_name"])
            if key in wanted:
                out[key] = item
        return out

    def renew(self, terms: LeaseTerms) -> None:
        """Push the expiry of every lease ``terms.owner`` holds (one UPDATE)."""
        self._update_own(terms.owner, {"lease_expires_at": terms.expires_at}, "renewing leases")

    def release(self, terms: LeaseTerms) -> None:
        """Free every lease ``terms.owner`` still holds (one UPDATE)."""
        self._update_own(terms.owner, dict.fromkeys(LEASE_COLUMNS), "releasing leases")

    def store(self, writes: Sequence[WatermarkWrite], terms: LeaseTerms, release: bool) -> int:
        """ONE MERGE: compare-and-set the new watermarks (with their exported schema) and, when
        ``release``, free the leases; returns the rows updated (-1: Delta did not say)."""
        from delta.tables import DeltaTable
        from pyspark.sql import functions as F

        rows = [
            (
                w.key[0],
                w.key[1],
                terms.owner,
                w.value,
                w.expected,
                w.column,
                w.type,
                w.run_id,
                w.execution_id,
                terms.now,
                w.schema,
            )
            for w in writes
        ]
        freed: dict[str, str | Column] = {c: F.lit(None) for c in LEASE_COLUMNS} if release else {}
        schema: dict[str, str | Column] = {
            "exported_schema": F.coalesce(F.col("s.exported_schema"), F.col("t.exported_schema"))
        }
        stored: dict[str, str | Column] = {
            "watermark_value": F.col("s.new_watermark"),
            "incremental_column": F.col("s.incremental_column"),
            "watermark_type": F.col("s.watermark_type"),
            "updated_at": F.col("s.now_ts"),
            "updated_by_run_id": F.col("s.run_id"),
            "master_execution_id": F.col("s.execution_id"),
            **schema,
        }
        metrics: dict[str, Any] = {}

        def merge() -> None:
            source = self.tables.frame(rows, _STORE_COLUMNS)
            builder = (
                DeltaTable.forPath(self.tables.writer_session, self.tables.watermark_path)
                .alias("t")
                .merge(source.alias("s"), KEY_MATCH)
                .whenMatchedUpdate(condition=CAS_CONDITION, set={**stored, **freed})
            )
            if release:  # rows without a new watermark: release (a refused CAS keeps its lease)
                builder = builder.whenMatchedUpdate(condition=NO_WATERMARK_CONDITION, set={**freed, **schema})
            else:  # recovery of a run without a new watermark: its schema only
                builder = builder.whenMatchedUpdate(
                    condition=f"{NO_WATERMARK_CONDITION} AND s.exported_schema IS NOT NULL", set=schema
                )
            outcome = builder.execute()  # Delta >= 3: a one-row DataFrame of metrics
            metrics.clear()
            if outcome is not None:
                metrics.update(outcome.collect()[0].asDict())

        self._commit(merge, f"storing {sum(1 for w in writes if w.value)} watermark(s)")
        return int(metrics.get("num_updated_rows", -1))

    def _update_own(self, owner: str, values: dict[str, Any], what: str) -> None:
        from delta.tables import DeltaTable
        from pyspark.sql import functions as F

        def update() -> None:
            DeltaTable.forPath(self.tables.writer_session, self.tables.watermark_path).update(
                F.col("lease_owner") == F.lit(owner), {c: F.lit(v) for c, v in values.items()}
            )

        self._commit(update, what)

    def _commit(self, action: Any, what: str) -> None:
        path = self.tables.watermark_path
        with table_lock(path):
            self.tables.guard(lambda: retry_conflicts(action, what), f"writing {WATERMARK_TABLE}")
        self.tables.count_commit()


assert set(LEASE_COLUMNS) <= set(WATERMARK_COLUMNS)
