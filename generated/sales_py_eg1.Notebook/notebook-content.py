# Fabric notebook source

# METADATA ********************

# META {
# META   "kernel_info": {
# META     "name": "jupyter",
# META     "jupyter_kernel_name": "python3.12"
# META   },
# META   "dependencies": {}
# META }

# MARKDOWN ********************

# # sales_py: execution group 1
#
# Runs the 4 export(s) of group `sales_py` in execution group 1
# (step 1 of 1 in pipeline `sales_py_pipeline`).
#
# | export | source | extract | target | format |
# | --- | --- | --- | --- | --- |
# | `customers_py` | lakehouse `lh_gold`: `dbo.customers` | full | `lh_exports`: `Files/sales_py/customers/customers_{run_date:%Y%m%d}.parquet` | parquet, zstd |
# | `orders_fiscal_month_py` | lakehouse `lh_gold`: `dbo.orders` | period on `order_date` | `lh_exports`: `Files/sales_py/orders_by_month/orders_{period_start_date:%Y%m%d}_{period_end_date:%Y%m%d}.json` | json |
# | `orders_py` | lakehouse `lh_gold`: `dbo.orders` | full | `lh_exports`: `Files/sales_py/orders/{run_date:%Y}/{run_date:%m}/orders_{run_date:%Y%m%d}.csv` | csv, gzip |
# | `revenue_by_country_py` | lakehouse `lh_gold`: query | full | `lh_exports`: `Files/sales_py/revenue/revenue_by_country_{run_date:%Y%m%d}.csv` | csv |
#
# Rendered by fabgen 0.1.0 for fabgen-runtime 0.1.0.
#
# > **Do not edit this notebook.** `fabgen render` generates it from the project's export rows and
# > templates: change those and render again.

# CELL ********************

# engine is "python": a Fabric Python notebook cannot attach an Environment item, so this cell installs
# the fabgen runtime from the wheel `fabgen deploy` uploads to the config lakehouse. It copies the wheel
# from OneLake to local disk (notebookutils.fs.cp; no default lakehouse needed) and installs it with pip,
# whose exit status is checked: a failed install stops the notebook here, showing pip's output. A Python
# notebook's interpreter does not restart after an install (a Spark notebook's %pip does), so nothing set
# before this cell is lost. On Fabric only: elsewhere the local environment provides the runtime.
import importlib.util
import os

if os.environ.get("FABGEN_PLATFORM") != "local" and importlib.util.find_spec("notebookutils") is not None:
    import subprocess
    import sys
    import tempfile

    import notebookutils

    RUNTIME_WHEEL = "abfss://DEV_WORKSPACE@onelake.dfs.fabric.microsoft.com/lh_config.Lakehouse/Files/fabgen/wheels/fabgen_runtime-0.1.0-py3-none-any.whl"
    _local_wheel = os.path.join(tempfile.mkdtemp(prefix="fabgen-"), RUNTIME_WHEEL.rsplit("/", 1)[-1])
    try:
        notebookutils.fs.cp(RUNTIME_WHEEL, "file:" + _local_wheel)
    except Exception as exc:
        raise RuntimeError(
            f"cannot copy the fabgen runtime wheel from {RUNTIME_WHEEL} (`fabgen deploy` uploads it there): "
            f"{exc}"
        ) from exc
    if not os.path.isfile(_local_wheel):
        raise RuntimeError(f"cannot copy the fabgen runtime wheel from {RUNTIME_WHEEL}: nothing was copied")
    _pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", _local_wheel],
        capture_output=True,
        text=True,
        check=False,
    )
    if _pip.returncode != 0:
        raise RuntimeError(
            f"pip install {_local_wheel} (from {RUNTIME_WHEEL}) failed with exit status {_pip.returncode}:\n"
            f"{_pip.stdout}{_pip.stderr}"
        )
    importlib.invalidate_caches()  # the package pip just added is importable in this interpreter
    print(f"installed {os.path.basename(_local_wheel)} from {RUNTIME_WHEEL}")

# METADATA ********************

# META {
# META   "language": "python",
# META   "language_group": "jupyter_python"
# META }

# PARAMETERS CELL ********************

