"""The example project's rendered notebooks, run as they are on local Spark, Delta, OneLake and PostgreSQL.

The example is seeded (small), rendered, and every ``.ipynb`` runs under nbval (``--nbval-lax``, one
kernel per notebook, execution groups in order) with the local kernel named ``synapse_pyspark``
(``scripts/setup.sh`` registers it); the ``engine: python`` group's Fabric Python notebook runs with
the venv's own ``python3`` kernel, with a ``pyspark`` that refuses to import (Fabric's Python
notebooks have none). Then the files each notebook should have written are read back
with tools independent of Spark (stdlib, pyarrow, brotli, zstandard) and their rows compared with
the sources, counted independently (the Delta log + pyarrow, psycopg2). papermill's ``run_date``
injection, as a Fabric pipeline does it, is checked on the Fabric branch (test_fabric_branch.py).

The notebooks find the runtime through the kernel's Python, and the local OneLake and warehouse
through FABGEN_ONELAKE_ROOT and FABGEN_PG_*. FABGEN_RUN_DATE gives the nbval runs (whose run_date
parameter is empty) the demo's run date, so their period lookups fall inside the seeded calendar.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pyarrow.compute as pc
import pytest
from fabgen.project import load_project
from fabgen.render import IPYNB_FOLDER, render_project, write_output
from readers import count_rows, read_delta

pytestmark = [pytest.mark.notebook, pytest.mark.jvm, pytest.mark.warehouse, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "sales"
ROWS = 3000  # orders and transactions; customers 300, events 6000 (two 5,000-row parts)
RUN_DATE = "2025-12-12"
WORKSPACE = "DEV_WORKSPACE"
KERNEL = "synapse_pyspark"


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory, warehouse: dict[str, str]) -> dict:
    """The example project seeded into a fresh local OneLake, rendered into a temporary folder."""
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    assert KERNEL in specs, f"no Jupyter kernel {KERNEL}: run scripts/setup.sh (kernels: {sorted(specs)})"
    root = tmp_path_factory.mktemp("notebooks")
    env = {
        **os.environ,
        **warehouse,
        "FABGEN_ONELAKE_ROOT": str(root / "onelake"),
        "FABGEN_PLATFORM": "local",
        "FABGEN_SPARK_MASTER": "local[2]",
        "FABGEN_SPARK_DRIVER_MEMORY": "1g",
        "FABGEN_SPARK_WAREHOUSE": str(root / "spark-warehouse"),
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    seed = subprocess.run(
        [sys.executable, str(EXAMPLE / "seed.py"), "--rows", str(ROWS), "--project", str(EXAMPLE)],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert seed.returncode == 0, seed.stdout[-3000:] + seed.stderr[-3000:]
    started = time.perf_counter()
    rendered = render_project(load_project(EXAMPLE))
    write_output(rendered, root / "out")
    print(f"rendered {len(rendered.notebooks)} notebooks in {time.perf_counter() - started:.2f} s")
    (root / "pytest.ini").write_text("[pytest]\n")
    return {"root": root, "env": env, "out": root / "out", "rendered": rendered}


PYTHON_GROUPS = ("sales_py",)  # groups of the example with engine: python (Fabric Python notebooks)


def _notebooks_in_order(example: dict, python: bool = False) -> list[Path]:
    """Every rendered .ipynb of the spark groups (or of the python groups), by group, then execution group."""

    def key(path: Path) -> tuple[str, int]:
        group, _, eg = path.stem.rpartition("_eg")
        return group, int(eg)

    groups = [p for p in (example["out"] / IPYNB_FOLDER).glob("*.ipynb") if re.search(r"_eg\d+$", p.stem)]
    found = sorted(groups, key=key)  # not the self-tests (fabgen_selftest*: test_selftest_notebook.py)
    return [p for p in found if (key(p)[0] in PYTHON_GROUPS) == python]


def _files(example: dict) -> Path:
    return Path(example["env"]["FABGEN_ONELAKE_ROOT"]) / WORKSPACE / "lh_exports.Lakehouse" / "Files"


def _gold(example: dict, table: str):
    return read_delta(
        Path(example["env"]["FABGEN_ONELAKE_ROOT"])
        / WORKSPACE
        / "lh_gold.Lakehouse"
        / "Tables"
        / "dbo"
        / table
    )


def _pg(example: dict, query: str) -> int:
    import psycopg2

    env = example["env"]
    conn = psycopg2.connect(
        host=env["FABGEN_PG_HOST"],
        port=int(env["FABGEN_PG_PORT"]),
        user=env["FABGEN_PG_USER"],
        password=env["FABGEN_PG_PASSWORD"],
        dbname="wh_analytics",
        connect_timeout=10,
    )
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            return cur.fetchone()[0]
    finally:
        conn.close()


def _december(example: dict) -> tuple[date, date]:
    """The fiscal month of RUN_DATE, from the seeded calendar."""
    calendar = _gold(example, "fiscal_calendar").to_pylist()
    row = next(r for r in calendar if r["calendar_date"] == date.fromisoformat(RUN_DATE))
    return row["fiscal_month_start"], row["fiscal_month_end"]


def _between(example: dict, table: str, column: str, low: date, high: date) -> int:
    values = _gold(example, table).column(column)
    return pc.sum(pc.and_(pc.greater_equal(values, low), pc.less_equal(values, high))).as_py() or 0


def _customers(ex: dict) -> int:
    return _gold(ex, "customers").num_rows


def _calendar(ex: dict) -> int:
    return _gold(ex, "fiscal_calendar").num_rows


def _orders_since_initial_watermark(ex: dict) -> int:
    initial = pc.strptime("2024-01-01T00:00:00", "%Y-%m-%dT%H:%M:%S", "us")
    return pc.sum(pc.greater(_gold(ex, "orders").column("modified_at"), initial)).as_py()


def _orders_of_the_fiscal_month(ex: dict) -> int:
    return _between(ex, "orders", "order_date", *_december(ex))


def _revenue_groups(ex: dict) -> int:
    """Rows of revenue_by_country_py: (country, currency) of the orders not cancelled by the run date."""
    orders, customers = _gold(ex, "orders"), _gold(ex, "customers")
    country = dict(
        zip(customers.column("customer_id").to_pylist(), customers.column("country").to_pylist(), strict=True)
    )
    last = date.fromisoformat(RUN_DATE)
    pairs = {
        (country.get(customer), currency)
        for customer, currency, status, day in zip(
            *(orders.column(c).to_pylist() for c in ("customer_id", "currency", "status", "order_date")),
            strict=True,
        )
        if status != "cancelled" and day <= last and customer in country
    }
    return len(pairs)


def _events(ex: dict) -> int:
    return _gold(ex, "events").num_rows


def _purchases(ex: dict) -> int:
    return pc.sum(pc.equal(_gold(ex, "events").column("event_type"), "purchase")).as_py()


IN_FISCAL_MONTH = (
    f"dbo.fn_GetFiscalMonth('{RUN_DATE}') p WHERE t.{{column}} BETWEEN p.start_date AND p.end_date"
)


def _sql(query: str) -> Callable[[dict], int]:
    return lambda ex: _pg(ex, query)


# export -> (folder under Files/, data file name regex, trigger file name regex or None, expected rows)
Expectation = tuple[str, str, str | None, Callable[[dict], int]]
EXPECTED: dict[str, Expectation] = {
    # sales, execution group 1
    "dim_customers": (
        "sales/dims/2025/12/12",
        r"customers_20251212\.csv",
        r"customers_20251212\.done",
        _customers,
    ),
    "dim_customers_wh": (
        "sales/dims/warehouse",
        r"CUSTOMERS_20251212\.zip",
        None,
        _sql("SELECT count(*) FROM dbo.customers"),
    ),
    "fiscal_calendar": ("sales/dims/calendar", r"fiscal_calendar_\d{8}_\d{6}\.parquet", None, _calendar),
    # sales, execution group 2
    "daily_orders": (
        "sales/orders/2025/12",
        r"orders_20251212_[0-9a-f]{8}\.csv\.gz",
        r"A0_ORDERS_\d{14}\.done",
        _orders_since_initial_watermark,
    ),
    "orders_fiscal_month": (
        "sales/orders_by_month",
        r"orders_20251201_20251231\.parquet",
        None,
        _orders_of_the_fiscal_month,
    ),
    "events": ("sales/events", r"events_20251212_[0-9a-f]{8}\.zip", None, _events),
    "purchase_events": (
        "sales/events/purchases/20251212",
        r"purchases_part\d+_[0-9a-f]{8}\.json",
        r"purchases_20251212\.ready",
        _purchases,
    ),
    "orders_wh_snapshot": (
        "sales/warehouse/orders",
        r"orders_snapshot_20251212\.parquet",
        None,
        _sql("SELECT count(*) FROM dbo.orders"),
    ),
    # finance, execution group 1
    "fiscal_transactions": (
        "finance/fiscal_transactions/2025",
        r"A0_TRANS_20251201\.zip",
        r"A0_TRANS_20251201\.done",
        _sql("SELECT count(*) FROM dbo.transactions t, " + IN_FISCAL_MONTH.format(column="transaction_date")),
    ),
    "transactions_changes": (
        "finance/transactions/changes",
        r"transactions_20251212_[0-9a-f]{8}\.json\.zst",
        None,
        _sql("SELECT count(*) FROM dbo.transactions"),
    ),
    # finance, execution group 2
    "monthly_revenue": (
        "finance/revenue/2025",
        r"revenue_202512\.csv\.br",
        None,
        _sql(
            "SELECT count(*) FROM dbo.orders t "
            "JOIN dbo.customers c ON t.customer_id = c.customer_id, "
            + IN_FISCAL_MONTH.format(column="order_date")
        ),
    ),
    "large_transactions": (
        "finance/large",
        r"large_transactions_20251212\.parquet",
        None,
        _sql("SELECT count(*) FROM dbo.transactions WHERE amount > 1000"),
    ),
}
# sales_py (engine: python), execution group 1
EXPECTED_PYTHON: dict[str, Expectation] = {
    "orders_py": (
        "sales_py/orders/2025/12",
        r"orders_20251212\.csv\.gz",
        None,
        lambda ex: _gold(ex, "orders").num_rows,
    ),
    "customers_py": ("sales_py/customers", r"customers_20251212\.parquet", None, _customers),
    "revenue_by_country_py": ("sales_py/revenue", r"revenue_by_country_20251212\.csv", None, _revenue_groups),
    "orders_fiscal_month_py": (
        "sales_py/orders_by_month",
        r"orders_\d{8}_\d{8}\.json",
        None,
        _orders_of_the_fiscal_month,
    ),
}


def _run_nbval(
    example: dict, notebook: Path, env: dict[str, str] | None = None
) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "--nbval-cell-timeout=900",
            "-p",
            "no:cacheprovider",
            "-q",
            "-c",
            str(example["root"] / "pytest.ini"),
            "--rootdir",
            str(example["root"]),
            str(notebook),
        ],
        env={**example["env"], "FABGEN_RUN_DATE": RUN_DATE, **(env or {})},
        cwd=example["root"],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    return time.perf_counter() - started, proc


def _check_nbval_passes(example: dict, notebook: Path, env: dict[str, str] | None = None) -> None:
    seconds, proc = _run_nbval(example, notebook, env)
    print(f"nbval {notebook.name}: {seconds:.1f} s")
    output = f"{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    assert proc.returncode == 0, f"{notebook.name} failed under nbval:\n{output}"
    assert "passed" in proc.stdout and "failed" not in proc.stdout


#: the Spark notebooks, in the order a pipeline runs them; the default tier runs the one with the most
#: kinds of export (lakehouse incremental, period and full, a warehouse table, five formats/codecs),
#: the full tier every one (their exports' formats and sources are covered by faster tests too)
SPARK_NOTEBOOKS = [
    pytest.param("finance_eg1", marks=pytest.mark.full),
    pytest.param("finance_eg2", marks=pytest.mark.full),
    pytest.param("sales_eg1", marks=pytest.mark.full),
    "sales_eg2",
]


def test_the_spark_notebooks_are_the_rendered_ones(example: dict) -> None:
    stems = [n.stem for n in _notebooks_in_order(example)]
    assert stems == ["finance_eg1", "finance_eg2", "sales_eg1", "sales_eg2"]
    project = load_project(EXAMPLE)
    active = {c.export_name: c for c in project.configs if c.is_active}
    spark = {n: c for n, c in active.items() if project.engine(c.export_group_name) == "spark"}
    assert set(EXPECTED) == set(spark), "every active export of the spark groups has an expectation"


@pytest.mark.parametrize("stem", SPARK_NOTEBOOKS)
def test_a_rendered_notebook_runs_under_nbval_and_writes_its_files(example: dict, stem: str) -> None:
    (notebook,) = [n for n in _notebooks_in_order(example) if n.stem == stem]
    _check_nbval_passes(example, notebook)
    project = load_project(EXAMPLE)
    active = {c.export_name: c for c in project.configs if c.is_active}
    mine = {
        n: e
        for n, e in EXPECTED.items()
        if f"{active[n].export_group_name}_eg{active[n].execution_group}" == stem
    }
    assert mine, f"{stem}: no export with an expectation"
    _check_files(example, mine, active)
    _check_logged(example, set(mine))


def _check_files(example: dict, expected_files: dict[str, Expectation], active: dict) -> None:
    """Each export's data (and trigger) files, their rows counted independently of the runtime."""
    files = _files(example)
    for name, (folder, data_name, trigger_name, expected) in expected_files.items():
        config = active[name]
        directory = files / folder
        assert directory.is_dir(), f"{name}: {directory} was not written"
        present = sorted(p.name for p in directory.iterdir() if p.is_file())
        data = [n for n in present if re.fullmatch(data_name, n)]
        assert data, f"{name}: no file matching {data_name} in {directory} ({present})"
        if trigger_name:
            assert any(re.fullmatch(trigger_name, n) for n in present), f"{name}: no trigger in {present}"
        rows = sum(count_rows(directory / n, config.file_format, config.file_format_options) for n in data)
        want = expected(example)
        assert want > 0, f"{name}: the seeded source selects no rows; the check would prove nothing"
        assert rows == want, f"{name}: {rows} rows in {data}, expected {want}"
        if config.max_rows_per_file and config.file_format == "json":
            assert len(data) == -(-want // config.max_rows_per_file), f"{name}: {data}"


def _check_logged(example: dict, exports: set[str]) -> None:
    """Every export run is in the log table (read from its Delta log, not through Spark)."""
    onelake = Path(example["env"]["FABGEN_ONELAKE_ROOT"])
    log = read_delta(onelake / WORKSPACE / "lh_config.Lakehouse" / "Tables" / "dbo" / "log_resource_export")
    done = {r["export_name"] for r in log.to_pylist() if r["export_state"] in ("success", "warning")}
    assert exports <= done, f"not logged as done: {sorted(exports - done)}"


def test_rendered_python_notebook_runs_under_nbval_without_spark(example: dict, tmp_path: Path) -> None:
    notebooks = _notebooks_in_order(example, python=True)
    assert [n.stem for n in notebooks] == ["sales_py_eg1"]
    # Fabric's Python notebooks have no pyspark: here importing it fails, so nothing can start a JVM.
    blocker = tmp_path / "no_pyspark" / "pyspark"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text('raise ImportError("a Fabric Python notebook has no pyspark")\n')
    path = os.pathsep.join(p for p in (str(blocker.parent), os.environ.get("PYTHONPATH")) if p)
    for notebook in notebooks:
        _check_nbval_passes(example, notebook, {"PYTHONPATH": path})
    project = load_project(EXAMPLE)
    active = {c.export_name: c for c in project.configs if c.is_active}
    python = {n for n, c in active.items() if project.engine(c.export_group_name) == "python"}
    assert set(EXPECTED_PYTHON) == python, "every active export of the python groups has an expectation"
    _check_files(example, EXPECTED_PYTHON, active)
    _check_logged(example, python)
