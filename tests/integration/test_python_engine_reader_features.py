"""Delta reader features the Python engine cannot read correctly are refused, never misread.

Local Spark (delta-spark 4.2) writes the tables: one with deletion vectors (Fabric Spark Runtime
2.0's default for new tables) and rows DELETEd after they were written (the commit carries a
``deletionVector`` on its ``add``), one with column mapping (``name`` mode, a column renamed).
delta-rs's pyarrow dataset applies neither: deltalake 1.6.6 refuses the first and reads the second
as all NULLs. The Python engine refuses both with a :class:`SourceReadError` naming the export,
the table and the feature; the Spark engine exports them correctly (its files are read back and
compared with ``spark.read``). A whole ``fabgen run`` of a python group on such a table exits 1,
publishes nothing and leaves the watermark where it was.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_child import run_commands
from fabgen_runtime import platform, sources, writer
from fabgen_runtime.engines.python import read as python_read
from fabgen_runtime.errors import SourceReadError
from writer_support import make_plan, unique_lakehouse

pytestmark = pytest.mark.spark

ROWS = 500


def _deleted(i: int) -> bool:
    return i % 10 == 3


def _commits(path: str) -> list[dict[str, Any]]:
    actions = []
    for commit in sorted(Path(path, "_delta_log").glob("*.json")):
        actions += [json.loads(line) for line in commit.read_text().splitlines() if line]
    return actions


def _create(spark, path: str, properties: str) -> None:
    spark.sql(
        f"CREATE TABLE delta.`{path}` (id BIGINT, qty INT, note STRING) USING delta "
        f"TBLPROPERTIES ({properties})"
    )


def _append(spark, path: str, first: int, last: int) -> None:
    rows = spark.range(first, last + 1).selectExpr("id", "cast(id % 97 as int) qty", "concat('n', id) note")
    rows.coalesce(1).write.format("delta").mode("append").save(path)


@pytest.fixture(scope="module")
def dv_table(spark, local_platform) -> str:
    """A table with deletion vectors, ids 1..ROWS, the ids ending in 3 deleted (by a DV)."""
    name = "dv_" + uuid.uuid4().hex[:8]
    path = platform.table_uri(local_platform, "ws", "lh_gold", "dbo", name)
    _create(spark, path, "'delta.enableDeletionVectors' = 'true'")
    _append(spark, path, 1, ROWS)
    spark.sql(f"DELETE FROM delta.`{path}` WHERE id % 10 = 3")
    dvs = [
        a["add"]["deletionVector"] for a in _commits(path) if "add" in a and a["add"].get("deletionVector")
    ]
    assert dvs and dvs[-1]["cardinality"] == ROWS // 10  # Spark wrote a DV, did not rewrite the file
    assert spark.read.format("delta").load(path).count() == ROWS - ROWS // 10
    return name


@pytest.fixture(scope="module")
def cm_table(spark, local_platform) -> str:
    """A column-mapped table (name mode, reader version 2) whose column ``note`` became ``remark``."""
    name = "cm_" + uuid.uuid4().hex[:8]
    path = platform.table_uri(local_platform, "ws", "lh_gold", "dbo", name)
    _create(spark, path, "'delta.columnMapping.mode' = 'name'")
    _append(spark, path, 1, ROWS)
    spark.sql(f"ALTER TABLE delta.`{path}` RENAME COLUMN note TO remark")
    protocol = next(a["protocol"] for a in _commits(path) if "protocol" in a)
    assert protocol["minReaderVersion"] == 2 and "readerFeatures" not in protocol
    return name


def _spark_export(spark, local_platform, table: str) -> list[dict[str, str]]:
    """The Spark engine's csv export of ``table``, read back with the csv module."""
    plan = make_plan(unique_lakehouse(), source_table=table, file_format="csv", compression="none")
    read = sources.get("lakehouse").read(spark, plan, local_platform)
    try:
        staged = writer.write(read.df, plan, local_platform)
    finally:
        read.close()
    rows: list[dict[str, str]] = []
    for f in staged.files:
        rows += list(csv.DictReader(io.StringIO(Path(f.uri).read_text(encoding="utf-8"))))
    assert staged.rows == len(rows)
    return rows


def _python_refusal(local_platform, table: str) -> SourceReadError:
    plan = make_plan(unique_lakehouse(), source_table=table, file_format="csv", compression="none")
    with pytest.raises(SourceReadError) as caught:
        python_read.read(plan, local_platform)
    assert caught.value.export == plan.config.key
    return caught.value


def test_deletion_vectors_are_refused_by_python_and_applied_by_spark(spark, local_platform, dv_table) -> None:
    error = _python_refusal(local_platform, dv_table)
    assert f"dbo.{dv_table}" in str(error) and "deletionVectors" in str(error)
    assert "spark engine" in str(error)

    rows = _spark_export(spark, local_platform, dv_table)
    ids = sorted(int(r["id"]) for r in rows)
    expected = spark.read.format("delta").load(
        platform.table_uri(local_platform, "ws", "lh_gold", "dbo", dv_table)
    )
    assert len(ids) == expected.count() == ROWS - ROWS // 10
    assert ids == [i for i in range(1, ROWS + 1) if not _deleted(i)]  # no deleted row exported


def test_column_mapping_is_refused_by_python_not_read_as_nulls(spark, local_platform, cm_table) -> None:
    error = _python_refusal(local_platform, cm_table)
    assert f"dbo.{cm_table}" in str(error) and "columnMapping" in str(error)

    rows = _spark_export(spark, local_platform, cm_table)
    assert list(rows[0]) == ["id", "qty", "remark"]
    assert sorted((int(r["id"]), r["remark"]) for r in rows) == [(i, f"n{i}") for i in range(1, ROWS + 1)]


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


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _state(onelake: Path, table: str) -> list[dict[str, Any]]:
    from deltalake import DeltaTable

    path = onelake / WORKSPACE / "lh_config.Lakehouse" / "Tables" / "dbo" / table
    return DeltaTable(str(path)).to_pyarrow_table().to_pylist()


def test_a_python_run_on_a_table_that_gained_deletion_vectors_fails_and_publishes_nothing(
    spark, tmp_path
) -> None:
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
    after_first = _tree(files.parent)  # Files/: the file, the run's manifest and owners

    spark.sql(f"ALTER TABLE delta.`{source}` SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')")
    _append(spark, source, 101, 200)
    spark.sql(f"DELETE FROM delta.`{source}` WHERE id % 10 = 3")
    assert any("add" in a and a["add"].get("deletionVector") for a in _commits(source))

    code, output = _run(project, "2025-12-13")
    assert code == 1, output
    assert "dbo.orders" in output and "deletionVectors" in output
    assert _tree(files.parent) == after_first  # Files/: nothing staged, published or changed
    marks = [r for r in _state(onelake, "log_resource_export_watermark") if r["export_name"] == "orders"]
    assert [r["watermark_value"] for r in marks] == ["100"]  # unmoved
    log = sorted(_state(onelake, "log_resource_export"), key=lambda r: r["export_state"])
    assert [r["export_state"] for r in log] == ["error", "success"]
    assert log[0]["error_type"] == "SourceReadError" and "deletionVectors" in log[0]["error_message"]