# Parameters: a pipeline's Notebook activity overrides them in a cell it adds after this one.
run_date = ""  # logical run date, YYYY-MM-DD; "" = today in `timezone`
execution_id = ""  # one id per pipeline run, shared by its notebooks; "" = a new id
is_retry = False  # True: re-run only the exports that `execution_id` left failed or unfinished
timezone = "Australia/Sydney"  # IANA timezone of run_date and process_date
max_concurrency = 2  # exports of this execution group run in parallel, up to this many

# METADATA ********************

# META {
# META   "language": "python",
# META   "language_group": "jupyter_python"
# META }

# CELL ********************

# Setup: the fabgen runtime, without Spark (engine: python; a Fabric Python notebook starts no Spark session).
import importlib.util
import json
import os
import uuid

ON_FABRIC = os.environ.get("FABGEN_PLATFORM") != "local" and importlib.util.find_spec("notebookutils") is not None
RUNTIME_VERSION = "0.1.0"  # the fabgen-runtime this notebook was rendered for
# A Python notebook cannot attach an Environment item: the install cell installed the runtime from the
# wheel in the config lakehouse (on Fabric; locally the environment provides it).
try:
    import fabgen_runtime
except ModuleNotFoundError as exc:
    raise RuntimeError(
        f"fabgen-runtime is not installed: this notebook needs fabgen-runtime=={RUNTIME_VERSION}"
    ) from exc
if fabgen_runtime.__version__ != RUNTIME_VERSION:
    raise RuntimeError(
        f"this notebook was rendered for fabgen-runtime {RUNTIME_VERSION} but {fabgen_runtime.__version__} "
        f"is installed: install fabgen-runtime=={RUNTIME_VERSION}, or render the notebooks again"
    )

# METADATA ********************

# META {
# META   "language": "python",
# META   "language_group": "jupyter_python"
# META }

# CELL ********************

# The export rows of group `sales_py`, execution group 1,
# embedded so this notebook needs no config table; parse_configs validates them again.
CONFIG_LAKEHOUSE = {"workspace": "DEV_WORKSPACE", "lakehouse": "lh_config"}  # holds the log and watermark tables
EXPORT_ROWS = [
    {
        "export_group_name": "sales_py",
        "export_name": "customers_py",
        "is_active": True,
        "execution_group": 1,
        "source_type": "lakehouse",
        "source_workspace": "DEV_WORKSPACE",
        "source_datastore": "lh_gold",
        "target_workspace": "DEV_WORKSPACE",
        "target_lakehouse": "lh_exports",
        "target_path": "sales_py/customers/",
        "file_format": "parquet",
        "source_schema": "dbo",
        "source_table": "customers",
        "target_filename_pattern": "customers_{run_date:%Y%m%d}.parquet",
        "compression": "zstd",
        "extract_type": "full",
        "description": "The customers as Parquet (zstd), written without Spark.",
    },
    {
        "export_group_name": "sales_py",
        "export_name": "orders_fiscal_month_py",
        "is_active": True,
        "execution_group": 1,
        "source_type": "lakehouse",
        "source_workspace": "DEV_WORKSPACE",
        "source_datastore": "lh_gold",
        "target_workspace": "DEV_WORKSPACE",
        "target_lakehouse": "lh_exports",
        "target_path": "sales_py/orders_by_month/",
        "file_format": "json",
        "source_schema": "dbo",
        "source_table": "orders",
        "target_filename_pattern": "orders_{period_start_date:%Y%m%d}_{period_end_date:%Y%m%d}.json",
        "extract_type": "period",
        "period_filter_column": "order_date",
        "period_date_query": "SELECT fiscal_month_start AS start_date, fiscal_month_end AS end_date FROM dbo.fiscal_calendar WHERE calendar_date = '{run_date:%Y-%m-%d}'",
        "description": "Orders of the fiscal month holding the run date (period from the lakehouse's calendar, run by DuckDB), JSON.",
    },
    {
        "export_group_name": "sales_py",
        "export_name": "orders_py",
        "is_active": True,
        "execution_group": 1,
        "source_type": "lakehouse",
        "source_workspace": "DEV_WORKSPACE",
        "source_datastore": "lh_gold",
        "target_workspace": "DEV_WORKSPACE",
        "target_lakehouse": "lh_exports",
        "target_path": "sales_py/orders/{run_date:%Y}/{run_date:%m}/",
        "file_format": "csv",
        "source_schema": "dbo",
        "source_table": "orders",
        "source_columns": [
            "order_id",
            "customer_id",
            "order_date",
            "status",
            "channel",
            "amount",
            "currency",
            "modified_at",
        ],
        "target_filename_pattern": "orders_{run_date:%Y%m%d}.csv",
        "compression": "gzip",
        "file_format_options": {"header": "true", "sep": ","},
        "extract_type": "full",
        "description": "Every order as one gzip CSV, written without Spark.",
    },
    {
        "export_group_name": "sales_py",
        "export_name": "revenue_by_country_py",
        "is_active": True,
        "execution_group": 1,
        "source_type": "lakehouse",
        "source_workspace": "DEV_WORKSPACE",
        "source_datastore": "lh_gold",
        "target_workspace": "DEV_WORKSPACE",
        "target_lakehouse": "lh_exports",
        "target_path": "sales_py/revenue/",
        "file_format": "csv",
        "source_schema": "dbo",
        "source_query": "SELECT c.country, o.currency, count(*) AS orders, sum(o.amount) AS revenue, max(o.modified_at) AS last_modified FROM dbo.orders o JOIN dbo.customers c ON o.customer_id = c.customer_id WHERE o.status <> 'cancelled' AND o.order_date <= DATE '{run_date:%Y-%m-%d}' GROUP BY c.country, o.currency ORDER BY c.country, o.currency",
        "target_filename_pattern": "revenue_by_country_{run_date:%Y%m%d}.csv",
        "file_format_options": {"header": "true"},
        "extract_type": "full",
        "description": "Revenue per customer country and currency (a Spark SQL query, run by DuckDB), CSV.",
    },
]
# Ids and lakehouse layouts from fabgen.yaml (never made up): OneLake paths, warehouse workspaces.
FABRIC_ITEMS = {}
fabgen_runtime.catalog.configure(FABRIC_ITEMS)
configs = fabgen_runtime.parse_configs(EXPORT_ROWS)

