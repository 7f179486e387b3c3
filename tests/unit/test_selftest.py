"""The self-test's checks (fabgen_runtime.selftest) against the Fabric stand-in, each broken in turn.

The Python notebook's whole run (``engines.python.selftest.run_python``) goes through the stand-in's
``notebookutils`` over local folders and delta-rs on local tables: every row passes; then the behaviour
behind one check is broken (an ``mv`` that replaces, a racy ``mv``, a ``getToken`` that raises, pyodbc
without ODBC Driver 18, a state table with deletion vectors, a lakehouse refusing writes, an ``ls`` that
counts characters) and exactly that row fails. The Spark-only and engine-neutral parts are checked
with small fakes. No JVM. The stand-in shows that the checks tell a broken behaviour from a good one;
what Fabric does is what the notebooks find out.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest
from fabgen_runtime.platform import LocalPlatform
from fabgen_runtime.selftest import CHECKS, Row, SelfTestFailed, checks_for, format_table, raise_on_failure
from fabgen_runtime.selftest.access import check_odbc_driver, check_synapsesql, check_token
from fabgen_runtime.selftest.delta import (
    Attempt,
    TableFacts,
    check_state_tables,
    judge_race,
    pinned_expectation,
)
from fabgen_runtime.selftest.files import (
    FileOps,
    NotebookFsOps,
    check_notebookutils_fs,
    check_scratch_removed,
)

STANDIN = Path(__file__).resolve().parents[1] / "support" / "fabric_standin"
CONFIG = {"workspace": "WS", "lakehouse": "lh_config"}
TARGETS = [{"workspace": "WS", "lakehouse": "lh_exports"}, "WS/lh_config"]
LABELS = [
    "onelake_rename",
    "notebookutils_fs",
    "storage_token",
    "database_token",
    "odbc_driver_18",
    "state_table_protocol",
    "delta_commit_race",
    "files_writable (WS/lh_exports)",
    "files_writable (WS/lh_config)",
    "scratch_removed",
]


@pytest.fixture()
def notebookutils(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The stand-in's ``notebookutils`` (its ``fs`` over local paths)."""
    monkeypatch.syspath_prepend(str(STANDIN))
    import notebookutils

    return notebookutils


def fake_pyodbc(*drivers: str) -> types.ModuleType:
    module = types.ModuleType("pyodbc")
    module.version = "5.3.0"  # type: ignore[attr-defined]
    module.drivers = lambda: list(drivers)  # type: ignore[attr-defined]
    return module


@pytest.fixture()
def driver_18(monkeypatch: pytest.MonkeyPatch) -> None:
    """pyodbc listing Fabric's driver (locally only PostgreSQL's are installed)."""
    monkeypatch.setitem(
        sys.modules, "pyodbc", fake_pyodbc("ODBC Driver 18 for SQL Server", "PostgreSQL Unicode")
    )


class Proxy:
    """``notebookutils.fs`` with some calls replaced."""

    def __init__(self, fs: Any, **calls: Any):
        self._fs, self._calls = fs, calls

    def __getattr__(self, name: str) -> Any:
        return self._calls.get(name) or getattr(self._fs, name)


def run(tmp_path: Path, fs: Any) -> dict[str, Row]:
    from fabgen_runtime.engines.python.selftest import run_python

    rows = run_python(CONFIG, TARGETS, race_rounds=2, fs=fs, platform=LocalPlatform(tmp_path / "onelake"))
    assert [row.label for row in rows] == LABELS
    return {row.label: row for row in rows}


def failing(rows: dict[str, Row]) -> set[str]:
    return {label for label, row in rows.items() if not row.passed}


def test_every_python_check_passes_against_the_standin(
    tmp_path: Path, notebookutils: Any, driver_18: None
) -> None:
    rows = run(tmp_path, notebookutils.fs)
    assert failing(rows) == set(), "\n".join(format_table(rows.values()))
    assert "1 won, 3 refused" in rows["onelake_rename"].seen
    assert "not created yet" in rows["state_table_protocol"].seen
    assert "stale snapshot" in rows["delta_commit_race"].seen
    raise_on_failure(list(rows.values()))
    files = tmp_path / "onelake" / "WS"
    assert not list(files.rglob("_fabgen_selftest")), "the scratch folders were left behind"


