"""Delta reader features: deletion vectors and column mapping are read correctly, never misread.

Local Spark (delta-spark 4.2) writes the tables. Deletion vectors (Fabric Spark Runtime 2.0's
default for new tables): several files, one of 200,000 rows (so its DV has bitmap containers),
DELETEs in some files (every 3rd row, a range, every 10th), an UPDATE (which moves rows and
rewrites the DVs into one shared DV file at several offsets), checkpoints every 3 commits, and a
partitioned table. delta-rs's pyarrow dataset refuses such tables (deltalake 1.2.1 and 1.6.6); the
Python engine's export of each (full, incremental with a watermark, period) equals the Spark
engine's export of the same plan by value, its row count is ``spark.read``'s and no deleted id is
exported. The decoder also reads every DV Spark wrote. A column-mapped table (``name`` mode, a
column renamed) is exported by both engines alike (more in test_python_engine_column_mapping.py);
a table with an unknown reader feature (``v2Checkpoint``) is still refused. A whole ``fabgen run``
of a python group on a table that gained deletion vectors exports the live rows only and moves its
watermark.
"""

from __future__ import annotations

import csv
import io
import json
import struct
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_child import run_commands
from fabgen_runtime import platform
from fabgen_runtime.engines.python import read as python_read
from fabgen_runtime.engines.python import write as python_write
from fabgen_runtime.engines.python.deletion_vectors import (
    Descriptor,
    deleted_rows,
    read_stored,
    relative_path,
)
from fabgen_runtime.engines.spark import sources, writer
from fabgen_runtime.errors import SourceReadError
from writer_support import make_plan, unique_lakehouse

pytestmark = pytest.mark.jvm

ROWS = 500
BIG = 200_000  # rows of one file: more than 65,536, so its DV holds several (bitmap) containers
PERIOD = (datetime(2025, 2, 1), datetime(2025, 3, 15))


def _deleted(i: int) -> bool:
    return i % 10 == 3


def _commits(path: str) -> list[dict[str, Any]]:
    actions = []
    for commit in sorted(Path(path, "_delta_log").glob("*.json")):
        actions += [json.loads(line) for line in commit.read_text().splitlines() if line]
    return actions


def _create(spark, path: str, properties: str, partitioned: bool = False) -> None:
    spark.sql(
        f"CREATE TABLE delta.`{path}` (id BIGINT, qty INT, note STRING, day DATE, region STRING) USING delta "
        f"{'PARTITIONED BY (region)' if partitioned else ''} TBLPROPERTIES ({properties})"
    )


def _append(spark, path: str, first: int, last: int, files: int = 1) -> None:
    rows = spark.range(first, last + 1).selectExpr(
        "id",
        "cast(id % 97 as int) qty",
        "concat('n', id) note",
        "date_add(date'2025-01-01', cast(id % 400 as int)) day",
        "case when id % 2 = 0 then 'east' else 'we st/x' end region",
    )
    rows.repartition(files).sortWithinPartitions("id").write.format("delta").mode("append").save(path)


def _uri(local_platform, name: str) -> str:
    return platform.table_uri(local_platform, "ws", "lh_gold", "dbo", name)


@pytest.fixture(scope="module")
def dv_table(spark, local_platform) -> str:
    """Deletion vectors in several files of one table, an UPDATE after the DELETEs, checkpoints."""
    name = "dv_" + uuid.uuid4().hex[:8]
    path = _uri(local_platform, name)
    _create(spark, path, "'delta.enableDeletionVectors' = 'true', 'delta.checkpointInterval' = '3'")
    _append(spark, path, 1, ROWS)
    _append(spark, path, ROWS + 1, ROWS + BIG)  # one file of 200,000 rows
    _append(spark, path, ROWS + BIG + 1, ROWS + BIG + 2000, files=2)
    _append(spark, path, 300_001, 400_000)  # 100,000 rows: a range deleted below
    spark.sql(f"DELETE FROM delta.`{path}` WHERE id <= {ROWS} AND id % 10 = 3")
    spark.sql(
        f"DELETE FROM delta.`{path}` WHERE id > {ROWS} AND id <= {ROWS + BIG} "
        "AND (id % 3 = 0 OR id BETWEEN 70000 AND 90000)"
    )
    spark.sql(f"DELETE FROM delta.`{path}` WHERE id BETWEEN 310000 AND 380000")
    spark.sql(f"UPDATE delta.`{path}` SET note = 'upd' WHERE id % 100 = 7")
    assert list(Path(path, "_delta_log").glob("*.checkpoint.parquet"))
    return name


