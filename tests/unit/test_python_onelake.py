"""The Python engine's OneLake pieces (engines/python/onelake.py) against the Fabric stand-in.

``NotebookFileStore`` must behave as ``LocalFileStore`` does for every call the run protocol makes,
so the same contract (tests/support/filestore_contract.py; Spark's ``HadoopFS`` passes it in
tests/integration/test_filestore_contract.py) runs on both (the stand-in's ``notebookutils.fs``
over abfss URIs mapped to a local folder). The stand-in has Microsoft's documented signatures; it
does not show how ``notebookutils`` behaves on Fabric.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fabgen_runtime.engines.python.onelake import (
    FabricStorageOptions,
    NotebookFileStore,
    Uploads,
    resolve,
)
from fabgen_runtime.protocol.store import FileStore, LocalFileStore
from filestore_contract import check_file_store_contract

STANDIN = Path(__file__).resolve().parents[1] / "support" / "fabric_standin"
ROOT = "abfss://ws@onelake.dfs.fabric.microsoft.com/lh.Lakehouse/Files"


@pytest.fixture()
def notebook_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> NotebookFileStore:
    """A NotebookFileStore over the stand-in's ``notebookutils.fs``."""
    monkeypatch.syspath_prepend(str(STANDIN))
    monkeypatch.setenv("FABRIC_STANDIN_ONELAKE", str(tmp_path / "onelake"))
    import notebookutils

    return NotebookFileStore(notebookutils.fs)


@pytest.fixture(params=["local", "notebookutils"])
def store(request, notebook_store: NotebookFileStore, tmp_path: Path) -> Iterator[tuple[FileStore, str]]:
    """A store and the root URI to use with it."""
    if request.param == "local":
        yield LocalFileStore(), str(tmp_path / "Files")
    else:
        yield notebook_store, ROOT


def test_a_store_reads_writes_lists_and_renames_as_the_protocol_needs(store) -> None:
    fs, root = store
    check_file_store_contract(fs, root)


def test_a_store_hashes_a_file_of_any_size_in_chunks(
    store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``sha256`` is hashlib's digest of the bytes, binary and over several chunks alike; the
    notebook store copies the file to a local temporary file and removes it afterwards."""
    import hashlib
    import tempfile

    from fabgen_runtime.protocol.store import HASH_CHUNK

    fs, root = store
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    data = bytes(range(256)) * (2 * HASH_CHUNK // 256) + b"\xff\x00\x1f"  # 2 chunks and a bit
    local = tmp_path / "big.bin"
    local.write_bytes(data)
    uri = f"{root}/out/big.bin"
    if isinstance(fs, Uploads):
        fs.upload(str(local), uri)
    else:
        fs.mkdirs(f"{root}/out")
        local.rename(uri)
    assert fs.size(uri) == len(data)
    assert fs.sha256(uri) == hashlib.sha256(data).hexdigest()
    fs.write_bytes(f"{root}/out/small.json", b"{}")
    assert fs.sha256(f"{root}/out/small.json") == hashlib.sha256(b"{}").hexdigest()
    assert list(scratch.iterdir()) == []  # no temporary copy left behind
    with pytest.raises(OSError):
        fs.sha256(f"{root}/out/missing.bin")
    assert list(scratch.iterdir()) == []


def test_notebook_store_uploads_a_local_file_and_refuses_binary_text(notebook_store, tmp_path: Path) -> None:
    fs, root = notebook_store, ROOT
    assert isinstance(fs, Uploads) and not isinstance(LocalFileStore(), Uploads)
    local = tmp_path / "part.csv.gz"
    local.write_bytes(b"\x1f\x8b\x08binary")
    fs.upload(str(local), f"{root}/_fabgen_staging/run/out/part.csv.gz")
    assert fs.size(f"{root}/_fabgen_staging/run/out/part.csv.gz") == local.stat().st_size
    with pytest.raises(OSError, match="not UTF-8"):
        fs.write_bytes(f"{root}/x.bin", b"\xff\xfe")
    with pytest.raises(OSError, match=r"notebookutils\.fs\.ls"):
        fs.list(f"{root}/_fabgen_staging/run/out/part.csv.gz")  # ls of a file: the stand-in raises


def test_fabric_storage_options_reuse_a_token_then_ask_again() -> None:
    asked: list[str] = []

    def get_token(audience: str) -> str:
        asked.append(audience)
        return f"token-{len(asked)}"

    options = FabricStorageOptions(get_token, reuse_seconds=3600)
    assert options() == {"bearer_token": "token-1", "use_fabric_endpoint": "true"}
    assert resolve(options) == options() and asked == ["storage"]  # reused
    stale = FabricStorageOptions(get_token, reuse_seconds=-1)
    assert stale()["bearer_token"] != stale()["bearer_token"]  # asked at each use
    assert resolve(None) is None and resolve({"a": "b"}) == {"a": "b"}


def test_a_warehouse_without_its_sql_endpoint_is_refused_by_name_on_fabric(
    monkeypatch, tmp_path: Path
) -> None:
    """On Fabric the Python engine reads a warehouse over ODBC, which needs its SQL endpoint: without
    one in the embedded facts, the read stops before connecting, naming the export and the field."""
    import json

    from fabgen_runtime import catalog
    from fabgen_runtime.engines.python import warehouse
    from fabgen_runtime.errors import ConfigError
    from fabgen_runtime.platform import FabricPlatform
    from writer_support import make_plan

    monkeypatch.syspath_prepend(str(STANDIN))
    monkeypatch.setenv("FABRIC_STANDIN_CONTEXT", json.dumps({"currentWorkspaceName": "ws"}))
    catalog.configure(None)
    plan = make_plan(
        "lh_out",
        source_type="warehouse",
        source_workspace="ws",
        source_datastore="wh_sales",
        source_schema="dbo",
    )
    with pytest.raises(ConfigError, match=r"source_datastore.*wh_sales over ODBC.*sql_endpoint"):
        warehouse.read(plan, FabricPlatform())


def test_a_local_rename_is_one_atomic_step_that_never_overwrites(tmp_path) -> None:
    """A kill inside the move leaves the file under one name (renameat2 NOREPLACE), never two: with a
    hard link then an unlink, a kill between them left a file both published and set aside, which
    recovery refused to roll forward (CI, 2026-12-01, Python kill matrix at after_trigger)."""
    import errno
    import os

    from fabgen_runtime.protocol.store import _rename_noreplace

    src, dst, other = tmp_path / "a", tmp_path / "sub" / "b", tmp_path / "c"
    src.write_text("x")
    other.write_text("y")
    inode = src.stat().st_ino
    LocalFileStore().rename(str(src), str(dst))
    assert not src.exists() and dst.read_text() == "x"
    assert dst.stat().st_ino == inode and dst.stat().st_nlink == 1
    with pytest.raises(OSError) as refused:
        _rename_noreplace(str(dst), str(other))
    assert refused.value.errno == errno.EEXIST and other.read_text() == "y" and dst.exists()
    assert _rename_noreplace(str(dst), str(src)) is True  # this Linux has it: no link + unlink window
    assert os.path.exists(src) and not os.path.exists(dst)
