"""Local Fabric, really run: Delta under the local OneLake, the PostgreSQL warehouse, the example's seed.

Each result is read back with a second, independent tool (pyarrow over the Delta log's files,
psycopg2 against PostgreSQL) besides Spark itself.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fabgen_runtime import platform
from pg_support import pg_connect, recreate_database

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "sales"


def _delta_files(table: Path) -> list[Path]:
    """The data files of a Delta table's current version, from its log (adds minus removes)."""
    live: set[str] = set()
    for entry in sorted((table / "_delta_log").glob("*.json")):
        for line in entry.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                live.add(action["add"]["path"])
            if "remove" in action:
                live.discard(action["remove"]["path"])
    return [table / path for path in sorted(live)]


@pytest.mark.jvm
def test_delta_table_round_trip_under_local_onelake(spark, local_platform, onelake_root: Path) -> None:
    uri = platform.table_uri(local_platform, "WS_LOCAL", "lh_roundtrip", "dbo", "items")
    expected = onelake_root / "WS_LOCAL" / "lh_roundtrip.Lakehouse" / "Tables" / "dbo" / "items"
    assert Path(uri) == expected

    frame = spark.range(1000, numPartitions=2).selectExpr(
        "id AS item_id", "CAST(id * 3 AS DECIMAL(18,2)) AS price", "DATE '2025-12-12' AS listed_on"
    )
    frame.write.format("delta").mode("overwrite").save(uri)
    frame.where("item_id < 10").write.format("delta").mode("append").save(uri)

    assert (expected / "_delta_log" / "00000000000000000001.json").is_file()
    back = spark.read.format("delta").load(uri)
    assert back.count() == 1010
    assert back.agg({"price": "sum"}).first()[0] == Decimal(3 * (999 * 1000 // 2 + 45))
    assert spark.sql(f"DESCRIBE HISTORY delta.`{uri}`").count() == 2

    # Independently: pyarrow over the files the Delta log says are live.
    files = _delta_files(expected)
    assert files and all(f.is_file() for f in files)
    assert sum(pq.read_metadata(f).num_rows for f in files) == 1010


@pytest.mark.jvm
@pytest.mark.warehouse
def test_spark_jdbc_reads_the_local_postgres_warehouse(spark, local_platform, warehouse) -> None:
    recreate_database("wh_localfabric_test", warehouse)
    conn = pg_connect("wh_localfabric_test", warehouse)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE SCHEMA dbo")
        cur.execute("CREATE TABLE dbo.sales (sale_id int PRIMARY KEY, sold_on date, amount numeric(18,2))")
        cur.execute(
            "INSERT INTO dbo.sales SELECT g, DATE '2025-12-01' + (g % 31), g * 1.25"
            " FROM generate_series(1, 500) g"
        )
    conn.close()

    wh = local_platform.warehouse("DEV_WORKSPACE", "wh_localfabric_test")
    assert wh.dialect == "postgres"
    assert wh.database == "wh_localfabric_test"
    assert wh.jdbc_url == f"jdbc:postgresql://127.0.0.1:{warehouse['FABGEN_PG_PORT']}/wh_localfabric_test"

    table = spark.read.jdbc(wh.jdbc_url, "dbo.sales", properties=wh.properties)
    assert table.count() == 500
    assert table.agg({"amount": "sum"}).first()[0] == Decimal("156562.50")

    query = "(SELECT sale_id, amount FROM dbo.sales WHERE sold_on BETWEEN '2025-12-10' AND '2025-12-12') AS q"
    picked = spark.read.jdbc(wh.jdbc_url, query, properties=wh.properties)
    ids = {row.sale_id for row in picked.toLocalIterator()}
    assert ids == {g for g in range(1, 501) if 9 <= g % 31 <= 11}


@pytest.mark.warehouse
def test_warehouse_script_status_and_psql(warehouse) -> None:
    script = REPO / "scripts" / "warehouse.sh"
    status = subprocess.run(["bash", str(script), "status"], capture_output=True, text=True, cwd="/")
    assert status.returncode == 0, status.stderr
    start = subprocess.run(["bash", str(script), "start"], capture_output=True, text=True)
    assert start.returncode == 0 and "already running" in start.stderr
    psql = subprocess.run(
        ["bash", str(script), "psql", "-tAc", "SELECT current_user || ' ' || host(inet_server_addr())"],
        capture_output=True,
        text=True,
    )
    assert psql.returncode == 0, psql.stderr
    assert psql.stdout.strip() == f"{warehouse['FABGEN_PG_USER']} 127.0.0.1"


def test_setup_registered_the_synapse_pyspark_kernel() -> None:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("synapse_pyspark")
    except NoSuchKernel:
        pytest.fail("no synapse_pyspark kernel: run scripts/setup.sh")
    assert spec.display_name == "Synapse PySpark (local)"
    assert Path(spec.argv[0]).resolve() == Path(sys.executable).resolve()


def _load_seed_module():
    spec = importlib.util.spec_from_file_location("sales_seed", EXAMPLE / "seed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.jvm
@pytest.mark.warehouse
def test_seed_writes_the_example_sources(spark, warehouse, tmp_path: Path, monkeypatch) -> None:
    project = tmp_path / "sales"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".onelake", "__pycache__"))
    # Let fabgen.yaml's local.onelake_root decide, as it does for the demo.
    monkeypatch.delenv("FABGEN_ONELAKE_ROOT", raising=False)
    seed = _load_seed_module()
    args = ["--rows", "300", "--project", str(project), "--warehouse", "wh_seed_test"]

    first = seed.main(args)
    lake = platform.LocalPlatform(project / ".onelake")
    assert Path(first["onelake_root"]) == lake.onelake_root

    def lake_table(name: str):
        uri = platform.table_uri(lake, "DEV_WORKSPACE", "lh_gold", "dbo", name)
        return spark.read.format("delta").load(uri)

    def fingerprint() -> dict[str, object]:
        """Row counts and the orders' total, read with pyarrow from the files the Delta logs name."""
        root = Path(lake.lakehouse_uri("DEV_WORKSPACE", "lh_gold")) / "Tables" / "dbo"
        tables = {
            name: [pq.read_table(f) for f in _delta_files(root / name)]
            for name in ("orders", "customers", "events", "fiscal_calendar")
        }
        counts = {name: sum(t.num_rows for t in parts) for name, parts in tables.items()}
        amount = sum((v for t in tables["orders"] for v in t.column("amount").to_pylist()), Decimal(0))
        return {"counts": counts, "amount": amount}

    before = fingerprint()
    assert before["counts"] == {"orders": 300, "customers": 50, "events": 600, "fiscal_calendar": 1096}
    orders = lake_table("orders")
    assert orders.columns == [
        "order_id",
        "customer_id",
        "order_date",
        "status",
        "channel",
        "amount",
        "currency",
        "modified_at",
    ]
    bounds = orders.selectExpr(
        "min(order_date)", "max(order_date)", "max(modified_at)", "max(customer_id)"
    ).first()
    assert bounds[0] >= date(2024, 1, 1) and bounds[1] <= date(2025, 12, 12)
    assert bounds[2].date() <= date(2025, 12, 12) and bounds[3] <= 50
    calendar = lake_table("fiscal_calendar").where("calendar_date = DATE '2025-12-12'").first()
    assert (calendar.fiscal_year, calendar.fiscal_month, calendar.fiscal_quarter) == (2026, 6, 2)
    assert (calendar.fiscal_month_start, calendar.fiscal_month_end) == (date(2025, 12, 1), date(2025, 12, 31))

    conn = pg_connect("wh_seed_test", warehouse)
    with conn.cursor() as cur:
        for table, rows in (("orders", 300), ("customers", 50), ("transactions", 300)):
            cur.execute(f"SELECT count(*) FROM dbo.{table}")
            assert cur.fetchone()[0] == rows, table
        cur.execute("SELECT start_date, end_date FROM dbo.fn_GetFiscalMonth('2025-12-12')")
        assert cur.fetchall() == [(date(2025, 12, 1), date(2025, 12, 31))]
        cur.execute("SELECT sum(amount) FROM dbo.orders")
        assert cur.fetchone()[0] == before["amount"]  # the same rows as the lakehouse's orders
    conn.close()

    # Re-running replaces the data with the same data: idempotent and deterministic.
    second = seed.main(args)
    assert second["warehouse"] == {"orders": 300, "customers": 50, "transactions": 300}
    assert fingerprint() == before
    orders_uri = platform.table_uri(lake, "DEV_WORKSPACE", "lh_gold", "dbo", "orders")
    assert spark.sql(f"DESCRIBE HISTORY delta.`{orders_uri}`").count() == 1  # recreated, not a new version