def test_an_mv_that_replaces_the_destination_fails_the_rename_row(
    tmp_path: Path, notebookutils: Any, driver_18: None
) -> None:
    fs = notebookutils.fs

    def mv(src: str, dst: str, create_path: bool = False, overwrite: bool = False) -> bool:
        return fs.mv(src, dst, create_path, True)  # overwrite ignored: the destination is replaced

    rows = run(tmp_path, Proxy(fs, mv=mv))
    assert failing(rows) == {"onelake_rename"}
    assert "onto an existing file replaced it" in rows["onelake_rename"].seen


def test_an_mv_that_checks_then_moves_loses_the_race(
    tmp_path: Path, notebookutils: Any, driver_18: None
) -> None:
    fs = notebookutils.fs

    def mv(src: str, dst: str, create_path: bool = False, overwrite: bool = False) -> bool:
        if fs.exists(dst) and not overwrite:
            raise FileExistsError(dst)
        time.sleep(0.2)  # the window between the check and the move, where racers meet
        os.replace(fs.local(src), fs.local(dst))
        return True

    rows = run(tmp_path, Proxy(fs, mv=mv))
    assert failing(rows) == {"onelake_rename"}
    assert "racing onto one name: 4 reported success" in rows["onelake_rename"].seen


@pytest.mark.parametrize(
    ("audience", "row"), [("storage", "storage_token"), ("https://database.windows.net/", "database_token")]
)
def test_a_get_token_that_raises_fails_its_row(
    tmp_path: Path,
    notebookutils: Any,
    driver_18: None,
    monkeypatch: pytest.MonkeyPatch,
    audience: str,
    row: str,
) -> None:
    issue = notebookutils.credentials.getToken

    def get_token(asked: str) -> str:
        if asked == audience:
            raise RuntimeError("AADSTS500011: the resource principal was not found")
        return issue(asked)

    monkeypatch.setattr(notebookutils.credentials, "getToken", get_token)
    rows = run(tmp_path, notebookutils.fs)
    assert failing(rows) == {row}
    assert "AADSTS500011" in rows[row].seen


