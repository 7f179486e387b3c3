"""``fabgen run`` of an ``engine: python`` group: no JVM starts, and the files hold the table's rows.

The source is a real Delta table (written with delta-rs) in a local OneLake folder; the run goes
through the real CLI in a child process, which then reports whether it ever created a
SparkContext or has a ``java`` child (a local SparkSession's JVM lives until the process exits).
The files are read back with gzip + csv and pyarrow, the log table with delta-rs.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

ROWS = 1234
WORKSPACE = "DEV_WORKSPACE"
COMMON = {
    "export_group_name": "py",
    "is_active": True,
    "execution_group": 1,
    "source_type": "lakehouse",
    "source_workspace": WORKSPACE,
    "source_datastore": "lh_gold",
    "source_schema": "dbo",
    "source_table": "customers",
    "target_workspace": WORKSPACE,
    "target_lakehouse": "lh_exports",
}
EXPORTS = [
    {
        **COMMON,
        "export_name": "customers_csv",
        "target_path": "py/csv/",
        "target_filename_pattern": "customers_{run_date:%Y%m%d}.csv",
        "file_format": "csv",
        "compression": "gzip",
    },
    {
        **COMMON,
        "export_name": "customers_parquet",
        "target_path": "py/parquet/",
        "target_filename_pattern": "customers_{run_date:%Y%m%d}.parquet",
        "file_format": "parquet",
        "source_columns": ["customer_id", "name"],
    },
]

# Runs `fabgen run` in this child process, then reports what it started.
CHILD = """
import json, sys
import psutil
from fabgen.cli import main
try:
    main(sys.argv[1:], standalone_mode=False)
    code = 0
except SystemExit as exc:
    code = exc.code
spark = None
if "pyspark" in sys.modules:
    from pyspark import SparkContext
    spark = SparkContext._active_spark_context is not None
java = [p.name() for p in psutil.Process().children(recursive=True) if "java" in p.name().lower()]
print("REPORT " + json.dumps({"code": code, "spark": spark, "java": java}))
"""


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    from deltalake import write_deltalake

    root = tmp_path / "proj"
    (root / "exports").mkdir(parents=True)
    settings = {
        "name": "pyproj",
        "config_lakehouse": {"workspace": WORKSPACE, "lakehouse": "lh_config"},
        "local": {"onelake_root": str(tmp_path / "onelake")},
        "groups": {"py": {"engine": "python"}},
    }
    (root / "fabgen.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    (root / "exports" / "py.yaml").write_text(yaml.safe_dump(EXPORTS), encoding="utf-8")
    table = pa.table(
        {
            "customer_id": pa.array(range(ROWS), pa.int64()),
            "name": pa.array([f"customer, {i}" for i in range(ROWS)]),
            "balance": pa.array([i / 4 for i in range(ROWS)], pa.float64()),
        }
    )
    target = tmp_path / "onelake" / WORKSPACE / "lh_gold.Lakehouse" / "Tables" / "dbo" / "customers"
    write_deltalake(str(target), table)
    return root


def test_python_group_runs_without_a_jvm_and_writes_every_row(project: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FABGEN_ONELAKE")}
    args = ["run", "-p", str(project), "-g", "py", "--run-date", "2025-12-12"]
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        env={**env, "FABGEN_PLATFORM": "local"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = proc.stdout[-4000:] + proc.stderr[-4000:]
    report_line = next((line for line in proc.stdout.splitlines() if line.startswith("REPORT ")), None)
    assert report_line is not None, output
    report = json.loads(report_line[len("REPORT ") :])
    assert report["code"] == 0, output
    assert not report["spark"], "a SparkContext was created"
    assert report["java"] == [], f"a JVM was started: {report['java']}"
    assert "engine python" in proc.stdout

    files = tmp_path / "onelake" / WORKSPACE / "lh_exports.Lakehouse" / "Files" / "py"
    with gzip.open(files / "csv" / "customers_20251212.csv.gz", "rt", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(io.StringIO(f.read())))
    assert rows[0] == ["customer_id", "name", "balance"]
    assert len(rows) - 1 == ROWS
    assert rows[1:3] == [["0", "customer, 0", "0.0"], ["1", "customer, 1", "0.25"]]
    parquet = pq.read_table(files / "parquet" / "customers_20251212.parquet")
    assert parquet.column_names == ["customer_id", "name"] and parquet.num_rows == ROWS
    assert parquet.column("customer_id").to_pylist() == list(range(ROWS))

    from deltalake import DeltaTable

    log = tmp_path / "onelake" / WORKSPACE / "lh_config.Lakehouse" / "Tables" / "dbo" / "log_resource_export"
    logged = DeltaTable(str(log)).to_pyarrow_table().to_pylist()
    states = {r["export_name"]: r["export_state"] for r in logged}
    assert states == {"customers_csv": "success", "customers_parquet": "success"}
