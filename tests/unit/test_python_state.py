"""The state tables with delta-rs (no JVM): create, append, merge, leases, watermark compare-and-set.

Races use real processes (``multiprocessing``, spawn) committing to the same local Delta table
at the same moment, released together by a barrier.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from fabgen_runtime.engines.python.tables import DeltaRsTables, arrow_schema
from fabgen_runtime.errors import StateError, StateTableError
from fabgen_runtime.protocol import lease as rules
from fabgen_runtime.protocol.leasing import Leases
from fabgen_runtime.protocol.tables import LeaseClaim, LeaseTerms, WatermarkWrite, take_leases
from fabgen_runtime.state_model import LOG_COLUMNS, WATERMARK_COLUMNS, ExportRunRecord, now_utc

KEY = ("sales", "orders")


# state_model's Spark SQL names -> the Delta log's type names (what Spark writes in the schema)
DELTA_TYPES = {"int": "integer", "bigint": "long", "array<string>": "array<string>"}


def delta_types(table: DeltaTable) -> dict[str, str]:
    """The table's columns and Delta type names, read from its schema JSON (``array<T>`` for arrays)."""
    out = {}
    for field in json.loads(table.schema().to_json())["fields"]:
        kind = field["type"]
        out[field["name"]] = kind if isinstance(kind, str) else f"{kind['type']}<{kind['elementType']}>"
    return out


def tables(root: Path) -> DeltaRsTables:
    return DeltaRsTables(str(root / "log_resource_export"), str(root / "log_resource_export_watermark"))


def terms(owner: str, seconds: float = 120.0, host: str = "", pid: int = 0) -> LeaseTerms:
    now = now_utc()
    return LeaseTerms(owner, now + timedelta(seconds=seconds), now, host, pid)


def record(
    run_id: str, execution: str = "e1", name: str = "orders", state: str = "pending"
) -> ExportRunRecord:
    return ExportRunRecord(run_id, execution, "sales", name, state, queued_at=now_utc(), file_paths=["a.csv"])


def test_create_gives_the_state_model_schema_and_plain_protocol(tmp_path: Path) -> None:
    store = tables(tmp_path)
    store.ensure_tables()
    for path, columns in ((store.log_path, LOG_COLUMNS), (store.watermark_path, WATERMARK_COLUMNS)):
        table = DeltaTable(path)
        assert delta_types(table) == {name: DELTA_TYPES.get(kind, kind) for name, kind in columns.items()}
        protocol = table.protocol()
        # what Spark's TableSetup makes too (state_protocol): no table features either side needs
        assert (protocol.min_reader_version, protocol.min_writer_version) == (1, 2)
        assert not protocol.writer_features and not protocol.reader_features
        assert table.metadata().configuration == {"delta.enableDeletionVectors": "false"}
    store.ensure_tables()  # idempotent: no second create
    assert DeltaTable(store.log_path).version() == 0


def test_missing_table_without_auto_create_is_a_clear_error(tmp_path: Path) -> None:
    store = DeltaRsTables(str(tmp_path / "log"), str(tmp_path / "wm"), auto_create_tables=False)
    with pytest.raises(StateError, match="does not exist and auto_create_tables is False"):
        store.ensure_tables()


def test_columns_an_older_table_lacks_are_added(tmp_path: Path) -> None:
    store = tables(tmp_path)
    older = {k: v for k, v in WATERMARK_COLUMNS.items() if not k.startswith("lease_")}
    DeltaTable.create(store.watermark_path, arrow_schema(older))
    store.ensure_tables()
    assert list(delta_types(DeltaTable(store.watermark_path))) == list(older) + [
        c for c in WATERMARK_COLUMNS if c.startswith("lease_")
    ]