def test_pyodbc_without_driver_18_fails_its_row(
    tmp_path: Path, notebookutils: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyodbc", fake_pyodbc("PostgreSQL ANSI", "PostgreSQL Unicode"))
    rows = run(tmp_path, notebookutils.fs)
    assert failing(rows) == {"odbc_driver_18"}
    assert "no ODBC Driver 18 for SQL Server" in rows["odbc_driver_18"].seen


def test_a_state_table_with_deletion_vectors_fails_its_row(
    tmp_path: Path, notebookutils: Any, driver_18: None
) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    log_table = tmp_path / "onelake" / "WS" / "lh_config.Lakehouse" / "Tables" / "dbo" / "log_resource_export"
    write_deltalake(
        str(log_table), pa.table({"a": [1]}), configuration={"delta.enableDeletionVectors": "true"}
    )
    rows = run(tmp_path, notebookutils.fs)
    assert failing(rows) == {"state_table_protocol"}
    seen = rows["state_table_protocol"].seen
    assert "log_resource_export: reader 3 / writer 7" in seen and "deletionVectors" in seen
    assert "rebuild_state_table" in seen and "log_resource_export_watermark" not in seen


def test_a_read_only_files_folder_fails_its_lakehouse_row(
    tmp_path: Path, notebookutils: Any, driver_18: None
) -> None:
    fs = notebookutils.fs
    read_only = "lh_exports.Lakehouse/Files"

    def refuse(call: str) -> Any:
        def guarded(path: str, *args: Any) -> Any:
            if read_only in path:
                raise PermissionError(f"403 Forbidden: {path}")  # what OneLake answers a reader
            return getattr(fs, call)(path, *args)

        return guarded

    rows = run(tmp_path, Proxy(fs, put=refuse("put"), mkdirs=refuse("mkdirs")))
    assert failing(rows) == {"files_writable (WS/lh_exports)"}
    assert "PermissionError: 403 Forbidden" in rows["files_writable (WS/lh_exports)"].seen


def test_an_ls_counting_characters_fails_the_notebookutils_row(
    tmp_path: Path, notebookutils: Any, driver_18: None
) -> None:
    fs = notebookutils.fs

    def ls(folder: str) -> list[Any]:
        return [
            fs.FileInfo(e.name, e.path, len(fs.local(e.path).read_text(encoding="utf-8")), e.isDir, e.isFile)
            if e.isFile
            else e
            for e in fs.ls(folder)
        ]

    rows = run(tmp_path, Proxy(fs, ls=ls))
    assert failing(rows) == {"notebookutils_fs"}
    assert "ls: ls() gives the file" in rows["notebookutils_fs"].seen


@pytest.mark.parametrize(
    ("call", "broken", "expected"),
    [
        ("head", lambda fs: lambda file, max_bytes=65536: fs.head(file, 10), "head() gave back other text"),
        ("cp", lambda fs: lambda src, dest, recurse=False: True, "cp to file:: raised FileNotFoundError"),
        ("exists", lambda fs: lambda path: True, "exists() of a missing path is true"),
        ("rm", lambda fs: lambda path, recurse=False: True, "rm() left the file"),
    ],
)
def test_each_notebookutils_call_is_checked(
    tmp_path: Path, notebookutils: Any, call: str, broken: Any, expected: str
) -> None:
    fs = notebookutils.fs
    row = check_notebookutils_fs(Proxy(fs, **{call: broken(fs)}), str(tmp_path / "scratch"))
    assert not row.passed and expected in row.seen, row.seen
    assert check_notebookutils_fs(fs, str(tmp_path / "again")).passed


def test_a_delete_that_leaves_the_scratch_folder_fails_its_row(tmp_path: Path, notebookutils: Any) -> None:
    ops: FileOps = NotebookFsOps(Proxy(notebookutils.fs, rm=lambda path, recurse=False: True))
    scratch = str(tmp_path / "Files" / "_fabgen_selftest" / "run")
    ops.put(f"{scratch}/left.txt", "x")
    row = check_scratch_removed(ops, scratch)
    assert not row.passed and "still there" in row.seen


# --------------------------------------------------------------------------- tokens


def jwt(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


def test_a_token_shows_whom_it_was_issued_to_and_never_itself() -> None:
    token = jwt({"aud": "https://storage.azure.com", "upn": "etl@contoso.com", "exp": time.time() + 3600})
    row = check_token("storage_token", lambda audience: token, "storage")
    assert row.passed and "upn etl@contoso.com" in row.seen and "expires in 60 min" in row.seen
    assert token not in row.seen and token.split(".")[1] not in row.seen


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (
            lambda: jwt({"aud": "https://database.windows.net/", "appid": "x", "exp": time.time() - 120}),
            "expired 2 min",
        ),
        (lambda: "", "returned str"),
        (
            lambda: jwt({"aud": "https://storage.azure.com", "exp": time.time() + 600}),
            "not a token for database",
        ),
        (lambda: None, "returned NoneType"),
    ],
)
def test_an_expired_or_empty_token_fails(token: Any, expected: str) -> None:
    issued = token()  # made now: the claims' times are relative to the test, not to its collection
    row = check_token("database_token", lambda audience: issued, "https://database.windows.net/")
    assert not row.passed and expected in row.seen


# --------------------------------------------------------------------------- Spark-only checks


def test_odbc_driver_check_without_pyodbc() -> None:
    def missing() -> Any:
        raise ImportError("No module named 'pyodbc'")

    row = check_odbc_driver(missing)
    assert not row.passed and "pyodbc does not import" in row.seen


def test_the_synapsesql_check() -> None:
    constants = types.SimpleNamespace(Constants=types.SimpleNamespace(DatabaseName="db", WorkspaceId="ws"))

    def importer(name: str) -> Any:
        return constants if name.endswith("Constants") else types.ModuleType(name)

    with_connector = types.SimpleNamespace(synapsesql=lambda query: None)
    assert check_synapsesql(with_connector, importer).passed
    row = check_synapsesql(types.SimpleNamespace(), importer)
    assert not row.passed and "no synapsesql" in row.seen

    def absent(name: str) -> Any:
        raise ModuleNotFoundError(f"No module named {name!r}")

    row = check_synapsesql(with_connector, absent)
    assert not row.passed and "does not import" in row.seen


# --------------------------------------------------------------------------- Delta


def test_the_pinned_protocol_expectation() -> None:
    pinned = TableFacts(1, 2, properties={"delta.enableDeletionVectors": "false"})
    assert (
        pinned_expectation(pinned, {"delta.enableDeletionVectors": "false", "delta.minWriterVersion": "2"})
        == []
    )
    assert pinned_expectation(TableFacts(1, 2)) == []  # an older fabgen's table: the property absent
    assert pinned_expectation(TableFacts(1, 2, properties={"delta.enableDeletionVectors": "true"})) == [
        "delta.enableDeletionVectors is 'true'"
    ]
    dv = TableFacts(3, 7, ("deletionVectors",), ("deletionVectors", "invariants"))
    assert pinned_expectation(dv) == [
        "reader 3 / writer 7 (deletionVectors, invariants), pinned reader 1 / writer 2"
    ]
    spark_pinned = {"delta.enableRowTracking": "false"}
    assert pinned_expectation(pinned, spark_pinned) == ["delta.enableRowTracking is None, pinned 'false'"]


