"""``fabgen local load`` (issue #28, day zero): a new project's source table loaded from a file runs at
once; a warehouse table lands in the local PostgreSQL with its types mapped; existing tables and bad
names are refused. Through the CLI, on the Python engine (no JVM)."""

from __future__ import annotations

import csv
import gzip
import os
import subprocess
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from deltalake import DeltaTable
from kill_support import FABGEN

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not FABGEN.exists(), reason="needs the fabgen CLI (not in the Python-notebook venv)"),
]


def fabgen(root: Path, *args: str, onelake: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FABGEN_ONELAKE_ROOT": str(onelake)}
    return subprocess.run(
        [str(FABGEN), *args], cwd=root, env=env, capture_output=True, text=True, check=False, timeout=300
    )


def new_project(tmp_path: Path) -> tuple[Path, Path]:
    """``fabgen init`` + ``engine: python``; returns (project, its own OneLake folder)."""
    onelake = tmp_path / "onelake"
    created = fabgen(tmp_path, "init", "newproj", onelake=onelake)
    assert created.returncode == 0, created.stderr
    assert "fabgen local load --table DEV_WORKSPACE/lh_gold/dbo.orders" in created.stdout  # the next step
    root = tmp_path / "newproj"
    settings = yaml.safe_load((root / "fabgen.yaml").read_text())
    settings.setdefault("defaults", {})["engine"] = "python"
    (root / "fabgen.yaml").write_text(yaml.safe_dump(settings))
    return root, onelake


def test_a_new_project_runs_on_a_table_loaded_from_a_csv(tmp_path: Path) -> None:
    root, onelake = new_project(tmp_path)
    source = tmp_path / "orders.csv"
    source.write_text(
        "id,amount,order_date,note\n1,10.50,2025-06-01,first\n2,3.25,2025-06-02,\n3,7.00,2025-06-03,a b\n"
    )
    loaded = fabgen(
        root, "local", "load", "--table", "DEV_WORKSPACE/lh_gold/dbo.orders", str(source), onelake=onelake
    )
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert "loaded 3 row(s), 4 column(s) into DEV_WORKSPACE/lh_gold/dbo.orders" in loaded.stdout
    table = DeltaTable(str(onelake / "DEV_WORKSPACE" / "lh_gold.Lakehouse" / "Tables" / "dbo" / "orders"))
    assert table.schema().to_arrow().field("id").type == pa.int64()  # CSV types inferred
    run = fabgen(root, "run", "-g", "newproj", "--run-date", "2025-06-05", onelake=onelake)
    assert run.returncode == 0, run.stdout + run.stderr
    [exported] = (
        onelake / "DEV_WORKSPACE" / "lh_exports.Lakehouse" / "Files" / "exports" / "orders" / "2025"
    ).glob("*.gz")
    rows = list(csv.DictReader(gzip.decompress(exported.read_bytes()).decode().splitlines()))
    assert [r["id"] for r in rows] == ["1", "2", "3"] and rows[2]["note"] == "a b"

    again = fabgen(
        root, "local", "load", "--table", "DEV_WORKSPACE/lh_gold/dbo.orders", str(source), onelake=onelake
    )
    assert again.returncode == 2 and "--replace" in again.stderr + again.stdout
    replaced = fabgen(
        root,
        "local",
        "load",
        "--replace",
        "--table",
        "DEV_WORKSPACE/lh_gold/dbo.orders",
        str(source),
        onelake=onelake,
    )
    assert replaced.returncode == 0, replaced.stderr
    assert DeltaTable(table.table_uri).to_pyarrow_table().num_rows == 3


@pytest.mark.parametrize(
    "name", ["DEV_WORKSPACE/lh_gold/dbo.or;ders", "DEV_WORKSPACE/lh_gold/orders", "../x/dbo.t"]
)
def test_a_bad_table_name_is_refused(tmp_path: Path, name: str) -> None:
    root, onelake = new_project(tmp_path)
    source = tmp_path / "x.csv"
    source.write_text("id\n1\n")
    refused = fabgen(root, "local", "load", "--table", name, str(source), onelake=onelake)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert not (onelake / "DEV_WORKSPACE").exists()


def test_a_warehouse_table_gets_mapped_types_and_keeps_nulls_apart_from_empty_text(tmp_path: Path) -> None:
    import psycopg2

    root, onelake = new_project(tmp_path)
    warehouse = f"wh_load_{uuid.uuid4().hex[:8]}"
    data = pa.table(
        {
            "id": pa.array([1, 2], pa.int64()),
            "amount": pa.array([Decimal("1.50"), None], pa.decimal128(18, 2)),
            "day": pa.array([date(2025, 6, 1), date(2025, 6, 2)], pa.date32()),
            "at": pa.array([datetime(2025, 6, 1, 12, tzinfo=UTC), None], pa.timestamp("us", tz="UTC")),
            "note": pa.array(["", None], pa.string()),
        }
    )
    source = tmp_path / "t.parquet"
    pq.write_table(data, source)
    loaded = fabgen(
        root, "local", "load", "--warehouse-table", f"{warehouse}/dbo.t", str(source), onelake=onelake
    )
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    conn = psycopg2.connect(
        host=os.environ.get("FABGEN_PG_HOST", "127.0.0.1"),
        port=int(os.environ.get("FABGEN_PG_PORT", "54329")),
        user=os.environ.get("FABGEN_PG_USER", "fabgen"),
        password=os.environ.get("FABGEN_PG_PASSWORD", "fabgen"),
        dbname=warehouse,
    )
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'dbo' AND table_name = 't' ORDER BY ordinal_position"
        )
        assert cur.fetchall() == [
            ("id", "bigint"),
            ("amount", "numeric"),
            ("day", "date"),
            ("at", "timestamp with time zone"),
            ("note", "text"),
        ]
        cur.execute("SELECT id, amount, day, note, note IS NULL FROM dbo.t ORDER BY id")
        assert cur.fetchall() == [
            (1, Decimal("1.50"), date(2025, 6, 1), "", False),
            (2, None, date(2025, 6, 2), None, True),
        ]
    conn.close()


def test_a_warehouse_load_with_the_warehouse_down_fails_in_one_line_naming_the_fix(tmp_path: Path) -> None:
    root, onelake = new_project(tmp_path)
    source = tmp_path / "t.parquet"
    pq.write_table(pa.table({"id": pa.array([1], pa.int64())}), source)
    env = {**os.environ, "FABGEN_ONELAKE_ROOT": str(onelake), "FABGEN_PG_PORT": "9"}  # nothing listens
    cmd = [str(FABGEN), "local", "load", "--warehouse-table", "wh_down/dbo.t", str(source)]
    loaded = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert loaded.returncode == 1, loaded.stdout + loaded.stderr
    errors = [line for line in loaded.stderr.splitlines() if line.strip()]
    assert "Traceback" not in loaded.stderr, loaded.stderr
    assert any("cannot reach the local warehouse" in e and "scripts/warehouse.sh start" in e for e in errors)
