"""Leases and watermarks on Delta: the commits that apply :mod:`fabgen_runtime.protocol.lease`.

``log_resource_export_watermark`` holds one row per export: the spec's watermark columns plus the
lease (``lease_owner``, ``lease_run_id``, ``lease_execution_id``, ``lease_host``, ``lease_pid``,
``lease_expires_at``). Full and period exports get a row with a NULL watermark.

* :meth:`LeaseTable.acquire`: ONE conditional MERGE takes every lease that is free, ours or
  expired, then ONE read gives which we hold and every watermark. Two processes MERGE-ing at
  once conflict (Delta optimistic concurrency); the loser is re-run and sees the winner's lease.
  A lease held by a process of this host that is gone is taken over at once (a second MERGE,
  only then).
* :meth:`LeaseTable.renew`: one UPDATE of our leases' expiry (a heartbeat every TTL/3).
* :meth:`LeaseTable.store`: ONE MERGE stores the new watermarks as a compare-and-set (only where
  the stored value is still the one the run started from, or already this run's), records each
  published run's ``exported_schema`` (also without a new watermark: 0 rows, full, period) and
  releases the leases; a read then tells which watermarks were stored.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .commits import retry_conflicts, table_lock
from .protocol import lease as rules
from .protocol.journal import this_host
from .protocol.tables import (
    CAS_CONDITION,
    KEY_MATCH,
    LEASE_COLUMNS,
    NO_WATERMARK_CONDITION,
    TAKE_CONDITION,
    Key,
    WatermarkWrite,
)
from .state_model import WATERMARK_COLUMNS, WATERMARK_TABLE, now_utc

if TYPE_CHECKING:
    from pyspark.sql import Column

    from .state import ExportLogger

log = logging.getLogger(__name__)
__all__ = ["KEY_MATCH", "LEASE_COLUMNS", "Key", "LeaseTable", "WatermarkWrite"]


class LeaseTable:
    """The leases of one orchestrator call (one owner id) on a logger's watermark table."""

    def __init__(self, logger: ExportLogger, owner: str | None = None):
        self.logger = logger
        self.owner = owner or rules.new_owner()
        self.seconds = rules.lease_seconds()
        self.held: set[Key] = set()
        self.valid_until = 0.0  # time.monotonic() until which our leases surely hold
        self.renew_error: str | None = None
        self._check_lock = threading.Lock()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ acquire
    def acquire(
        self, runs: dict[Key, tuple[str, str]]
    ) -> tuple[dict[Key, dict[str, Any]], dict[Key, rules.Lease]]:
        """Take the leases of ``runs`` ({key: (run_id, execution_id)}).

        Returns (rows of every key, as read after the MERGE; leases refused by a live holder).
        """
        self.logger.ensure_tables()
        started = self._merge_take(runs, {})
        rows = self.read(runs)
        stale = {
            key: row["lease_owner"]
            for key, row in rows.items()
            if row.get("lease_owner") not in (None, self.owner)
            and rules.dead_local_holder(rules.Lease.of(row), this_host())
        }
        if stale:
            log.info("taking over %d lease(s) of processes of this host that are gone", len(stale))
            started = self._merge_take({k: runs[k] for k in stale}, stale)
            rows = self.read(runs)
        refused = {}
        for key in runs:
            row = rows.get(key, {})
            if row.get("lease_owner") == self.owner:
                self.held.add(key)
            else:
                refused[key] = rules.Lease.of(row)
        self.valid_until = started + self.seconds
        return rows, refused

    def _merge_take(self, runs: dict[Key, tuple[str, str]], takeover: dict[Key, str]) -> float:
        """One MERGE taking the leases; returns ``time.monotonic()`` of the moment the expiry counts from."""
        from delta.tables import DeltaTable
        from pyspark.sql import functions as F

        started = time.monotonic()
        now = now_utc()
        expires = rules.expiry(now, self.seconds)
        host, pid = this_host(), _pid()
        columns = {
            "export_group_name": "string", "export_name": "string", "lease_owner": "string",
            "lease_run_id": "string", "lease_execution_id": "string", "lease_host": "string",
            "lease_pid": "bigint", "lease_expires_at": "timestamp", "now_ts": "timestamp",
            "takeover_owner": "string",
        }  # fmt: skip
        rows = [
            (g, n, self.owner, run, execution, host, pid, expires, now, takeover.get((g, n)))
            for (g, n), (run, execution) in sorted(runs.items())
        ]
        path = self.logger.watermark_path
        condition = TAKE_CONDITION  # the port's predicates: the same for every engine
        lease_set: dict[str, str | Column] = {c: F.col(f"s.{c}") for c in LEASE_COLUMNS}
        insert: dict[str, str | Column] = {
            **lease_set,
            "export_group_name": F.col("s.export_group_name"),
            "export_name": F.col("s.export_name"),
        }

        def merge() -> None:
            source = self.logger.frame(rows, columns)
            (
                DeltaTable.forPath(self.logger.writer_session, path)
                .alias("t")
                .merge(source.alias("s"), KEY_MATCH)
                .whenMatchedUpdate(condition=condition, set=lease_set)
                .whenNotMatchedInsert(values=insert)
                .execute()
            )

        self._commit(merge, f"taking {len(rows)} lease(s)")
        return started

    def read(self, keys: Iterable[Key]) -> dict[Key, dict[str, Any]]:
        """The watermark-table rows of ``keys`` (one read)."""
        from pyspark.sql import functions as F

        wanted = set(keys)
        groups = sorted({g for g, _n in wanted})
        names = sorted({n for _g, n in wanted})

        def read() -> list[Any]:
            df = self.logger.spark.read.format("delta").load(self.logger.watermark_path)
            return df.where(
                F.col("export_group_name").isin(groups) & F.col("export_name").isin(names)
            ).collect()

        rows = self.logger.guard(read, f"reading {WATERMARK_TABLE}")
        out = {}
        for row in rows:
            item = row.asDict()
            key = (item["export_group_name"], item["export_name"])
            if key in wanted:
                out[key] = item
        return out

    # ------------------------------------------------------------------ heartbeat
    def start_heartbeat(self) -> None:
        """Renew our leases every TTL/3 on a daemon thread until :meth:`stop_heartbeat`."""
        if self._thread is not None or not self.held:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name="fabgen-lease-heartbeat", daemon=True)
        self._thread.start()

    def stop_heartbeat(self) -> None:
        """Stop renewing (called in ``finally``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _beat(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                self.renew()
                self.renew_error = None
            except Exception as exc:  # kept and reported: publishing refuses once valid() is False
                self.renew_error = f"{type(exc).__name__}: {exc}"
                log.warning("lease renewal failed (the next beat tries again): %s", self.renew_error)

    def renew(self) -> None:
        """Push the expiry of every lease we hold (one UPDATE)."""
        from delta.tables import DeltaTable
        from pyspark.sql import functions as F

        if not self.held:
            return
        started = time.monotonic()
        expires = rules.expiry(now_utc(), self.seconds)

        def update() -> None:
            DeltaTable.forPath(self.logger.writer_session, self.logger.watermark_path).update(
                F.col("lease_owner") == F.lit(self.owner), {"lease_expires_at": F.lit(expires)}
            )

        self._commit(update, "renewing leases")
        self.valid_until = started + self.seconds

    def valid(self) -> bool:
        """True while our leases have surely not lapsed (by the local clock)."""
        return time.monotonic() < self.valid_until - 1.0

    def holds(self, key: Key) -> bool:
        """True when we surely hold ``key``'s lease (checked before publishing).

        When the local clock says it may have lapsed (a slow heartbeat), the leases are renewed
        (an UPDATE that only touches rows still ours) and the row is read back: the lease holds
        only if it is still ours then.
        """
        if key not in self.held:
            return False
        if self.valid():
            return True
        with self._check_lock:
            if self.valid():
                return True
            self.renew()
            row = self.read([key]).get(key, {})
            if row.get("lease_owner") == self.owner:
                return True
            self.held.discard(key)
            log.error("%s/%s: lease lost to %s", key[0], key[1], rules.Lease.of(row).describe())
            return False

    # ------------------------------------------------------------------ store + release
    def store(self, writes: list[WatermarkWrite], release: bool = True) -> set[Key]:
        """Store watermarks (compare-and-set) and release the leases of ``writes`` in ONE MERGE.

        Returns the keys whose new watermark is stored (read back after the MERGE).
        """
        from delta.tables import DeltaTable
        from pyspark.sql import functions as F

        if not writes:
            return set()
        now = now_utc()
        columns = {
            "export_group_name": "string", "export_name": "string", "lease_owner": "string",
            "new_watermark": "string", "expected_watermark": "string", "incremental_column": "string",
            "watermark_type": "string", "run_id": "string", "execution_id": "string", "now_ts": "timestamp",
            "exported_schema": "string",
        }  # fmt: skip
        rows = [
            (
                w.key[0],
                w.key[1],
                self.owner,
                w.value,
                w.expected,
                w.column,
                w.type,
                w.run_id,
                w.execution_id,
                now,
                w.schema,
            )
            for w in writes
        ]
        cas = CAS_CONDITION
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
        path = self.logger.watermark_path
        metrics: dict[str, Any] = {}

        def merge() -> None:
            source = self.logger.frame(rows, columns)
            builder = (
                DeltaTable.forPath(self.logger.writer_session, path)
                .alias("t")
                .merge(source.alias("s"), KEY_MATCH)
                .whenMatchedUpdate(condition=cas, set={**stored, **freed})
            )
            no_watermark = NO_WATERMARK_CONDITION
            if release:  # rows without a new watermark: release (a refused CAS keeps its lease)
                builder = builder.whenMatchedUpdate(condition=no_watermark, set={**freed, **schema})
            else:  # recovery of a run without a new watermark: its schema only
                builder = builder.whenMatchedUpdate(
                    condition=f"{no_watermark} AND s.exported_schema IS NOT NULL", set=schema
                )
            outcome = builder.execute()  # Delta >= 3: a one-row DataFrame of metrics
            metrics.clear()
            if outcome is not None:
                metrics.update(outcome.collect()[0].asDict())

        self._commit(merge, f"storing {sum(1 for w in writes if w.value)} watermark(s)")
        wanted = [w for w in writes if w.value is not None]
        schema_only = [w for w in writes if w.value is None and w.schema is not None]
        expected_updates = len(writes) if release else len(wanted) + len(schema_only)
        if metrics.get("num_updated_rows") == expected_updates:
            done = {w.key for w in wanted}  # every clause applied: no read needed
        else:
            after = self.read(w.key for w in wanted) if wanted else {}
            done = {
                w.key for w in wanted if rules.watermark_stored(after.get(w.key), w.value or "", w.run_id)
            }
        if release:
            self.held -= {w.key for w in writes if w.value is None or w.key in done}
            refused = [w.key for w in wanted if w.key not in done]
            if refused:
                self.release(refused)
        return done

    def release(self, keys: Iterable[Key] | None = None) -> None:
        """Release leases without storing anything (all we still hold by default)."""
        from delta.tables import DeltaTable
        from pyspark.sql import functions as F

        keys = set(self.held if keys is None else keys) & self.held
        if not keys:
            return
        if keys != self.held:
            self.store([WatermarkWrite(k, None, None, None, None, "", "") for k in sorted(keys)])
            return

        def update() -> None:
            DeltaTable.forPath(self.logger.writer_session, self.logger.watermark_path).update(
                F.col("lease_owner") == F.lit(self.owner), {c: F.lit(None) for c in LEASE_COLUMNS}
            )

        self._commit(update, f"releasing {len(keys)} lease(s)")
        self.held -= keys

    def _commit(self, action: Any, what: str) -> None:
        path = self.logger.watermark_path
        with table_lock(path):
            self.logger.guard(lambda: retry_conflicts(action, what), f"writing {WATERMARK_TABLE}")
        self.logger.count_commit()


def _pid() -> int:
    import os

    return os.getpid()


assert set(LEASE_COLUMNS) <= set(WATERMARK_COLUMNS)
