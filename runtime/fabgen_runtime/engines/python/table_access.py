"""Opening, creating and checking the delta-rs state tables: :class:`DeltaTableAccess`.

:class:`DeltaTableAccess` holds the paths of ``log_resource_export`` and
``log_resource_export_watermark``, creates them when missing (with the columns of
:mod:`fabgen_runtime.state_model`), opens them, reads them, and runs each commit under the table's
lock with the conflict retry; :class:`~fabgen_runtime.engines.python.tables.DeltaRsTables` builds the
runs, leases and watermarks operations on it.

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
import fcntl
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, TypeVar

import pyarrow.dataset as ds

from ... import state_protocol
from ...commits import retry_conflicts, table_lock
from ...errors import StateError, StateTableError
from ...protocol.tables import Row
from ...state_model import LOG_COLUMNS, LOG_TABLE, WATERMARK_COLUMNS, WATERMARK_TABLE
from .delta_log import LOG, damaged_commits
from .onelake import StorageOptions, resolve
from .state_schema import arrow_schema

if TYPE_CHECKING:
    from deltalake import DeltaTable

log = logging.getLogger(__name__)
T = TypeVar("T")

CREATE_WAIT_SECONDS = 60.0
POLL_SECONDS = 0.2


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
    both record a ``CREATE TABLE`` (``docs/python-engine.md``).
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


class DeltaTableAccess:
    """The two state tables at ``log_path`` and ``watermark_path``, opened, created, checked and
    committed to with delta-rs."""

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
            what = f"cannot list the Delta log of {self._name(path)} at {path}: {first_line(exc)}"
            raise StateError(what) from exc

    def _damaged(
        self, path: str, damaged: list[tuple[str, str]], cause: BaseException | None
    ) -> StateTableError:
        """The error for the damaged commit files ``damaged`` (``(name, problem)``, oldest first)."""
        name, problem = damaged[0]
        file = f"{path.rstrip('/')}/{LOG}/{name}"
        others = f" (and {len(damaged) - 1} more damaged commit file(s) after it)" if len(damaged) > 1 else ""
        said = f"; delta-rs: {first_line(cause)}" if cause is not None else ""
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
                f"cannot open the state table {self._name(path)} at {path}: {first_line(exc)}", path
            )
        return StateError(f"{what} failed: {first_line(exc)}")

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


def first_line(exc: BaseException) -> str:
    """delta-rs's message without the Rust backtrace it may append (``0: <unknown>``...)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
