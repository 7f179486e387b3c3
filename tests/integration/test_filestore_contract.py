"""Spark's ``HadoopFS`` passes the ``FileStore`` contract the other adapters pass.

The contract: tests/support/filestore_contract.py.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fabgen_runtime.engines.spark.fs import HadoopFS
from filestore_contract import check_file_store_contract

pytestmark = [pytest.mark.jvm]


def test_hadoop_fs_reads_writes_lists_and_renames_as_the_protocol_needs(spark, tmp_path: Path) -> None:
    check_file_store_contract(HadoopFS(spark), str(tmp_path / "Files"))


def test_hadoop_fs_hashes_a_file_as_hashlib_does(spark, tmp_path: Path) -> None:
    data = bytes(range(256)) * 9000 + b"\xff"
    (tmp_path / "big.bin").write_bytes(data)
    assert HadoopFS(spark).sha256(str(tmp_path / "big.bin")) == hashlib.sha256(data).hexdigest()