# METADATA ********************

# META {
# META   "language": "python",
# META   "language_group": "jupyter_python"
# META }

# CELL ********************

# Run the exports of execution group 1 on the python engine (delta-rs reads, pyarrow writes,
# delta-rs log and watermark tables; no SparkSession). Locally, FABGEN_RUN_DATE stands in for an empty run_date.
from fabgen_runtime import ExportLogger, ExportOrchestrator

execution_id = execution_id or str(uuid.uuid4())
export_logger = ExportLogger(CONFIG_LAKEHOUSE, auto_create_tables=True, engine="python")
orchestrator = ExportOrchestrator(None, export_logger, max_concurrency=int(max_concurrency))
result = orchestrator.process_exports(
    configs,
    execution_id,
    run_date=run_date or (None if ON_FABRIC else os.environ.get("FABGEN_RUN_DATE")) or None,
    timezone=timezone,
    is_retry=str(is_retry).strip().lower() in ("true", "1"),
)

# METADATA ********************

# META {
# META   "language": "python",
# META   "language_group": "jupyter_python"
# META }

# CELL ********************

# Result: a summary, then the result as the notebook's exit value, which the pipeline reads as
# @activity('Run sales_py_eg1').output.result.exitValue. A failed export fails the notebook (and
# the pipeline activity). Not inside try/except: notebookutils.notebook.exit does nothing there.
from fabgen_runtime.summary import summary_table

print("\n".join(summary_table(result)))
print(f"{result['successful']} of {result['total_exports']} export(s) succeeded, {result['failed']} failed")

result_json = json.dumps(result, sort_keys=True, default=str)
if not result["success"]:
    failed = [f"{r['export_name']} ({r['status']})" for r in result["results"] if r["status"] not in ("success", "warning")]
    raise fabgen_runtime.ExportError(f"{len(failed)} export(s) did not succeed: {', '.join(failed)}")
if ON_FABRIC:
    import notebookutils

    notebookutils.notebook.exit(result_json)
else:
    print(result_json)

# METADATA ********************

# META {
# META   "language": "python",
# META   "language_group": "jupyter_python"
# META }
