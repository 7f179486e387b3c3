"""The Python notebook's self-test (``fabgen_selftest_python``): the checks through ``notebookutils``
and delta-rs, as the Python engine reaches OneLake.

Files go through ``notebookutils.fs`` itself (:class:`~fabgen_runtime.selftest.files.NotebookFsOps`;
``mv`` with ``overwrite=False`` as :class:`.onelake.NotebookFileStore` calls it), Delta tables through
delta-rs with the engine's storage options (on Fabric :class:`.onelake.FabricStorageOptions`: the
``storage`` token). The scratch state tables are made by :class:`.tables.DeltaRsTables`, as the first
run makes the real ones; the commit race is two delta-rs writers, the second from a stale snapshot
first. :class:`DeltaRsWriter` is also the delta-rs side of the Spark notebook's race.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from ... import platform as platform_mod
from ... import state_protocol
from ...selftest.delta import TableFacts, check_commit_race, check_state_tables
from ...selftest.files import NotebookFsOps
from ...selftest.model import PYTHON, Row
from ...selftest.run import Probes, run_checks
from ...sources.odbc import SQL_AUDIENCE
from ...state_model import LOG_TABLE, SCHEMA, WATERMARK_TABLE, LakehouseLocation
from .onelake import STORAGE_AUDIENCE, FabricStorageOptions, StorageOptions, notebookutils_module, resolve
from .tables import DeltaRsTables, is_conflict

log = logging.getLogger(__name__)

MARKER = "userMetadata"  # the commitInfo key each race commit carries its marker under (as Spark's)


def deltars_facts(path: str, storage_options: StorageOptions = None) -> TableFacts | None:
    """The protocol and properties of the Delta table at ``path`` through delta-rs (None: no table)."""
    from deltalake import DeltaTable

    options = resolve(storage_options)
    if not DeltaTable.is_deltatable(path, storage_options=options):
        return None
    table = DeltaTable(path, storage_options=options)
    protocol = table.protocol()
    reader = tuple(protocol.reader_features) if protocol.reader_features is not None else None
    writer = tuple(protocol.writer_features) if protocol.writer_features is not None else None
    properties = {str(k): str(v) for k, v in (table.metadata().configuration or {}).items()}
    return TableFacts(protocol.min_reader_version, protocol.min_writer_version, reader, writer, properties)


def state_tables_row(
    scratch: str, config: LakehouseLocation, platform: platform_mod.Platform, storage_options: StorageOptions
) -> Row:
    """``state_table_protocol`` with delta-rs: scratch tables made by ``DeltaRsTables``, and the real ones."""

    def created() -> TableFacts:
        tables = DeltaRsTables(f"{scratch}/{LOG_TABLE}", f"{scratch}/{WATERMARK_TABLE}", storage_options)
        tables.ensure_tables()
        facts = deltars_facts(tables.log_path, storage_options)
        if facts is None:
            raise OSError(f"DeltaRsTables made no table at {tables.log_path}")
        return facts

    existing: dict[str, Callable[[], TableFacts | None]] = {
        table: functools.partial(
            deltars_facts,
            platform_mod.table_uri(platform, config.workspace, config.lakehouse, SCHEMA, table),
            storage_options,
        )
        for table in (LOG_TABLE, WATERMARK_TABLE)
    }
    return check_state_tables(created, state_protocol.DELTA_RS_PROPERTIES, existing)


class DeltaRsWriter:
    """A delta-rs writer of the race table: one append per commit, marked in its commit info."""

    def __init__(self, path: str, storage_options: StorageOptions = None, name: str = ""):
        import deltalake

        self.path, self.storage_options = path, storage_options
        self.name = name or f"delta-rs {deltalake.__version__}"
        self._pinned: Any = None

    def create(self) -> None:
        """The race table (a ``marker`` column) with the state tables' pinned properties, and a first row."""
        from deltalake import write_deltalake

        write_deltalake(
            self.path,
            self._rows("init"),
            mode="append",
            configuration=dict(state_protocol.DELTA_RS_PROPERTIES),
            storage_options=resolve(self.storage_options),
        )

    def pin(self) -> bool:
        """Hold the table as it is now: the next :meth:`append` commits from this snapshot."""
        from deltalake import DeltaTable

        self._pinned = DeltaTable(self.path, storage_options=resolve(self.storage_options))
        return True

    def append(self, marker: str) -> int | None:
        """Append the row ``marker`` in one commit (from the pinned snapshot, if any)."""
        from deltalake import CommitProperties, DeltaTable, write_deltalake

        table = self._pinned or DeltaTable(self.path, storage_options=resolve(self.storage_options))
        self._pinned = None
        write_deltalake(
            table,
            self._rows(marker),
            mode="append",
            commit_properties=CommitProperties(custom_metadata={MARKER: marker}),
        )
        return int(table.version())

    def is_conflict(self, exc: BaseException) -> bool:
        """delta-rs's ``CommitFailedError`` (another writer committed first, logically in the way)."""
        return is_conflict(exc)

    def versions(self) -> dict[str, int]:
        """Each commit's marker and version, from the table's history."""
        from deltalake import DeltaTable

        history = DeltaTable(self.path, storage_options=resolve(self.storage_options)).history()
        return {str(h[MARKER]): int(h["version"]) for h in history if h.get(MARKER)}

    def markers(self) -> dict[str, int]:
        """Rows per marker in the table, read by delta-rs."""
        from deltalake import DeltaTable

        table = DeltaTable(self.path, storage_options=resolve(self.storage_options)).to_pyarrow_table(
            columns=["marker"]
        )
        return dict(Counter(str(value) for value in table.column("marker").to_pylist()))

    @staticmethod
    def _rows(marker: str) -> Any:
        import pyarrow as pa

        return pa.table({"marker": pa.array([marker], pa.string())})