def commit_file(path: str, version: int) -> Path:
    return Path(path, "_delta_log", f"{version:020d}.json")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "is empty (0 bytes)"),
        (b"\n \n", "holds no action"),
        (b'{"commitInfo": {}}\n{"add": {"pa', "is not valid JSON (line 2, column 10: Unterminated string"),
        (b'{"commitInfo": {}}\nnull\n', "is not valid JSON lines (line 2 is not an object)"),
        (b"\xff\xfe", "is not UTF-8 text (byte 0)"),
    ],
)
def test_a_damaged_commit_file_is_refused_naming_the_table_and_the_file(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    tables(tmp_path).append_runs([record("r1")])
    commit_file(str(tmp_path / "log_resource_export"), 1).write_bytes(content)
    store = tables(tmp_path)  # a new run: the log is checked on the first open
    with pytest.raises(StateTableError) as caught:
        store.get_runs(["r1"])
    file = commit_file(store.log_path, 1)
    assert caught.value.table == store.log_path and caught.value.file == str(file)
    assert f"the state table log_resource_export is damaged: its commit file {file} {problem}" in str(
        caught.value
    )
    assert "<unknown>" not in str(caught.value)  # delta-rs's Rust backtrace is not repeated


def test_only_commit_files_after_the_newest_checkpoint_are_checked(tmp_path: Path) -> None:
    store = tables(tmp_path)
    store.append_runs([record("r1")])
    store.append_runs([record("r2")])
    DeltaTable(store.log_path).create_checkpoint()  # at version 2
    commit_file(store.log_path, 1).write_bytes(b"")  # never replayed again: the table reads as before
    assert sorted(tables(tmp_path).get_runs(["r1", "r2"])) == ["r1", "r2"]
    store.append_runs([record("r3")])
    commit_file(store.log_path, 3).write_bytes(b"")
    with pytest.raises(StateTableError, match=r"00000000000000000003\.json is empty"):
        tables(tmp_path).get_runs(["r1"])


def _give_deletion_vectors(path: str) -> None:
    """What Spark on Fabric Runtime 2.0 leaves after a MERGE: protocol 3/7 + deletionVectors, a DV file."""
    from dv_support import delete_rows

    (data_file,) = DeltaTable(path).get_add_actions(flatten=True).column("path").to_pylist()
    delete_rows(Path(path), {data_file: [0]})


def _give_checkpoint_protection(path: str) -> None:
    """What Delta 4's DROP FEATURE deletionVectors (without TRUNCATE HISTORY) leaves: a writer feature
    delta-rs cannot write."""
    features = ["appendOnly", "invariants", "checkpointProtection"]
    protocol = {"minReaderVersion": 1, "minWriterVersion": 7, "writerFeatures": features}
    version = DeltaTable(path).version() + 1
    commit_file(path, version).write_text(json.dumps({"protocol": protocol}) + "\n")


@pytest.mark.parametrize(
    ("change", "found"),
    [
        (_give_deletion_vectors, "reader 3 / writer 7 with deletionVectors"),
        (_give_checkpoint_protection, "reader 1 / writer 7 with checkpointProtection"),
    ],
)
def test_a_state_table_delta_rs_cannot_use_is_refused_naming_the_fix(
    tmp_path: Path, change: Any, found: str
) -> None:
    """A state table an older fabgen's Spark created under Fabric Runtime 2.0's defaults: refused on
    the first open, before any read or commit (delta-rs 1.2.1 would fail each one, its commits as
    conflicts re-run with backoff), with the statement that fixes it."""
    store = tables(tmp_path)
    store.append_runs([record("r1"), record("r2", name="customers")])
    change(store.log_path)
    version = DeltaTable(store.log_path).version()
    later = tables(tmp_path)  # a new run
    started = time.monotonic()
    for attempt in (lambda: later.get_runs(["r1"]), lambda: later.append_runs([record("r3")])):
        with pytest.raises(StateTableError) as caught:
            attempt()
        message = str(caught.value)
        assert caught.value.table == store.log_path
        assert f"the state table log_resource_export at {store.log_path} uses Delta {found}" in message
        assert "nothing was read or written" in message
        assert f'rebuild_state_table(spark, "{store.log_path}")' in message
        assert ("DROP FEATURE deletionVectors TRUNCATE HISTORY" in message) == ("deletionVectors" in found)
    assert time.monotonic() - started < 5  # no conflict retries
    assert DeltaTable(store.log_path).version() == version


def test_append_upsert_and_latest_states(tmp_path: Path) -> None:
    store = tables(tmp_path)
    first, second = record("r1"), record("r2", name="customers")
    store.append_runs([first, second])
    first.export_state, first.rows_exported = "success", 42
    store.upsert_runs([first, record("r3", name="customers")])
    runs = store.get_runs(["r1", "r2", "r3", "nope"])
    assert sorted(runs) == ["r1", "r2", "r3"]
    assert (runs["r1"].export_state, runs["r1"].rows_exported, runs["r1"].file_paths) == (
        "success",
        42,
        ["a.csv"],
    )
    assert runs["r1"].queued_at == first.queued_at  # timestamps round-trip (UTC, microseconds)
    latest = store.latest_states("e1")
    assert {k: v["export_run_id"] for k, v in latest.items()} == {
        ("sales", "orders"): "r1",
        ("sales", "customers"): "r3",  # queued after r2
    }
    # the files are plain parquet any reader opens: one row per run id, no duplicates
    rows = DeltaTable(store.log_path).to_pyarrow_table().column("export_run_id").to_pylist()
    assert sorted(rows) == ["r1", "r2", "r3"]
    assert all(pq.ParquetFile(f).metadata.num_rows >= 1 for f in DeltaTable(store.log_path).file_uris())


def test_lease_taken_refused_released_and_renewed(tmp_path: Path) -> None:
    store = tables(tmp_path)
    mine, theirs = terms("owner-a"), terms("owner-b")
    rows, refused = take_leases(store, [LeaseClaim(KEY, "r1", "e1")], mine)
    assert refused == {} and rows[KEY]["lease_owner"] == "owner-a" and rows[KEY]["lease_run_id"] == "r1"
    _rows, refused = take_leases(store, [LeaseClaim(KEY, "r2", "e2")], theirs)
    assert refused[KEY].owner == "owner-a" and "run r1 (execution e1)" in refused[KEY].describe()
    later = LeaseTerms("owner-a", mine.expires_at + timedelta(seconds=60), mine.now)
    store.renew(later)
    assert store.read_watermarks([KEY])[KEY]["lease_expires_at"] == later.expires_at
    store.release(mine)
    row = store.read_watermarks([KEY])[KEY]
    assert all(row[c] is None for c in ("lease_owner", "lease_run_id", "lease_expires_at"))
    _rows, refused = take_leases(store, [LeaseClaim(KEY, "r2", "e2")], theirs)
    assert refused == {}


def test_expired_lease_is_taken_over(tmp_path: Path) -> None:
    store = tables(tmp_path)
    take_leases(store, [LeaseClaim(KEY, "r1", "e1")], terms("owner-a", seconds=-1))  # already lapsed
    rows, refused = take_leases(store, [LeaseClaim(KEY, "r2", "e2")], terms("owner-b"))
    assert refused == {} and rows[KEY]["lease_owner"] == "owner-b"


@pytest.mark.spark  # integration: child processes
def test_lease_of_a_dead_local_process_is_taken_over_at_once(tmp_path: Path) -> None:
    store = tables(tmp_path)
    dead = mp.get_context("spawn").Process(target=int)
    dead.start()
    dead.join()
    holder = terms("owner-dead", host=rules.this_host(), pid=dead.pid or 0)
    take_leases(store, [LeaseClaim(KEY, "r1", "e1")], holder)
    rows, refused = take_leases(store, [LeaseClaim(KEY, "r2", "e2")], terms("owner-b"))
    assert refused == {} and rows[KEY]["lease_owner"] == "owner-b"
    # a live holder on another host is not taken over
    take_leases(store, [LeaseClaim(("sales", "x"), "r3", "e3")], terms("owner-c", host="elsewhere", pid=1))
    _rows, refused = take_leases(store, [LeaseClaim(("sales", "x"), "r4", "e4")], terms("owner-b"))
    assert refused[("sales", "x")].owner == "owner-c"


def test_watermark_compare_and_set(tmp_path: Path) -> None:
    store = tables(tmp_path)
    run1 = terms("owner-a")
    take_leases(store, [LeaseClaim(KEY, "r1", "e1")], run1)
    write = WatermarkWrite(KEY, "2026-01-02", None, "updated_at", "timestamp", "r1", "e1", '{"id": "int"}')
    assert store.store([write], run1, release=True) == 1
    row = store.read_watermarks([KEY])[KEY]
    assert (row["watermark_value"], row["updated_by_run_id"], row["lease_owner"]) == (
        "2026-01-02",
        "r1",
        None,
    )
    assert row["exported_schema"] == '{"id": "int"}'
    # a run that started from an older value is refused, and keeps its lease
    run2 = terms("owner-b")
    take_leases(store, [LeaseClaim(KEY, "r2", "e2")], run2)
    stale = WatermarkWrite(KEY, "2026-01-05", "2026-01-01", "updated_at", "timestamp", "r2", "e2")
    assert store.store([stale], run2, release=True) == 0
    row = store.read_watermarks([KEY])[KEY]
    assert (row["watermark_value"], row["lease_owner"]) == ("2026-01-02", "owner-b")
    assert not rules.cas_allows(row, "2026-01-01", "r2")
    # from the stored value it moves (and the schema is kept when the write has none)
    fresh = WatermarkWrite(KEY, "2026-01-05", "2026-01-02", "updated_at", "timestamp", "r2", "e2")
    assert store.store([fresh], run2, release=True) == 1
    row = store.read_watermarks([KEY])[KEY]
    assert rules.watermark_stored(row, "2026-01-05", "r2") and row["exported_schema"] == '{"id": "int"}'
    # a store by a run that does not hold the lease changes nothing
    take_leases(store, [LeaseClaim(KEY, "r3", "e3")], terms("owner-c"))
    assert store.store([WatermarkWrite(KEY, "2030", "2026-01-05", "c", "t", "r9", "e9")], run2, True) == 0
    assert store.read_watermarks([KEY])[KEY]["watermark_value"] == "2026-01-05"


def test_store_without_release_records_the_schema_only(tmp_path: Path) -> None:
    store = tables(tmp_path)
    run = terms("owner-a")
    take_leases(store, [LeaseClaim(KEY, "r1", "e1")], run)
    assert (
        store.store([WatermarkWrite(KEY, None, None, None, None, "r1", "e1", "s1")], run, release=False) == 1
    )
    row = store.read_watermarks([KEY])[KEY]
    assert (row["exported_schema"], row["watermark_value"], row["lease_owner"]) == ("s1", None, "owner-a")


# ---------------------------------------------------------------------- races between processes


class _Retries(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += "concurrent Delta commit" in record.getMessage()


def _take_in_process(root: str, key: tuple[str, str], owner: str, barrier: Any, out: Any) -> None:
    retries = _Retries()
    commits_log = logging.getLogger("fabgen_runtime.commits")
    commits_log.addHandler(retries)
    commits_log.setLevel(logging.INFO)
    store = tables(Path(root))
    store.ensure_tables()
    barrier.wait()
    _rows, refused = take_leases(store, [LeaseClaim(key, f"run-{owner}", "e")], terms(owner))
    out.put((owner, key not in refused, retries.count))
    # The result is handed back; leave without interpreter teardown. A racing child sometimes aborted
    # there (SIGABRT, "terminate called without an active exception": delta-rs/Arrow native thread
    # pools torn down at shutdown; seen with deltalake 1.2.1 and once in CI with 1.6.6), after a
    # correct result. That abort is in the libraries' shutdown, not in the race this test checks.
    out.close()
    out.join_thread()
    os._exit(0)


def _race(root: Path, key: tuple[str, str], contenders: int) -> tuple[list[str], int]:
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(contenders), ctx.Queue()
    procs = [
        ctx.Process(target=_take_in_process, args=(str(root), key, f"owner-{i}", barrier, out))
        for i in range(contenders)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return [owner for owner, won, _r in results if won], sum(r for *_x, r in results)


@pytest.mark.parametrize("row_exists", [False, True], ids=["new-export", "existing-row"])
@pytest.mark.spark  # integration: child processes
def test_processes_racing_for_one_lease_exactly_one_wins(tmp_path: Path, row_exists: bool) -> None:
    store = tables(tmp_path)
    store.ensure_tables()
    conflicts = 0
    for round_ in range(3):
        key = ("sales", f"orders{round_}")
        if row_exists:  # a row with a free lease (a previous run released it)
            owner = terms("previous")
            take_leases(store, [LeaseClaim(key, "r0", "e0")], owner)
            store.release(owner)
        winners, retried = _race(tmp_path, key, 3)
        conflicts += retried
        assert len(winners) == 1, winners
        rows = DeltaTable(store.watermark_path).to_pyarrow_table().to_pylist()
        mine = [r for r in rows if (r["export_group_name"], r["export_name"]) == key]
        assert len(mine) == 1 and mine[0]["lease_owner"] == winners[0]  # one row per export, the winner's
    assert conflicts >= 1  # the commits really raced: delta-rs refused some and they were re-run


def _create_in_process(root: str, barrier: Any, out: Any) -> None:
    store = tables(Path(root))
    barrier.wait()
    store.ensure_tables()
    store.append_runs([record(f"r-{mp.current_process().name}")])
    out.put(store.commits)


@pytest.mark.spark  # integration: child processes
def test_processes_creating_the_tables_at_once_share_one_table(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_create_in_process, args=(str(tmp_path), barrier, out)) for _ in range(3)]
    for p in procs:
        p.start()
    commits = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert len(commits) == 3
    store = tables(tmp_path)
    assert (
        len(DeltaTable(store.log_path).to_pyarrow_table().column("export_run_id")) == 3
    )  # every append kept
    history = DeltaTable(store.log_path).history()
    assert sum(1 for h in history if h["operation"] == "CREATE TABLE") == 1


# ---------------------------------------------------------------------- Leases over the port


def test_leases_acquire_store_and_release(tmp_path: Path) -> None:
    store = tables(tmp_path)
    other = ("sales", "customers")
    leases = Leases(store, "owner-a")
    _rows, refused = leases.acquire({KEY: ("r1", "e1"), other: ("r2", "e1")})
    assert refused == {} and leases.held == {KEY, other} and leases.holds(KEY)
    _rows, refused = Leases(store, "owner-b").acquire({KEY: ("r9", "e9")})
    assert refused[KEY].owner == "owner-a"
    stored = leases.store(
        [
            WatermarkWrite(KEY, "10", None, "id", "bigint", "r1", "e1"),
            WatermarkWrite(other, "3", "2", "id", "bigint", "r2", "e1"),  # refused: the stored one is NULL
        ]
    )
    assert stored == {KEY} and leases.held == set()  # the refused one released afterwards
    rows = store.read_watermarks([KEY, other])
    assert rows[KEY]["watermark_value"] == "10" and rows[other]["watermark_value"] is None
    assert rows[KEY]["lease_owner"] is None and rows[other]["lease_owner"] is None


def test_leases_lapsed_lease_is_checked_and_lost_to_a_new_holder(tmp_path: Path) -> None:
    store = tables(tmp_path)
    leases = Leases(store, "owner-a", seconds=1.0)  # valid() is False at once (1 s safety margin)
    leases.acquire({KEY: ("r1", "e1")})
    assert not leases.valid()
    assert leases.holds(KEY)  # renewed and read back: still ours
    # it lapses; another run takes it over
    take_leases(store, [LeaseClaim(KEY, "r1", "e1")], terms("owner-a", seconds=-5))
    _rows, refused = Leases(store, "owner-b").acquire({KEY: ("r2", "e2")})
    assert refused == {}
    assert not leases.holds(KEY) and KEY not in leases.held  # our renew touches only rows still ours
    assert store.read_watermarks([KEY])[KEY]["lease_owner"] == "owner-b"


def test_leases_heartbeat_renews(tmp_path: Path) -> None:
    store = tables(tmp_path)
    leases = Leases(store, "owner-a", seconds=1.5)
    leases.acquire({KEY: ("r1", "e1")})
    first = store.read_watermarks([KEY])[KEY]["lease_expires_at"]
    leases.start_heartbeat()
    try:
        deadline = time.monotonic() + 10
        while store.read_watermarks([KEY])[KEY]["lease_expires_at"] == first:
            assert time.monotonic() < deadline, "no renewal within 10 s"
            time.sleep(0.2)
    finally:
        leases.stop_heartbeat()
    assert leases.renew_error is None
    assert store.read_watermarks([KEY])[KEY]["lease_expires_at"] > first


def test_a_commit_refused_for_an_unsupported_feature_is_no_conflict() -> None:
    """delta-rs 1.2.1 raises CommitFailedError for a feature it cannot write: retrying it only delays
    the error, so the conflict retry lets it through at once."""
    from deltalake.exceptions import CommitFailedError
    from fabgen_runtime.engines.python.tables import is_conflict

    assert is_conflict(CommitFailedError("Transaction failed: a concurrent transaction wrote version 3"))
    assert not is_conflict(CommitFailedError("Unsupported writer features: [DeletionVectors]"))
    assert not is_conflict(ValueError("version 3 exists"))