def test_a_creation_code_that_ignores_the_pin_fails_the_state_table_row() -> None:
    made = TableFacts(
        3, 7, ("deletionVectors",), ("deletionVectors",), {"delta.enableDeletionVectors": "true"}
    )
    row = check_state_tables(
        lambda: made, {"delta.enableDeletionVectors": "false"}, {"log_resource_export": lambda: None}
    )
    assert not row.passed and row.seen.startswith("a state table made now: reader 3 / writer 7")


class BrokenDeltaRsWriter:
    """A delta-rs writer over a store without put-if-absent: its stale commit takes the version the
    other writer already committed (the newer commit file is moved over the older one)."""

    def __init__(self, path: str):
        from fabgen_runtime.engines.python.selftest import DeltaRsWriter

        self.inner = DeltaRsWriter(path, name="broken store")
        self.name, self.path, self.pinned_at = "broken store", path, None

    def pin(self) -> bool:
        from deltalake import DeltaTable

        self.pinned_at = DeltaTable(self.path).version()
        return self.inner.pin()

    def append(self, marker: str) -> int | None:
        version = self.inner.append(marker)
        if self.pinned_at is not None and version is not None and version > self.pinned_at + 1:
            log = Path(self.path) / "_delta_log"
            os.replace(log / f"{version:020d}.json", log / f"{self.pinned_at + 1:020d}.json")
            version = self.pinned_at + 1
        self.pinned_at = None
        return version

    def is_conflict(self, exc: BaseException) -> bool:
        return self.inner.is_conflict(exc)


def test_a_store_that_lets_two_commits_take_one_version_fails_the_race(tmp_path: Path) -> None:
    from fabgen_runtime.engines.python.selftest import DeltaRsWriter
    from fabgen_runtime.selftest.delta import check_commit_race

    path = str(tmp_path / "race")
    first = DeltaRsWriter(path)
    first.create()
    row = check_commit_race(first, BrokenDeltaRsWriter(path), first.markers, first.versions, rounds=0)
    assert not row.passed
    assert "reported stale-first committed (version 1) but the table holds 0 such row(s)" in row.seen


def test_a_conflict_error_is_an_allowed_outcome_and_other_errors_are_not() -> None:
    conflict = Attempt("spark", "b", error=RuntimeError("ConcurrentAppendException"), conflict=True)
    good = [Attempt("delta-rs", "a", version=1), conflict]
    assert judge_race(good, {"a": 1}, {"a": 1}) == []
    broken = Attempt("spark", "b", error=OSError("disk full"))
    assert judge_race([good[0], broken], {"a": 1}, {"a": 1}) == ["spark failed with OSError: disk full"]
    twice = [Attempt("x", "a", version=1), Attempt("y", "b", version=1)]
    assert judge_race(twice, {"a": 1, "b": 1}, {}) == ["commits a, b all claim version 1"]


# --------------------------------------------------------------------------- the table


def test_the_checks_name_their_notebooks_and_documents() -> None:
    names = [check.name for check in CHECKS]
    assert len(set(names)) == len(names)
    assert all(check.engines and set(check.engines) <= {"spark", "python"} and check.doc for check in CHECKS)
    assert [c.name for c in checks_for("spark")] == [
        "onelake_rename",
        "database_token",
        "odbc_driver_18",
        "synapsesql_connector",
        "state_table_protocol",
        "delta_commit_race",
        "files_writable",
        "scratch_removed",
    ]


def test_a_failed_row_fails_the_notebook_naming_it() -> None:
    rows = [
        Row("onelake_rename", True, "refused", "doc"),
        Row("files_writable", False, "PermissionError", "doc", "WS/lh_exports"),
    ]
    lines = format_table(rows)
    assert lines[2].startswith("onelake_rename ") and " pass " in lines[2]
    assert "FAIL" in lines[3] and "files_writable (WS/lh_exports)" in lines[3]
    with pytest.raises(
        SelfTestFailed, match=r"1 of 2 self-test check\(s\) failed: files_writable \(WS/lh_exports\)"
    ):
        raise_on_failure(rows)
    raise_on_failure(rows[:1])
