"""The state tables with delta-rs: the :class:`~fabgen_runtime.protocol.tables.TableStore` adapter.

:class:`DeltaRsTables` reads and writes ``log_resource_export`` and
``log_resource_export_watermark`` with ``deltalake`` (no Spark), with the columns of
:mod:`fabgen_runtime.state_model` (the same Delta schema Spark's
:mod:`fabgen_runtime.state_tables` creates: reader 1 / writer 2, no table features), so either
engine reads and writes tables the other created.

Every write is one delta-rs commit: an append, or a MERGE whose conditions are the shared
predicates of :mod:`fabgen_runtime.protocol.tables`, with the values in the MERGE's source rows
(never pasted into SQL text). delta-rs checks a commit against the commits that landed since the
version it read (its conflict checker); a logical conflict raises ``CommitFailedError`` and the
whole operation is re-run on the new version (:func:`fabgen_runtime.commits.retry_conflicts`),
so its condition is evaluated again against the winner's rows.

Both tables are created with deletion vectors off (:data:`fabgen_runtime.state_protocol.DELTA_RS_PROPERTIES`:
reader 1 / writer 2, as Spark now pins them too). The first time this store opens a table, its
protocol is checked: a table delta-rs cannot use (deletion vectors, which an older fabgen's Spark
tables got under Fabric Runtime 2.0's defaults, or any other reader feature or unknown writer
feature) stops the run before anything is read or written, with a :class:`StateTableError` naming
the fix (:func:`fabgen_runtime.state_protocol.refusal`).

A damaged state table stops the run before anything is exported (:class:`StateTableError`, naming
the table and the commit file): the first time this store opens a table, its log is listed and an
empty commit file refused (0 bytes or blanks: delta-rs reads it as a commit of no actions and
quietly loses what that commit recorded); when delta-rs fails on a table, its commit files are read
to name the one that is truncated or not JSON (delta-rs's message names none).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa
import pyarrow.dataset as ds

from ... import state_protocol
from ...commits import retry_conflicts, table_lock
from ...errors import StateError, StateTableError
from ...protocol import tables as port
from ...protocol.tables import Key, LeaseClaim, LeaseTerms, Row, WatermarkWrite
from ...state_model import (
    LOG_COLUMNS,
    LOG_TABLE,
    WATERMARK_COLUMNS,
    WATERMARK_TABLE,
    ExportRunRecord,
)
from .delta_log import LOG, damaged_commits
from .onelake import StorageOptions, resolve

if TYPE_CHECKING:
    from deltalake import DeltaTable

log = logging.getLogger(__name__)
T = TypeVar("T")

_SCALARS: dict[str, pa.DataType] = {
    "string": pa.string(),
    "boolean": pa.bool_(),
    "int": pa.int32(),
    "bigint": pa.int64(),
    "double": pa.float64(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),  # Delta's ``timestamp`` (UTC); naive would be timestamp_ntz
}
CREATE_WAIT_SECONDS = 60.0
POLL_SECONDS = 0.2


def arrow_type(kind: str) -> pa.DataType:
    """The Arrow type of a state-table column type (``state_model``'s Spark SQL names)."""
    kind = kind.strip().lower()
    if kind in _SCALARS:
        return _SCALARS[kind]
    if kind.startswith("array<") and kind.endswith(">"):
        return pa.list_(arrow_type(kind[6:-1]))
    raise ValueError(f"unsupported column type {kind!r}")


def arrow_schema(columns: Mapping[str, str]) -> pa.Schema:
    """The Arrow schema of ``{name: type}`` (every column nullable)."""
    return pa.schema([pa.field(name, arrow_type(kind), nullable=True) for name, kind in columns.items()])


def is_conflict(exc: BaseException) -> bool:
    """True for a delta-rs commit conflict (another writer committed first): worth re-running.

    delta-rs 1.2.1 also raises ``CommitFailedError`` for a table whose features it cannot write
    (e.g. deletion vectors): that is no conflict, and re-running it only delays the error.
    """
    from deltalake.exceptions import CommitFailedError

    return isinstance(exc, CommitFailedError) and "unsupported" not in str(exc).lower()


@contextlib.contextmanager
def creation_lock(path: str) -> Iterator[None]:
    """Serialise creating the table at a local ``path`` across the processes of this machine.

    delta-rs's ``DeltaTable.create(mode="error")`` is not exclusive: two processes creating one
    table at once can both succeed, the second as a ``CREATE TABLE`` commit at version 1 (seen with
    deltalake 1.6.6; the schema is the same and no rows are lost). An ``flock`` on a file in the
    temporary folder (never beside the table) keeps that to one commit on one machine; on OneLake
    (a URI) nothing is held: there, two machines creating the tables at the same moment can still
    both record a ``CREATE TABLE`` (``docs/runtimes.md``).
    """
    if "://" in path:
        yield
        return
    folder = os.path.join(tempfile.gettempdir(), "fabgen-create-locks")
    os.makedirs(folder, exist_ok=True)
    name = hashlib.sha256(os.path.abspath(path).encode()).hexdigest()[:32] + ".lock"
    with open(os.path.join(folder, name), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class DeltaRsTables:
    """The two state tables at ``log_path`` and ``watermark_path``, read and written with delta-rs."""

    def __init__(
        self,
        log_path: str,
        watermark_path: str,
        storage_options: StorageOptions = None,
        auto_create_tables: bool = True,
    ):
        self.log_path = log_path
        self.watermark_path = watermark_path
        self.storage_options = storage_options
        self.auto_create_tables = auto_create_tables
        self.create_wait_seconds = CREATE_WAIT_SECONDS
        self.commits = 0  # commits made to the state tables so far
        self._ready: set[str] = set()
        self._checked: set[str] = set()  # tables whose log was checked for empty commit files
        self._usable: set[str] = set()  # tables whose protocol was checked (state_protocol.unsupported)

    @property
    def options(self) -> dict[str, str] | None:
        """delta-rs ``storage_options`` for the next call (OneLake: a current token)."""
        return resolve(self.storage_options)

    # ------------------------------------------------------------------ tables
    def ensure_tables(self) -> None:
        """Create both tables when missing; add the columns a table made by an earlier fabgen lacks."""
        for path, columns in ((self.log_path, LOG_COLUMNS), (self.watermark_path, WATERMARK_COLUMNS)):
            if path in self._ready:
                continue
            if not self.exists(path):
                if not self.auto_create_tables:
                    raise StateError(f"{path} does not exist and auto_create_tables is False")
                self._create(path, columns)
            self._add_missing_columns(path, columns)
            self._ready.add(path)

    def exists(self, path: str) -> bool:
        """Whether the Delta table at ``path`` exists."""
        from deltalake import DeltaTable
        from deltalake.exceptions import DeltaError

        try:
            return bool(DeltaTable.is_deltatable(path, storage_options=self.options))
        except (DeltaError, OSError) as exc:  # e.g. OneLake refusing the token
            raise StateError(f"cannot reach the state table {path}: {exc}") from exc

    def _create(self, path: str, columns: Mapping[str, str]) -> None:
        """Create the table; if another process creates it at the same moment, use that one."""
        from deltalake import DeltaTable
        from deltalake.exceptions import DeltaError

        try:
            with table_lock(path), creation_lock(path):
                if self.exists(path):
                    return
                DeltaTable.create(
                    path,
                    arrow_schema(columns),
                    mode="error",
                    configuration=dict(state_protocol.DELTA_RS_PROPERTIES),
                    storage_options=self.options,
                )
            self.commits += 1
            return
        except (DeltaError, OSError) as exc:
            failure: BaseException = exc
        # Version 0 is written with put-if-absent: the loser of a race finds the winner's table.
        deadline = time.monotonic() + self.create_wait_seconds
        while not self.exists(path):
            if time.monotonic() >= deadline:
                raise StateError(f"creating {path} failed: {failure}") from failure
            time.sleep(POLL_SECONDS)
        log.info("%s was created by another run at the same time; using it", path)

    def _add_missing_columns(self, path: str, columns: Mapping[str, str]) -> None:
        from deltalake.schema import Field, PrimitiveType

        present = {name.lower() for name in self._table(path).schema().to_arrow().names}
        missing = [(name, kind) for name, kind in columns.items() if name.lower() not in present]
        if not missing:
            return
        fields = []
        for name, kind in missing:
            if kind.startswith("array<"):
                raise StateError(f"{path}: cannot add the array column {name} with delta-rs")
            primitive = {"int": "integer", "bigint": "long"}.get(kind, kind)
            fields.append(Field(name, PrimitiveType(primitive), nullable=True))
        self._commit(path, lambda: self._table(path).alter.add_columns(fields), f"adding columns to {path}")
        log.info("added column(s) %s to %s", ", ".join(n for n, _k in missing), path)

    def _table(self, path: str) -> DeltaTable:
        """The table at ``path``, opened now; on the first open its log is checked for empty commits
        and its protocol for what delta-rs cannot use."""
        from deltalake import DeltaTable
        from deltalake.exceptions import DeltaError

        if path not in self._checked:
            self._check_log(path)
        try:
            table = DeltaTable(path, storage_options=self.options)
        except (DeltaError, OSError) as exc:
            raise self._failure(path, "opening", exc) from exc
        if path not in self._usable:
            self._check_protocol(path, table)
        return table

    def _check_protocol(self, path: str, table: DeltaTable) -> None:
        """Refuse the table when its protocol has parts delta-rs cannot read or write (deletion
        vectors above all: delta-rs 1.2.1 fails every read and commit on such a table, its commits
        as a ``CommitFailedError`` the conflict retry would re-run)."""
        import deltalake

        protocol = table.protocol()
        reader, writer = protocol.min_reader_version, protocol.min_writer_version
        found = state_protocol.unsupported(reader, writer, protocol.reader_features, protocol.writer_features)
        if found:
            text = state_protocol.refusal(
                self._name(path), path, reader, writer, found, deltalake.__version__
            )
            raise StateTableError(text, path)
        self._usable.add(path)

    def _name(self, path: str) -> str:
        return LOG_TABLE if path == self.log_path else WATERMARK_TABLE

    def _check_log(self, path: str) -> None:
        """Refuse the table when a commit file after its newest checkpoint is empty (one listing of
        the log; delta-rs lists it too each time it opens the table)."""
        damaged = self._damaged_commits(path, read=False)
        if damaged:
            raise self._damaged(path, damaged, None)
        self._checked.add(path)

    def _damaged_commits(self, path: str, read: bool) -> list[tuple[str, str]]:
        import pyarrow.fs as pa_fs
        from deltalake.exceptions import DeltaError
        from deltalake.fs import DeltaStorageHandler

        try:
            filesystem = pa_fs.PyFileSystem(DeltaStorageHandler(path, self.options))
            return damaged_commits(filesystem, read)
        except (DeltaError, OSError) as exc:
            what = f"cannot list the Delta log of {self._name(path)} at {path}: {_first_line(exc)}"
            raise StateError(what) from exc

    def _damaged(
        self, path: str, damaged: list[tuple[str, str]], cause: BaseException | None
    ) -> StateTableError:
        """The error for the damaged commit files ``damaged`` (``(name, problem)``, oldest first)."""
        name, problem = damaged[0]
        file = f"{path.rstrip('/')}/{LOG}/{name}"
        others = f" (and {len(damaged) - 1} more damaged commit file(s) after it)" if len(damaged) > 1 else ""
        said = f"; delta-rs: {_first_line(cause)}" if cause is not None else ""
        return StateTableError(
            f"the state table {self._name(path)} is damaged: its commit file {file} {problem}{others}"
            f"{said}. fabgen does not use the table until that file (or the table) is restored from a "
            "copy (docs/running.md, 'A damaged state table')",
            path,
            file,
        )

    def _failure(self, path: str, what: str, exc: BaseException) -> StateError:
        """The error for delta-rs failing on the table at ``path`` while ``what``: a
        :class:`StateTableError` naming the damaged commit file when there is one (looked for now,
        on the error path: every commit after the newest checkpoint is read), else one naming the
        table (opening) or a :class:`StateError` saying what failed."""
        try:
            damaged = self._damaged_commits(path, read=True)
        except Exception as listing:  # a best effort: never hide delta-rs's own error behind it
            log.warning("could not look for a damaged commit file in %s: %s", path, listing)
            damaged = []
        if damaged:
            return self._damaged(path, damaged, exc)
        if what == "opening":
            return StateTableError(
                f"cannot open the state table {self._name(path)} at {path}: {_first_line(exc)}", path
            )
        return StateError(f"{what} failed: {_first_line(exc)}")

    def _commit(self, path: str, action: Callable[[], T], what: str) -> T:
        """Run one commit under the table's in-process lock, re-running it on a commit conflict."""
        from deltalake.exceptions import DeltaError

        try:
            with table_lock(path):
                result = retry_conflicts(action, what, conflict=is_conflict)
        except (DeltaError, OSError) as exc:
            raise self._failure(path, f"writing {self._name(path)} ({what})", exc) from exc
        self.commits += 1
        return result

    def read(self, path: str, condition: ds.Expression | None, what: str) -> list[Row]:
        """The rows of the table at ``path`` matching ``condition`` (every column; never writes)."""
        from deltalake.exceptions import DeltaError

        try:
            dataset = self._table(path).to_pyarrow_dataset(
                # Spark writes timestamps as INT96: read them as microseconds
                parquet_read_options=ds.ParquetReadOptions(coerce_int96_timestamp_unit="us")
            )
            # Filtered after the scan: delta-rs gives pyarrow file statistics typed string_view for
            # the files its MERGE wrote, which a scan filter on a string column cannot compare.
            data = dataset.to_table()
            rows: list[Row] = (data if condition is None else data.filter(condition)).to_pylist()
        except (DeltaError, OSError) as exc:
            raise self._failure(path, f"reading {what}", exc) from exc
        return rows

    # ------------------------------------------------------------------ export runs
    def append_runs(self, records: Sequence[ExportRunRecord]) -> None:
        """Append new run rows in one commit."""
        from deltalake import write_deltalake

        if not records:
            return
        self.ensure_tables()
        data = _rows_table([r.row() for r in records], LOG_COLUMNS)
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
        data = _rows_table(list(latest.values()), LOG_COLUMNS)

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
        data = _rows_table(rows, source)
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
        data = _rows_table(
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
        data = _rows_table(rows, source)
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


def _first_line(exc: BaseException) -> str:
    """delta-rs's message without the Rust backtrace it may append (``0: <unknown>``...)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _naive(value: Any) -> Any:
    return value.replace(tzinfo=None) if isinstance(value, datetime) else value


def _rows_table(rows: Sequence[tuple[Any, ...]], columns: Mapping[str, str]) -> pa.Table:
    """An Arrow table of ``rows`` (tuples in ``columns`` order) with the state tables' types."""
    names = list(columns)
    data = {name: [row[i] for row in rows] for i, name in enumerate(names)}
    return pa.Table.from_pydict(data, schema=arrow_schema(columns))