def spark_side(storage_options: StorageOptions = None) -> Callable[[str], DeltaRsWriter]:
    """The delta-rs writer a Spark notebook races against Spark (on Fabric: the ``storage`` token);
    ``ImportError`` when this runtime has no ``deltalake``."""
    import deltalake  # noqa: F401 - fail here, not in the race, when delta-rs is missing

    if storage_options is None and platform_mod.on_fabric():
        storage_options = FabricStorageOptions()
    return lambda path: DeltaRsWriter(path, storage_options)


def commit_race_row(path: str, storage_options: StorageOptions, rounds: int) -> Row:
    """``delta_commit_race`` with two delta-rs writers of one table."""
    first = DeltaRsWriter(path, storage_options)
    first.create()
    second = DeltaRsWriter(path, storage_options, f"{first.name} (a second writer)")
    return check_commit_race(first, second, first.markers, first.versions, rounds)


def run_python(
    config_lakehouse: Any,
    target_lakehouses: list[Any],
    race_rounds: int = 3,
    fs: Any = None,
    storage_options: StorageOptions = None,
    platform: platform_mod.Platform | None = None,
) -> list[Row]:
    """The Python notebook's checks (``model.checks_for("python")``), one row each.

    ``fs`` (default ``notebookutils.fs``) and ``storage_options`` (default: on Fabric, the
    ``storage`` token) are there for tests."""
    platform = platform or platform_mod.current()
    config = LakehouseLocation.of(config_lakehouse)
    fs = fs if fs is not None else notebookutils_module().fs
    if storage_options is None and platform.name != "local":
        storage_options = FabricStorageOptions()
    probes = Probes(
        PYTHON,
        NotebookFsOps(fs),
        state_tables=lambda scratch: state_tables_row(scratch, config, platform, storage_options),
        commit_race=lambda scratch: commit_race_row(scratch, storage_options, race_rounds),
        audiences={"storage_token": STORAGE_AUDIENCE, "database_token": SQL_AUDIENCE},
        notebook_fs=fs,
    )
    return run_checks(probes, config, target_lakehouses, platform)
