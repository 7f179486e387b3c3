"""``fabgen init --example`` (issue #28, day zero): the scaffolded project's sample CSV and Parquet
files are in the local OneLake at once, and its python group runs through the CLI with no JVM; the
published files hold the samples' rows. Then ``status`` and ``verify`` on the same project."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import subprocess
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from kill_support import FABGEN

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not FABGEN.exists(), reason="needs the fabgen CLI (not in the Python-notebook venv)"),
]

RUN_DATE = "2025-06-03"


def fabgen(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FABGEN_ONELAKE_ROOT", "FABGEN_PLATFORM")}
    return subprocess.run(
        [str(FABGEN), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=300
    )


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``fabgen init --example shop``, then one run of its group (python engine) on RUN_DATE."""
    root = tmp_path_factory.mktemp("init_example")
    created = fabgen(root, "init", "--example", "shop")
    assert created.returncode == 0, created.stdout + created.stderr
    assert "loaded 12 row(s) into DEV_WORKSPACE/lh_gold/dbo.orders" in created.stdout
    assert "loaded 5 row(s) into DEV_WORKSPACE/lh_gold/dbo.customers" in created.stdout
    assert f"Next: fabgen run -g shop --run-date {RUN_DATE}" in created.stdout
    project = root / "shop"
    ran = fabgen(project, "run", "-g", "shop", "--run-date", RUN_DATE, "--json")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    document = json.loads(ran.stdout)
    assert document["success"] is True
    assert "engine python" in ran.stderr
    return project


def files(project: Path) -> Path:
    return project / ".onelake" / "DEV_WORKSPACE" / "lh_exports.Lakehouse" / "Files" / "exports"


def test_the_example_validates_and_its_readme_names_the_load_commands(example: Path) -> None:
    done = fabgen(example, "validate")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OK: 2 export(s), 2 active, in 1 group(s): shop (engine: python)")
    assert done.stderr == ""  # no warning
    readme = (example / "README.md").read_text()
    assert "fabgen local load --table DEV_WORKSPACE/lh_gold/dbo.orders data/orders.csv --replace" in readme
    assert "data/customers.parquet --replace" in readme


def test_the_csv_sample_is_exported_row_for_row(example: Path) -> None:
    (exported,) = (files(example) / "orders" / "2025").glob("orders_20250603_*.csv.gz")
    text = gzip.decompress(exported.read_bytes()).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    with (example / "data" / "orders.csv").open(newline="") as handle:
        sample = list(csv.reader(handle))
    assert rows[0] == sample[0] == ["order_id", "customer_id", "order_date", "amount", "status", "note"]
    assert len(rows) == 13
    by_id = {row[0]: row for row in rows[1:]}
    assert by_id["1"] == ["1", "101", "2025-06-01", "120.5", "shipped", "first order"]  # a double
    assert by_id["8"][5] == "note, with a comma"
    assert by_id["2"][5] == ""  # an empty CSV field was read as NULL: an empty field again
    trigger = exported.name.replace(".csv.gz", ".done")
    assert (files(example) / "orders" / "2025" / trigger).is_file()


def test_the_parquet_sample_keeps_its_types(example: Path) -> None:
    table = pq.read_table(files(example) / "customers" / "customers_20250603.parquet")
    source = pq.read_table(example / "data" / "customers.parquet")
    assert table.schema.names == source.schema.names
    assert str(table.schema.field("credit_limit").type) == "decimal128(10, 2)"
    assert str(table.schema.field("signed_up").type) == "date32[day]"
    assert table.sort_by("customer_id").to_pylist() == source.to_pylist()
    assert table.sort_by("customer_id").column("credit_limit").to_pylist()[3] == Decimal("750.50")


def test_status_and_verify_read_the_example_run(example: Path) -> None:
    status = fabgen(example, "status", "-g", "shop", "--json")
    assert status.returncode == 0, status.stderr
    exports = {e["export_name"]: e for e in json.loads(status.stdout)["exports"]}
    assert exports["daily_orders"]["export_state"] == "success"
    assert exports["daily_orders"]["rows_exported"] == 12
    assert exports["daily_orders"]["stored_watermark_value"] == "12"
    assert exports["customers"]["rows_exported"] == 5
    verified = fabgen(example, "verify", "-g", "shop")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "OK: every published file is in place" in verified.stdout


@pytest.mark.jvm
def test_the_example_runs_on_spark_with_the_same_files(example: Path, tmp_path_factory) -> None:
    """The same scaffold with ``defaults.engine: spark`` (the README's one-line switch) runs on local
    Spark and publishes the same csv.gz text and the same parquet values as the python run."""
    root = tmp_path_factory.mktemp("init_example_spark")
    assert fabgen(root, "init", "--example", "shop").returncode == 0
    project = root / "shop"
    settings = project / "fabgen.yaml"
    settings.write_text(settings.read_text().replace("  engine: python ", "  engine: spark ", 1))
    ran = fabgen(project, "run", "-g", "shop", "--run-date", RUN_DATE, "--json")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert json.loads(ran.stdout)["success"] is True and "engine spark" in ran.stderr

    (spark_csv,) = (files(project) / "orders" / "2025").glob("orders_20250603_*.csv.gz")
    (python_csv,) = (files(example) / "orders" / "2025").glob("orders_20250603_*.csv.gz")
    assert subprocess.run(["gzip", "-t", str(spark_csv)], check=False).returncode == 0
    assert gzip.decompress(spark_csv.read_bytes()) == gzip.decompress(python_csv.read_bytes())
    name = "customers_20250603.parquet"
    spark_pq = pq.read_table(files(project) / "customers" / name).sort_by("customer_id")
    python_pq = pq.read_table(files(example) / "customers" / name).sort_by("customer_id")
    assert spark_pq.to_pylist() == python_pq.to_pylist()
