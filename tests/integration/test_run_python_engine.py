"""``fabgen run``, ``plan``, ``status`` and ``history`` of an ``engine: python`` group: no JVM starts,
the files hold the table's rows, plan, status and history show what the run wrote, and plan
resolves a warehouse ``period_date_query`` over ODBC (that test is marked ``warehouse``).

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
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from cli_child import run_commands

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
    (report,) = run_commands(project, ["run", "-g", "py", "--run-date", "2025-12-12"])
    output = report["stdout"][-4000:] + report["stderr"][-4000:]
    assert report["code"] == 0, output
    assert not report["spark"], "a SparkContext was created"
    assert report["java"] == [], f"a JVM was started: {report['java']}"
    assert "engine python" in report["stdout"]

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


# --------------------------------------------------------------------------- plan, status, history

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sales"
RUN_DATE = "2025-12-12"
ORDERS = 600
CUSTOMERS = 60
# One more export in the copied example's python group: incremental, so plan and status show a
# stored watermark (the example's own two exports are full exports).
CHANGED_ORDERS = {
    "export_name": "orders_py_changed",
    "source_table": "orders",
    "source_columns": ["order_id", "status", "amount", "modified_at"],
    "extract_type": "incremental",
    "incremental_column": "modified_at",
    "incremental_initial_watermark": "2024-01-01T00:00:00",
    "target_path": "sales_py/changed/",
    "target_filename_pattern": "orders_changed_{run_date:%Y%m%d}.csv",
    "file_format": "csv",
}


def _example_copy(tmp_path: Path) -> Path:
    """A copy of the sales example (``sales_py`` plus :data:`CHANGED_ORDERS`) and its sources."""
    import datetime as dt
    import decimal
    import shutil

    from deltalake import write_deltalake

    root = tmp_path / "sales"
    shutil.copytree(EXAMPLE / "exports", root / "exports")
    shutil.copy(EXAMPLE / "fabgen.yaml", root / "fabgen.yaml")
    group = root / "exports" / "sales_py.yaml"
    spec = yaml.safe_load(group.read_text(encoding="utf-8"))
    spec["exports"].append(CHANGED_ORDERS)
    group.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")

    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    orders = pa.table(
        {
            "order_id": pa.array(range(1, ORDERS + 1), pa.int64()),
            "customer_id": pa.array([1 + i % CUSTOMERS for i in range(ORDERS)], pa.int64()),
            "order_date": pa.array([(start + dt.timedelta(days=i % 300)).date() for i in range(ORDERS)]),
            "status": pa.array(["completed", "shipped", "cancelled"][i % 3] for i in range(ORDERS)),
            "channel": pa.array(["web", "store"][i % 2] for i in range(ORDERS)),
            "amount": pa.array(
                [decimal.Decimal(i * 7 % 5000) / 100 for i in range(ORDERS)], pa.decimal128(18, 2)
            ),
            "currency": pa.array(["AUD"] * ORDERS),
            "modified_at": pa.array(
                [start + dt.timedelta(hours=11 * i) for i in range(ORDERS)], pa.timestamp("us", tz="UTC")
            ),
        }
    )
    customers = pa.table(
        {
            "customer_id": pa.array(range(1, CUSTOMERS + 1), pa.int64()),
            "customer_name": pa.array(f"Customer {i}" for i in range(CUSTOMERS)),
            "country": pa.array(["AU", "NZ"][i % 2] for i in range(CUSTOMERS)),
        }
    )
    # the run date's fiscal month (the example's period export): March 2025 here, which holds orders
    calendar = pa.table(
        {
            "calendar_date": pa.array([dt.date.fromisoformat(RUN_DATE)]),
            "fiscal_month_start": pa.array([dt.date(2025, 3, 1)]),
            "fiscal_month_end": pa.array([dt.date(2025, 3, 31)]),
        }
    )
    tables = root / ".onelake" / WORKSPACE / "lh_gold.Lakehouse" / "Tables" / "dbo"
    write_deltalake(str(tables / "orders"), orders)
    write_deltalake(str(tables / "customers"), customers)
    write_deltalake(str(tables / "fiscal_calendar"), calendar)
    return root


def test_plan_status_and_history_of_a_python_group_start_no_jvm_and_show_what_the_run_wrote(
    tmp_path: Path,
) -> None:
    from deltalake import DeltaTable

    project = _example_copy(tmp_path)
    group, day = ["-g", "sales_py"], ["--run-date", RUN_DATE]
    results = run_commands(
        project,
        ["run", *group, *day, "--execution-id", "exec-py-1"],
        ["plan", *group, *day],
        ["plan", *group, *day, "--json"],
        ["status", *group],
        ["status", *group, "--json"],
        ["history", "-x", "orders_py_changed"],
        ["history", "-x", "orders_py_changed", "--json"],
    )
    for result in results:
        assert result["code"] == 0, result
        assert not result["spark"], f"{result['args'][0]} created a SparkContext"
        assert result["java"] == [], f"{result['args'][0]} started a JVM: {result['java']}"
    run, plan_text, plan_json, status_text, status_json, history_text, history_json = results
    assert "engine python" in run["stdout"]

    # what the run wrote, read back independently with delta-rs
    config = project / ".onelake" / WORKSPACE / "lh_config.Lakehouse" / "Tables" / "dbo"
    logged = {
        r["export_name"]: r
        for r in DeltaTable(str(config / "log_resource_export")).to_pyarrow_table().to_pylist()
    }
    marks = DeltaTable(str(config / "log_resource_export_watermark")).to_pyarrow_table().to_pylist()
    stored = {r["export_name"]: r for r in marks if r["watermark_value"] is not None}
    assert sorted(logged) == [
        "customers_py", "orders_fiscal_month_py", "orders_py", "orders_py_changed", "revenue_by_country_py",
    ]  # fmt: skip
    assert {n: r["rows_exported"] for n, r in logged.items()} == {
        "customers_py": CUSTOMERS, "orders_py": ORDERS, "orders_py_changed": ORDERS,
        "revenue_by_country_py": 2,  # AU and NZ, all AUD (a query run by DuckDB)
        "orders_fiscal_month_py": 62,  # March 2025: days 59-89 of 300, twice (period query run by DuckDB)
    }  # fmt: skip
    assert logged["revenue_by_country_py"]["source_version"] == "dbo.orders@0,dbo.customers@0"
    assert set(stored) == {"orders_py_changed"}
    mark = stored["orders_py_changed"]
    changed = logged["orders_py_changed"]
    assert mark["watermark_value"] == changed["new_watermark_value"]
    assert mark["watermark_value"].startswith("2025-10-")  # the newest modified_at: 1 Jan + 599 * 11 h

    # status --json: one row per export, the log's values
    doc = json.loads(status_json["stdout"])
    assert doc["command"] == "status" and doc["log_table_exists"] is True
    assert doc["log_table"] == str(config / "log_resource_export")
    rows = {r["export_name"]: r for r in doc["exports"]}
    assert sorted(rows) == sorted(logged)
    for name, row in rows.items():
        log_row = logged[name]
        assert row["export_state"] == "success" and row["is_active"] is True
        assert row["master_execution_id"] == "exec-py-1" == log_row["master_execution_id"]
        for key in ("export_run_id", "rows_exported", "files_created", "total_bytes", "target_path"):
            assert row[key] == log_row[key], (name, key)
        assert row["run_date"] == RUN_DATE
        # timestamps as Spark shows them: UTC without an offset
        assert row["completed_at"] == log_row["completed_at"].replace(tzinfo=None).isoformat()
    assert rows["orders_py_changed"]["stored_watermark_value"] == mark["watermark_value"]
    assert rows["orders_py_changed"]["stored_incremental_column"] == "modified_at"
    assert rows["orders_py"]["stored_watermark_value"] is None

    # status as text: the same values in the table
    text = status_text["stdout"].splitlines()
    assert text[0] == f"latest state of sales_py (log: {config / 'log_resource_export'})"
    line = next(x for x in text if x.startswith("orders_py_changed "))
    cells = line.split()
    assert cells[1:4] == ["success", str(ORDERS), "1"] and cells[4] == mark["watermark_value"]
    assert cells[5] == RUN_DATE

    # history: the one run of the export, as logged
    doc = json.loads(history_json["stdout"])
    assert (doc["command"], doc["group"], doc["export"]) == ("history", "sales_py", "orders_py_changed")
    assert len(doc["runs"]) == 1
    only = doc["runs"][0]
    assert (only["export_run_id"], only["rows_exported"], only["duration_ms"]) == (
        changed["export_run_id"], ORDERS, changed["duration_ms"],
    )  # fmt: skip
    assert only["new_watermark_value"] == mark["watermark_value"]
    text = history_text["stdout"].splitlines()
    assert text[0] == "last 1 run(s) of sales_py/orders_py_changed, newest first"
    assert "exec-py-1" in text[-1] and f" {ORDERS} " in text[-1] and "success" in text[-1]

    # plan: the stored watermark it would start from, and the files the run published
    doc = json.loads(plan_json["stdout"])
    entries = {e["export"]: e for e in doc["exports"]}
    incremental = entries["sales_py/orders_py_changed"]
    assert incremental["error"] is None
    assert incremental["watermark"] == mark["watermark_value"]
    assert incremental["watermark_origin"] == f"stored by run {changed['export_run_id']}"
    literal = f"TIMESTAMP '{mark['watermark_value'].replace('T', ' ')}"  # the filter's Spark SQL literal
    assert incremental["filters"] and literal in incremental["filters"][0]
    for name in ("orders_py", "customers_py", "orders_py_changed"):
        entry = entries[f"sales_py/{name}"]
        published = logged[name]["file_paths"]
        assert entry["error"] is None and len(published) == 1
        assert Path(entry["output"].removeprefix("file://")) == Path(published[0].removeprefix("file://"))
        assert Path(entry["output"].removeprefix("file://")).is_file()
    assert f"  watermark: {mark['watermark_value']} (stored by run {changed['export_run_id']})" in (
        plan_text["stdout"].splitlines()
    )


PLAN_WAREHOUSE = "wh_python_plan"


@pytest.mark.warehouse
def test_plan_of_a_python_group_runs_a_warehouse_period_query_over_odbc_without_a_jvm(
    tmp_path: Path, warehouse: dict[str, str]
) -> None:
    from pg_support import pg_execute, recreate_database

    recreate_database(PLAN_WAREHOUSE)
    pg_execute(
        PLAN_WAREHOUSE,
        "CREATE SCHEMA dbo; CREATE TABLE dbo.items (id bigint, day date);"
        "CREATE FUNCTION dbo.fn_month(p date) RETURNS TABLE(start_date date, end_date date) LANGUAGE sql"
        " AS $$ SELECT date_trunc('month', p)::date,"
        " (date_trunc('month', p) + interval '1 month - 1 day')::date $$",
    )
    root = tmp_path / "proj"
    (root / "exports").mkdir(parents=True)
    settings = {
        "name": "pyplan",
        "config_lakehouse": {"workspace": WORKSPACE, "lakehouse": "lh_config"},
        "local": {"onelake_root": str(tmp_path / "onelake")},
        "groups": {"py": {"engine": "python"}},
    }
    export = {
        **COMMON,
        "export_name": "items_month",
        "source_type": "warehouse",
        "source_datastore": PLAN_WAREHOUSE,
        "source_table": "items",
        "extract_type": "period",
        "period_filter_column": "day",
        "period_date_query": "SELECT start_date, end_date FROM dbo.fn_month('{run_date:%Y-%m-%d}')",
        "target_path": "py/items/",
        "target_filename_pattern": "items_{run_date:%Y%m}.csv",
        "file_format": "csv",
    }
    (root / "fabgen.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    (root / "exports" / "py.yaml").write_text(yaml.safe_dump([export]), encoding="utf-8")

    (plan,) = run_commands(root, ["plan", "-g", "py", "--run-date", "2025-12-12", "--json"])
    assert plan["code"] == 0, plan
    assert not plan["spark"] and plan["java"] == [], plan
    (entry,) = json.loads(plan["stdout"])["exports"]
    assert entry["error"] is None, entry
    assert entry["period_resolved"] is True and entry["dialect"] == "postgres"
    assert (entry["period_start"], entry["period_end"]) == ("2025-12-01T00:00:00", "2025-12-31T00:00:00")
    assert entry["filters"] and "2025-12-01" in entry["filters"][0]