@pytest.fixture(scope="module")
def dv_partitioned(spark, local_platform) -> str:
    """A partitioned table (one partition value needs escaping in paths) with a DV in one partition."""
    name = "dvp_" + uuid.uuid4().hex[:8]
    path = _uri(local_platform, name)
    _create(spark, path, "'delta.enableDeletionVectors' = 'true'", partitioned=True)
    _append(spark, path, 1, ROWS)
    spark.sql(f"DELETE FROM delta.`{path}` WHERE id % 10 = 3")
    dvs = [
        a["add"]["deletionVector"] for a in _commits(path) if "add" in a and a["add"].get("deletionVector")
    ]
    assert dvs and dvs[-1]["cardinality"] == ROWS // 10  # odd ids: one partition's file
    return name


@pytest.fixture(scope="module")
def cm_table(spark, local_platform) -> str:
    """A column-mapped table (name mode, reader version 2) whose column ``note`` became ``remark``.

    Deletion vectors off: Runtime 2.0's default (the session's) would make it reader 3 with both
    features; reader 2 is what Runtime 1.3 makes."""
    name = "cm_" + uuid.uuid4().hex[:8]
    path = _uri(local_platform, name)
    _create(spark, path, "'delta.columnMapping.mode' = 'name', 'delta.enableDeletionVectors' = 'false'")
    _append(spark, path, 1, ROWS)
    spark.sql(f"ALTER TABLE delta.`{path}` RENAME COLUMN note TO remark")
    protocol = next(a["protocol"] for a in _commits(path) if "protocol" in a)
    assert protocol["minReaderVersion"] == 2 and "readerFeatures" not in protocol
    return name


def _plan(table: str, kind: str, watermark: str = "150000"):
    """A csv export plan of ``table``: ``full``, ``incremental`` (ids above ``watermark``) or ``period``."""
    if kind == "full":
        return make_plan(unique_lakehouse(), source_table=table, file_format="csv", compression="none")
    if kind == "incremental":
        return make_plan(
            unique_lakehouse(),
            watermark=watermark,
            source_table=table,
            file_format="csv",
            compression="none",
            extract_type="incremental",
            incremental_column="id",
        )
    return make_plan(
        unique_lakehouse(),
        period=PERIOD,
        source_table=table,
        file_format="csv",
        compression="none",
        period_filter_column="day",
        source_columns=["id", "note", "region"],
    )


def _csv(staged) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for f in staged.files:
        rows += list(csv.DictReader(io.StringIO(Path(f.uri).read_text(encoding="utf-8"))))
    assert staged.rows == len(rows)
    return rows


def _spark_export(
    spark, local_platform, table: str, kind: str = "full", watermark: str = "0"
) -> list[dict[str, str]]:
    """The Spark engine's csv export of ``table``, read back with the csv module."""
    plan = _plan(table, kind, watermark)
    read = sources.get("lakehouse").read(spark, plan, local_platform)
    try:
        staged = writer.write(read.df, plan, local_platform)
    finally:
        read.close()
    return _csv(staged)


def _python_export(local_platform, table: str, kind: str, watermark: str) -> list[dict[str, str]]:
    plan = _plan(table, kind, watermark)
    staged = python_write.write(python_read.read(plan, local_platform).reader, plan, local_platform)
    return _csv(staged)


def _key(row: dict[str, str]) -> tuple[int, str]:
    return int(row["id"]), json.dumps(row, sort_keys=True)


