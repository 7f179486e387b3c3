"""The state tables with delta-rs: the :class:`~fabgen_runtime.protocol.tables.TableStore` adapter.

:class:`DeltaRsTables` reads and writes ``log_resource_export`` and
``log_resource_export_watermark`` with ``deltalake`` (no Spark), with the columns of
:mod:`fabgen_runtime.state_model` (the same Delta schema Spark's
:mod:`fabgen_runtime.engines.spark.state_tables` creates: reader 1 / writer 2, no table features), so either
engine reads and writes tables the other created.

Every write is one delta-rs commit: an append, or a MERGE whose conditions are the shared
predicates of :mod:`fabgen_runtime.protocol.tables`, with the values in the MERGE's source rows
(never pasted into SQL text). delta-rs checks a commit against the commits that landed since the
version it read (its conflict checker); a logical conflict raises ``CommitFailedError`` and the
whole operation is re-run on the new version (:func:`fabgen_runtime.commits.retry_conflicts`),
so its condition is evaluated again against the winner's rows.

Opening, creating and checking the tables (empty or damaged commit files, protocols delta-rs
cannot use) is :mod:`fabgen_runtime.engines.python.table_access`; the Arrow types of the columns
are :mod:`fabgen_runtime.engines.python.state_schema`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import pyarrow.dataset as ds

from ...protocol import tables as port
from ...protocol.tables import Key, LeaseClaim, LeaseTerms, Row, WatermarkWrite
from ...state_model import LOG_COLUMNS, LOG_TABLE, WATERMARK_TABLE, ExportRunRecord, now_utc
from .state_schema import arrow_schema, arrow_type, rows_table
from .status import DeltaRsStateReader
from .table_access import CREATE_WAIT_SECONDS, POLL_SECONDS, DeltaTableAccess, creation_lock, is_conflict

__all__ = [
    "CREATE_WAIT_SECONDS",
    "POLL_SECONDS",
    "DeltaRsTables",
    "DeltaTableAccess",
    "arrow_schema",
    "arrow_type",
    "creation_lock",
    "is_conflict",
]


class DeltaRsTables(DeltaTableAccess):
    """The two state tables at ``log_path`` and ``watermark_path``, read and written with delta-rs."""

    def reader(self) -> DeltaRsStateReader:
        """Read-only views of the tables for :mod:`fabgen_runtime.status`."""
        return DeltaRsStateReader(self)

    # ------------------------------------------------------------------ export runs
    def append_runs(self, records: Sequence[ExportRunRecord]) -> None:
        """Append new run rows in one commit."""
        from deltalake import write_deltalake

        if not records:
            return
        self.ensure_tables()
        data = rows_table([r.row() for r in records], LOG_COLUMNS)
        self._commit(
            self.log_path,
            lambda: write_deltalake(self.log_path, data, mode="append", storage_options=self.options),
            f"appending {len(records)} run row(s)",
        )

    def upsert_runs(self, records: Sequence[ExportRunRecord]) -> None:
        """Upsert run rows by ``export_run_id`` in one MERGE (the last record of each id wins)."""
        if not records:
            return
        self.ensure_tables()
        latest = {r.export_run_id: r.row() for r in records}
        data = rows_table(list(latest.values()), LOG_COLUMNS)

        def merge() -> dict[str, Any]:
            return (
                self._table(self.log_path)
                .merge(data, "t.export_run_id = s.export_run_id", source_alias="s", target_alias="t")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute()
            )

        self._commit(self.log_path, merge, f"{LOG_TABLE} merge of {len(latest)} row(s)")

    def get_runs(self, run_ids: Iterable[str]) -> dict[str, ExportRunRecord]:
        """Run rows by id (one read)."""
        ids = sorted(set(run_ids))
        if not ids:
            return {}
        self.ensure_tables()
        rows = self.read(self.log_path, ds.field("export_run_id").isin(ids), LOG_TABLE)
        fields = {f.name for f in dataclasses.fields(ExportRunRecord)}
        out = {}
        for row in rows:
            record = ExportRunRecord(**{k: v for k, v in row.items() if k in fields})
            out[record.export_run_id] = record
        return out

    def latest_states(self, execution_id: str) -> dict[Key, Row]:
        """Each export's latest run row of ``execution_id`` (by ``queued_at``, then ``updated_at``)."""
        self.ensure_tables()
        rows = self.read(self.log_path, ds.field("master_execution_id") == execution_id, LOG_TABLE)
        floor = datetime.min.replace(tzinfo=None)
        latest: dict[Key, Row] = {}

        def order(item: Row) -> tuple[datetime, datetime]:
            return (_naive(item["queued_at"]) or floor, _naive(item["updated_at"]) or floor)

        for item in rows:
            key = (item["export_group_name"], item["export_name"])
            seen = latest.get(key)
            if seen is None or order(item) >= order(seen):
                latest[key] = item
        return latest

    def watermark_history(self, keys: Iterable[Key]) -> list[Row]:
        """Success/warning rows of ``keys`` that recorded a new watermark (one read)."""
        wanted = set(keys)
        if not wanted:
            return []
        self.ensure_tables()
        condition = (
            ds.field("export_state").isin(["success", "warning"]) & ~ds.field("new_watermark_value").is_null()
        )
        rows = self.read(self.log_path, condition, LOG_TABLE)
        return [r for r in rows if (r["export_group_name"], r["export_name"]) in wanted]

    # ------------------------------------------------------------------ watermarks and leases
    def read_watermarks(self, keys: Iterable[Key]) -> dict[Key, Row]:
        """The watermark-table rows of ``keys`` (one read)."""
        wanted = set(keys)
        if not wanted:
            return {}
        self.ensure_tables()
        groups = sorted({g for g, _n in wanted})
        names = sorted({n for _g, n in wanted})
        condition = ds.field("export_group_name").isin(groups) & ds.field("export_name").isin(names)
        out = {}
        for row in self.read(self.watermark_path, condition, WATERMARK_TABLE):
            key = (row["export_group_name"], row["export_name"])
            if key in wanted:
                out[key] = row
        return out

    def set_watermark(
        self,
        key: Key,
        incremental_column: str,
        value: str,
        run_id: str,
        watermark_type: str | None = None,
        execution_id: str | None = None,
    ) -> None:
        """Store one export's watermark unconditionally (one MERGE on the key), without a lease."""
        self.ensure_tables()
        source = {
            "export_group_name": "string", "export_name": "string", "incremental_column": "string",
            "watermark_value": "string", "updated_at": "timestamp", "updated_by_run_id": "string",
            "watermark_type": "string", "master_execution_id": "string",
        }  # fmt: skip
        row = (*key, incremental_column, value, now_utc(), run_id, watermark_type, execution_id)
        data = rows_table([row], source)
        values = {name: f"s.{name}" for name in source}

        def merge() -> dict[str, Any]:
            return (
                self._table(self.watermark_path)
                .merge(data, port.KEY_MATCH, source_alias="s", target_alias="t")
                .when_matched_update(values)
                .when_not_matched_insert(values)
                .execute()
            )

        self._commit(self.watermark_path, merge, f"watermark {key[0]}/{key[1]}")

    def take(self, claims: Sequence[LeaseClaim], terms: LeaseTerms) -> None:
        """ONE MERGE taking every claimed lease that ``TAKE_CONDITION`` (the port's) allows."""
        if not claims:
            return
        self.ensure_tables()
        source = {
            "export_group_name": "string", "export_name": "string", "lease_owner": "string",
            "lease_run_id": "string", "lease_execution_id": "string", "lease_host": "string",
            "lease_pid": "bigint", "lease_expires_at": "timestamp", "now_ts": "timestamp",
            "takeover_owner": "string",
        }  # fmt: skip
        rows = [
            (c.key[0], c.key[1], terms.owner, c.run_id, c.execution_id, terms.host, terms.pid,
             terms.expires_at, terms.now, c.takeover)
            for c in sorted(claims, key=lambda c: c.key)
        ]  # fmt: skip
        data = rows_table(rows, source)
        lease_set = {c: f"s.{c}" for c in port.LEASE_COLUMNS}
        insert = {**lease_set, "export_group_name": "s.export_group_name", "export_name": "s.export_name"}

        def merge() -> dict[str, Any]:
            return (
                self._table(self.watermark_path)
                .merge(data, port.KEY_MATCH, source_alias="s", target_alias="t")
                .when_matched_update(lease_set, predicate=port.TAKE_CONDITION)
                .when_not_matched_insert(insert)
                .execute()
            )

        self._commit(self.watermark_path, merge, f"taking {len(rows)} lease(s)")

    def renew(self, terms: LeaseTerms) -> None:
        """Push the expiry of every lease ``terms.owner`` holds (one MERGE keyed by the owner)."""
        self._by_owner(terms, {"lease_expires_at": "s.lease_expires_at"}, "renewing leases")

    def release(self, terms: LeaseTerms) -> None:
        """Free every lease ``terms.owner`` still holds (one MERGE keyed by the owner)."""
        self._by_owner(terms, {c: "NULL" for c in port.LEASE_COLUMNS}, "releasing leases")

    def _by_owner(self, terms: LeaseTerms, updates: dict[str, str], what: str) -> None:
        self.ensure_tables()
        data = rows_table(
            [(terms.owner, terms.expires_at)], {"lease_owner": "string", "lease_expires_at": "timestamp"}
        )

        def merge() -> dict[str, Any]:
            return (
                self._table(self.watermark_path)
                .merge(data, "t.lease_owner = s.lease_owner", source_alias="s", target_alias="t")
                .when_matched_update(updates)
                .execute()
            )

        self._commit(self.watermark_path, merge, what)

    def store(self, writes: Sequence[WatermarkWrite], terms: LeaseTerms, release: bool) -> int:
        """ONE MERGE: compare-and-set the new watermarks, record schemas, release (see the port)."""
        if not writes:
            return 0
        self.ensure_tables()
        source = {
            "export_group_name": "string", "export_name": "string", "lease_owner": "string",
            "new_watermark": "string", "expected_watermark": "string", "incremental_column": "string",
            "watermark_type": "string", "run_id": "string", "execution_id": "string", "now_ts": "timestamp",
            "exported_schema": "string",
        }  # fmt: skip
        rows = [
            (w.key[0], w.key[1], terms.owner, w.value, w.expected, w.column, w.type, w.run_id,
             w.execution_id, terms.now, w.schema)
            for w in writes
        ]  # fmt: skip
        data = rows_table(rows, source)
        freed = {c: "NULL" for c in port.LEASE_COLUMNS} if release else {}
        schema = {"exported_schema": "coalesce(s.exported_schema, t.exported_schema)"}
        stored = {
            "watermark_value": "s.new_watermark",
            "incremental_column": "s.incremental_column",
            "watermark_type": "s.watermark_type",
            "updated_at": "s.now_ts",
            "updated_by_run_id": "s.run_id",
            "master_execution_id": "s.execution_id",
            **schema,
        }
        if release:  # rows without a new watermark: release (a refused CAS keeps its lease)
            other, other_set = port.NO_WATERMARK_CONDITION, {**freed, **schema}
        else:  # recovery of a run without a new watermark: its schema only
            other, other_set = f"{port.NO_WATERMARK_CONDITION} AND s.exported_schema IS NOT NULL", schema

        def merge() -> dict[str, Any]:
            return (
                self._table(self.watermark_path)
                .merge(data, port.KEY_MATCH, source_alias="s", target_alias="t")
                .when_matched_update({**stored, **freed}, predicate=port.CAS_CONDITION)
                .when_matched_update(other_set, predicate=other)
                .execute()
            )

        metrics = self._commit(
            self.watermark_path, merge, f"storing {sum(1 for w in writes if w.value)} watermark(s)"
        )
        return int(metrics.get("num_target_rows_updated", 0))


def _naive(value: Any) -> Any:
    return value.replace(tzinfo=None) if isinstance(value, datetime) else value
