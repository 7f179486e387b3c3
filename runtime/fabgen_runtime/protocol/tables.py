"""The ``TableStore`` port: the operations the run protocol needs from the two state tables.

``log_resource_export`` (one row per run, keyed by ``export_run_id``) and
``log_resource_export_watermark`` (one row per export, keyed by group and name: its watermark and
its lease) are Delta tables; an engine reaches them through this port over plain Python rows
(:class:`~fabgen_runtime.state_model.ExportRunRecord`, mappings of column -> value). Every
write is ONE Delta commit, conditional where the protocol needs it, so two processes (any engine)
racing on the same rows are settled by Delta's optimistic concurrency: one commit wins, the other
is retried and re-evaluates its condition against the winner's rows.

The conditions are those of :mod:`.lease` (:func:`~.lease.is_free`, :func:`~.lease.cas_allows`);
the SQL text below states them for MERGE predicates, over column names only (values always travel
in the MERGE's source rows, never pasted into text). Spark's :mod:`fabgen_runtime.engines.spark.leases` uses
the same predicates; :mod:`fabgen_runtime.engines.python.tables` is the delta-rs adapter.

:func:`take_leases` is the engine-neutral acquire step (take, read back, take over the leases of
dead local processes) written once over the port.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from ..state_model import ExportRunRecord
from . import lease as rules
from .journal import this_host

if TYPE_CHECKING:
    from ..status import StateReader

Key = tuple[str, str]
Row = dict[str, Any]

LEASE_COLUMNS = (
    "lease_owner",
    "lease_run_id",
    "lease_execution_id",
    "lease_host",
    "lease_pid",
    "lease_expires_at",
)

#: MERGE predicates (target alias ``t``, source alias ``s``), shared by every engine.
KEY_MATCH = "t.export_group_name = s.export_group_name AND t.export_name = s.export_name"
#: :func:`.lease.is_free` as a predicate: free, expired, ours, or the dead holder we take over.
TAKE_CONDITION = (
    "t.lease_owner IS NULL OR t.lease_expires_at < s.now_ts OR t.lease_owner = s.lease_owner"
    " OR t.lease_owner = s.takeover_owner"
)
#: :func:`.lease.cas_allows` as a predicate: we hold the lease and the stored value is still the
#: one the run started from (NULL-safe), or already this run's. (The parentheses matter: delta-rs's
#: SQL parser binds ``IS NOT DISTINCT FROM`` looser than ``OR``.)
CAS_CONDITION = (
    "t.lease_owner = s.lease_owner AND s.new_watermark IS NOT NULL AND"
    " ((t.watermark_value IS NOT DISTINCT FROM s.expected_watermark) OR t.updated_by_run_id = s.run_id)"
)
#: rows of a store without a new watermark (release, or record the exported schema only).
NO_WATERMARK_CONDITION = "t.lease_owner = s.lease_owner AND s.new_watermark IS NULL"


@dataclass(frozen=True)
class LeaseClaim:
    """One export's lease to take for a run (``takeover``: the dead holder's owner id, if any)."""

    key: Key
    run_id: str
    execution_id: str
    takeover: str | None = None


@dataclass(frozen=True)
class WatermarkWrite:
    """One export's new watermark to store (``value`` None: release, or record the schema, only)."""

    key: Key
    value: str | None
    expected: str | None
    column: str | None
    type: str | None
    run_id: str
    execution_id: str
    schema: str | None = None  # exported_schema of a published run (stored with or without a watermark)


@dataclass(frozen=True)
class LeaseTerms:
    """Who takes a lease and until when (the rows' ``lease_*`` values)."""

    owner: str
    expires_at: datetime
    now: datetime
    host: str = ""
    pid: int = 0

    def __post_init__(self) -> None:
        if not self.host:
            object.__setattr__(self, "host", this_host())
        if not self.pid:
            object.__setattr__(self, "pid", os.getpid())