@pytest.mark.parametrize("kind", ["full", "incremental", "period"])
@pytest.mark.parametrize("fixture", ["dv_table", "dv_partitioned"])
def test_deletion_vectors_are_applied_by_python_as_by_spark(
    spark, local_platform, request, fixture, kind
) -> None:
    table = request.getfixturevalue(fixture)
    frame = spark.read.format("delta").load(_uri(local_platform, table))
    watermark = "150000" if fixture == "dv_table" else "250"
    python_rows = sorted(_python_export(local_platform, table, kind, watermark), key=_key)
    assert python_rows == sorted(_spark_export(spark, local_platform, table, kind, watermark), key=_key)
    ids = {int(r["id"]) for r in python_rows}
    assert len(ids) == len(python_rows) > 0
    if kind == "full":
        assert len(python_rows) == frame.count()
    live = {r.id for r in frame.select("id").collect()}
    assert ids <= live
    if fixture == "dv_table":
        deleted = [3, 13, ROWS - 7, 1002, 80_000, 199_998, 350_000, 380_000]
        assert not ids & set(deleted) and not live & set(deleted)
        if kind == "full":
            assert len(python_rows) == 450 + (BIG - 66_667 - 13_334) + 2000 + (100_000 - 70_001)


def _kinds(bitmap: bytes) -> list[str]:
    """The container kinds of a portable 64-bit Roaring bitmap (headers only; one bucket)."""
    (buckets,) = struct.unpack_from("<Q", bitmap, 4)
    assert buckets == 1
    (cookie,) = struct.unpack_from("<I", bitmap, 16)
    if cookie & 0xFFFF == 12347:
        count, at = (cookie >> 16) + 1, 20
        runs = [bool(bitmap[at + i // 8] >> (i % 8) & 1) for i in range(count)]
        at += (count + 7) // 8
    else:
        (count,), at = struct.unpack_from("<I", bitmap, 20), 24
        runs = [False] * count
    sizes = [struct.unpack_from("<HH", bitmap, at + 4 * i)[1] + 1 for i in range(count)]
    return ["run" if r else "array" if n <= 4096 else "bitmap" for r, n in zip(runs, sizes, strict=True)]


def test_the_decoder_reads_every_dv_spark_wrote(spark, local_platform, dv_table) -> None:
    # Every DV ever committed (replaced ones too) decodes to its cardinality; the live files minus
    # their live DVs (the log replay) hold exactly the ids Spark reads, each once. (A deleted
    # position's id can still be live: the UPDATE rewrote its row into another file.)
    import pyarrow.fs as pa_fs
    import pyarrow.parquet as pq
    from deltalake import DeltaTable
    from fabgen_runtime.engines.python import delta_log

    path = _uri(local_platform, dv_table)
    table_fs = pa_fs.SubTreeFileSystem(path, pa_fs.LocalFileSystem())
    kinds: set[str] = set()
    offsets: set[int | None] = set()
    for action in _commits(path):
        if action.get("add", {}).get("deletionVector"):
            dv = Descriptor.from_action(action["add"]["deletionVector"])
            offsets.add(dv.offset)
            assert len(deleted_rows(dv, table_fs, path)) == dv.cardinality
            kinds |= set(_kinds(read_stored(table_fs, relative_path(dv, path), dv.offset or 0, dv.size)))
    assert kinds == {"array", "bitmap", "run"}  # Spark run-encodes the deleted range
    assert len(offsets) > 1  # the UPDATE wrote several DVs into one file
    live = {r.id for r in spark.read.format("delta").load(path).select("id").collect()}
    kept: list[int] = []
    for file, dv in delta_log.deletion_vectors(table_fs, DeltaTable(path).version()).items():
        ids = pq.read_table(Path(path, file), columns=["id"]).column(0).to_numpy()
        dead = set() if dv is None else set(ids[deleted_rows(dv, table_fs, path).astype("int64")].tolist())
        assert len(dead) == (0 if dv is None else dv.cardinality)
        kept += [i for i in ids.tolist() if i not in dead]
    assert len(kept) == len(live) and set(kept) == live


def _python_refusal(local_platform, table: str) -> SourceReadError:
    plan = make_plan(unique_lakehouse(), source_table=table, file_format="csv", compression="none")
    with pytest.raises(SourceReadError) as caught:
        python_read.read(plan, local_platform)
    assert caught.value.export == plan.config.key
    return caught.value


def test_column_mapping_is_read_by_python_not_as_nulls(spark, local_platform, cm_table) -> None:
    rows = _spark_export(spark, local_platform, cm_table)
    assert list(rows[0]) == ["id", "qty", "remark", "day", "region"]
    assert sorted((int(r["id"]), r["remark"]) for r in rows) == [(i, f"n{i}") for i in range(1, ROWS + 1)]
    assert sorted(_python_export(local_platform, cm_table, "full", "0"), key=_key) == sorted(rows, key=_key)


def test_an_unknown_reader_feature_is_still_refused(spark, local_platform) -> None:
    name = "v2c_" + uuid.uuid4().hex[:8]
    _create(spark, _uri(local_platform, name), "'delta.checkpointPolicy' = 'v2'")
    _append(spark, _uri(local_platform, name), 1, 10)
    error = _python_refusal(local_platform, name)
    assert f"dbo.{name}" in str(error) and "v2Checkpoint" in str(error)


WORKSPACE = "DEV_WORKSPACE"
EXPORT = {
    "export_group_name": "py",
    "export_name": "orders",
    "is_active": True,
    "execution_group": 1,
    "source_type": "lakehouse",
    "source_workspace": WORKSPACE,
    "source_datastore": "lh_gold",
    "source_schema": "dbo",
    "source_table": "orders",
    "target_workspace": WORKSPACE,
    "target_lakehouse": "lh_exports",
    "target_path": "py/",
    "target_filename_pattern": "orders_{run_date:%Y%m%d}.csv",
    "file_format": "csv",
    "extract_type": "incremental",
    "incremental_column": "id",
}


def _run(project: Path, run_date: str) -> tuple[int, str]:
    """``fabgen run`` of group ``py`` in a child process (no JVM there): exit code and output."""
    (report,) = run_commands(project, ["run", "-g", "py", "--run-date", run_date])
    return report["code"], report["stdout"][-4000:] + report["stderr"][-4000:]


def _state(onelake: Path, table: str) -> list[dict[str, Any]]:
    from deltalake import DeltaTable

    path = onelake / WORKSPACE / "lh_config.Lakehouse" / "Tables" / "dbo" / table
    return DeltaTable(str(path)).to_pyarrow_table().to_pylist()


def test_a_python_run_on_a_table_that_gained_deletion_vectors_exports_the_live_rows(spark, tmp_path) -> None:
    onelake = tmp_path / "onelake"
    project = tmp_path / "proj"
    (project / "exports").mkdir(parents=True)
    settings = {
        "name": "pyproj",
        "config_lakehouse": {"workspace": WORKSPACE, "lakehouse": "lh_config"},
        "local": {"onelake_root": str(onelake)},
        "groups": {"py": {"engine": "python"}},
    }
    (project / "fabgen.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    (project / "exports" / "py.yaml").write_text(yaml.safe_dump([EXPORT]), encoding="utf-8")
    source = str(onelake / WORKSPACE / "lh_gold.Lakehouse" / "Tables" / "dbo" / "orders")
    _create(spark, source, "'delta.appendOnly' = 'false'")
    _append(spark, source, 1, 100)

    code, output = _run(project, "2025-12-12")  # a plain table: exported, watermark 100
    assert code == 0, output
    files = onelake / WORKSPACE / "lh_exports.Lakehouse" / "Files" / "py"
    first = (files / "orders_20251212.csv").read_bytes()
    assert len(first.decode().splitlines()) == 101

    spark.sql(f"ALTER TABLE delta.`{source}` SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')")
    _append(spark, source, 101, 200)
    spark.sql(f"DELETE FROM delta.`{source}` WHERE id % 10 = 3")
    assert any("add" in a and a["add"].get("deletionVector") for a in _commits(source))

    code, output = _run(project, "2025-12-13")
    assert code == 0, output
    assert (files / "orders_20251212.csv").read_bytes() == first  # the first run's file untouched
    second = list(csv.reader(io.StringIO((files / "orders_20251213.csv").read_text(encoding="utf-8"))))
    assert second[0][0] == "id"
    assert [int(r[0]) for r in second[1:]] == [i for i in range(101, 201) if not _deleted(i)]
    marks = [r for r in _state(onelake, "log_resource_export_watermark") if r["export_name"] == "orders"]
    assert [r["watermark_value"] for r in marks] == ["200"]
    log = _state(onelake, "log_resource_export")
    assert [r["export_state"] for r in log] == ["success", "success"]
