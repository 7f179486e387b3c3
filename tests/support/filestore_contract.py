"""The ``FileStore`` contract: what the run protocol needs of every file store, checked on each adapter.

``LocalFileStore`` and the Python engine's ``NotebookFileStore`` (over the Fabric stand-in) run it in
tests/unit/test_python_onelake.py, Spark's ``HadoopFS`` in tests/integration/test_filestore_contract.py.
"""

from __future__ import annotations

from typing import Any

import pytest


def check_file_store_contract(fs: Any, root: str) -> None:
    """Write, refuse an overwrite, read, size, list, make folders, rename (never over a file, the
    parent created), delete: as ``protocol.store.FileStore`` documents them, under ``root``."""
    assert fs.list(f"{root}/nothing") == [] and not fs.exists(f"{root}/nothing")
    fs.write_bytes(f"{root}/a/journal.json", b'{"phase": "intent"}')
    with pytest.raises(OSError):
        fs.write_bytes(f"{root}/a/journal.json", b"{}")  # overwrite=False refuses
    fs.write_bytes(f"{root}/a/journal.json", '{"phase": "publiée"}'.encode(), overwrite=True)
    assert fs.read_bytes(f"{root}/a/journal.json") == '{"phase": "publiée"}'.encode()
    assert fs.size(f"{root}/a/journal.json") == len('{"phase": "publiée"}'.encode())
    fs.mkdirs(f"{root}/a/sub")
    assert [(s.name, s.is_dir) for s in fs.list(f"{root}/a")] == [("journal.json", False), ("sub", True)]
    assert fs.is_dir(f"{root}/a/sub") and not fs.is_dir(f"{root}/a/journal.json")

    fs.rename(f"{root}/a/journal.json", f"{root}/b/moved.json")  # the parent is created
    assert not fs.exists(f"{root}/a/journal.json") and fs.exists(f"{root}/b/moved.json")
    fs.write_bytes(f"{root}/a/other.json", b"{}")
    with pytest.raises(OSError, match="exists"):
        fs.rename(f"{root}/a/other.json", f"{root}/b/moved.json")  # never over an existing file
    assert fs.read_bytes(f"{root}/b/moved.json") == '{"phase": "publiée"}'.encode()

    assert fs.delete(f"{root}/a", recursive=True) and not fs.exists(f"{root}/a")
    assert fs.delete(f"{root}/a") is False