class LeaseStore(Protocol):
    """The watermark-table operations the lease protocol (:class:`.leasing.Leases`) runs on.

    Writers retry Delta's commit conflicts themselves (backoff with jitter) and raise
    :class:`~fabgen_runtime.errors.StateError` on any other failure. Spark's is
    :class:`fabgen_runtime.engines.spark.leases.SparkLeaseStore`; every :class:`TableStore` is one.
    """

    def read_watermarks(self, keys: Iterable[Key]) -> dict[Key, Row]:
        """The watermark-table rows (watermark, lease, exported schema) of ``keys``."""
        ...

    def take(self, claims: Sequence[LeaseClaim], terms: LeaseTerms) -> None:
        """ONE conditional MERGE: take each claimed lease where :data:`TAKE_CONDITION` holds;
        insert a row for an export that has none. Read back to see which were taken."""
        ...

    def renew(self, terms: LeaseTerms) -> None:
        """Push the expiry of every lease ``terms.owner`` holds (one commit)."""
        ...

    def store(self, writes: Sequence[WatermarkWrite], terms: LeaseTerms, release: bool) -> int:
        """ONE MERGE: store each new watermark where :data:`CAS_CONDITION` holds (with its
        exported schema), and, when ``release``, free the leases of the rows it stored and of the
        rows without a new watermark (a refused CAS keeps its lease). Returns the rows updated
        (-1 when the engine cannot tell: the caller reads back)."""
        ...

    def release(self, terms: LeaseTerms) -> None:
        """Free every lease ``terms.owner`` still holds (one commit)."""
        ...


class TableStore(LeaseStore, Protocol):
    """The state-table operations of the run protocol (one Delta commit per write): the lease
    operations plus the log table's. :class:`fabgen_runtime.export_logger.ExportLogger` is written
    over it; Spark's is :class:`fabgen_runtime.engines.spark.tables.SparkTables`, the Python
    engine's :class:`fabgen_runtime.engines.python.tables.DeltaRsTables`."""

    log_path: str
    watermark_path: str
    auto_create_tables: bool

    @property
    def commits(self) -> int:
        """Delta commits made to the two tables so far."""
        ...

    def exists(self, path: str) -> bool:
        """Whether the Delta table at ``path`` (one of the two) exists; creates nothing."""
        ...

    def reader(self) -> StateReader:
        """The read-only views of :mod:`fabgen_runtime.status` over these tables."""
        ...

    def watermark_history(self, keys: Iterable[Key]) -> list[Row]:
        """Success/warning run rows of ``keys`` that recorded a new watermark (one read)."""
        ...

    def set_watermark(
        self,
        key: Key,
        incremental_column: str,
        value: str,
        run_id: str,
        watermark_type: str | None,
        execution_id: str | None,
    ) -> None:
        """Store one export's watermark unconditionally (one MERGE on the key, no lease)."""
        ...

    def ensure_tables(self) -> None:
        """Create both tables when missing (same schema for every engine); add missing columns."""
        ...

    def append_runs(self, records: Sequence[ExportRunRecord]) -> None:
        """Append new run rows (normally ``pending``) in one commit."""
        ...

    def upsert_runs(self, records: Sequence[ExportRunRecord]) -> None:
        """Upsert run rows by ``export_run_id`` in one MERGE (last one of each id wins)."""
        ...

    def get_runs(self, run_ids: Iterable[str]) -> dict[str, ExportRunRecord]:
        """Run rows by id (absent ids are missing from the result)."""
        ...

    def latest_states(self, execution_id: str) -> dict[Key, Row]:
        """Each export's latest run row of one execution (by ``queued_at``, then ``updated_at``)."""
        ...


def take_leases(
    store: LeaseStore, claims: Sequence[LeaseClaim], terms: LeaseTerms
) -> tuple[dict[Key, Row], dict[Key, rules.Lease]]:
    """Take the leases of ``claims``: one MERGE, one read; a lease held by a process of this host
    that is gone (:func:`.lease.dead_local_holder`) is taken over by a second MERGE, only then.

    Returns (rows of every key as read at the end, leases refused by a live holder).
    """
    store.take(claims, terms)
    keys = [c.key for c in claims]
    rows = store.read_watermarks(keys)
    stale = {
        key: row["lease_owner"]
        for key, row in rows.items()
        if row.get("lease_owner") not in (None, terms.owner)
        and rules.dead_local_holder(rules.Lease.of(row), terms.host)
    }
    if stale:
        retake = [LeaseClaim(c.key, c.run_id, c.execution_id, stale[c.key]) for c in claims if c.key in stale]
        store.take(retake, terms)
        rows = store.read_watermarks(keys)
    refused = {
        key: rules.Lease.of(rows.get(key, {}))
        for key in keys
        if rows.get(key, {}).get("lease_owner") != terms.owner
    }
    return rows, refused


def stored_keys(after: Mapping[Key, Row], writes: Sequence[WatermarkWrite]) -> set[Key]:
    """The keys of ``writes`` whose new watermark the table now holds (:func:`.lease.watermark_stored`)."""
    return {
        w.key
        for w in writes
        if w.value is not None and rules.watermark_stored(after.get(w.key), w.value, w.run_id)
    }
