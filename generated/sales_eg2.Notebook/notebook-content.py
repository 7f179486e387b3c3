# Fabric notebook source

# METADATA ********************

# META {
# META   "kernel_info": {
# META     "name": "synapse_pyspark"
# META   },
# META   "dependencies": {
# META     "environment": {
# META       "environmentId": "488afdf1-0dc5-57ef-b4e6-37a1cf2c5bb2",
# META       "workspaceId": "00000000-0000-0000-0000-000000000000"
# META     }
# META   }
# META }

# MARKDOWN ********************

# # sales: execution group 2
#
# Runs the 5 export(s) of group `sales` in execution group 2
# (step 2 of 2 in pipeline `sales_pipeline`).
#
# | export | source | extract | target | format |
# | --- | --- | --- | --- | --- |
# | `daily_orders` | lakehouse `lh_gold`: `dbo.orders` | incremental on `modified_at` | `lh_exports`: `Files/sales/orders/{run_date:%Y}/{run_date:%m}/orders_{run_date:%Y%m%d}_{run_id}.csv` | csv, gzip |
# | `events` | lakehouse `lh_gold`: `dbo.events` | incremental on `event_timestamp` | `lh_exports`: `Files/sales/events/events_{run_date:%Y%m%d}_{run_id}.zip` | csv, zipdeflate, 5000 rows per file |
# | `orders_fiscal_month` | lakehouse `lh_gold`: `dbo.orders` | period on `order_date` | `lh_exports`: `Files/sales/orders_by_month/orders_{period_start_date:%Y%m%d}_{period_end_date:%Y%m%d}.parquet` | parquet, zstd |
# | `orders_wh_snapshot` | warehouse `wh_analytics`: `dbo.orders` | full | `lh_exports`: `Files/sales/warehouse/orders/orders_snapshot_{run_date:%Y%m%d}.parquet` | parquet, lz4 |
# | `purchase_events` | lakehouse `lh_gold`: query | full | `lh_exports`: `Files/sales/events/purchases/{run_date:%Y%m%d}/purchases_part{part}_{run_id}.json` | json, 2000 rows per file |
#
# Rendered by fabgen 0.1.0 for fabgen-runtime 0.1.0.
#
# > **Do not edit this notebook.** `fabgen render` generates it from the project's export rows and
# > templates: change those and render again.

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
# META   "language_group": "synapse_pyspark"
# META }

# CELL ********************

# Setup: the fabgen runtime and Spark.
import importlib.util
import json
import os
import uuid

ON_FABRIC = os.environ.get("FABGEN_PLATFORM") != "local" and importlib.util.find_spec("notebookutils") is not None
RUNTIME_VERSION = "0.1.0"  # the fabgen-runtime this notebook was rendered for
# runtime.install is "environment": the Environment item attached to this notebook provides the runtime.
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
from fabgen_runtime.platform import get_spark

spark = get_spark()

# METADATA ********************

# META {
# META   "language": "python",
# META   "language_group": "synapse_pyspark"
# META }

# CELL ********************

# The export rows of group `sales`, execution group 2,
# embedded so this notebook needs no config table; parse_configs validates them again.
CONFIG_LAKEHOUSE = {"workspace": "DEV_WORKSPACE", "lakehouse": "lh_config"}  # holds the log and watermark tables
EXPORT_ROWS = [
    {
        "export_group_name": "sales",
        "export_name": "daily_orders",
        "is_active": True,
        "execution_group": 2,
        "source_type": "lakehouse",
        "source_workspace": "DEV_WORKSPACE",
        "source_datastore": "lh_gold",
        "target_workspace": "DEV_WORKSPACE",
        "target_lakehouse": "lh_exports",
        "target_path": "sales/orders/{run_date:%Y}/{run_date:%m}/",
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
        "target_filename_pattern": "orders_{run_date:%Y%m%d}_{run_id}.csv",
        "compression": "gzip",
        "compression_level": 6,
        "file_format_options": {"header": "true", "sep": ","},
        "trigger_file_pattern": "A0_ORDERS_{process_date:%Y%m%d%H%M%S}.done",
        "extract_type": "incremental",
        "incremental_column": "modified_at",
        "incremental_initial_watermark": "2024-01-01T00:00:00",
        "description": "New and changed orders since the last run, gzip CSV named by run date and run, with a trigger.",
    },
    {
        "export_group_name": "sales",
        "export_name": "events",
        "is_active": True,
        "execution_group": 2,
        "source_type": "lakehouse",
        "source_workspace": "DEV_WORKSPACE",
        "source_datastore": "lh_gold",
        "target_workspace": "DEV_WORKSPACE",
        "target_lakehouse": "lh_exports",
        "target_path": "sales/events/",
        "file_format": "csv",
        "source_schema": "dbo",
        "source_table": "events",
        "target_filename_pattern": "events_{run_date:%Y%m%d}_{run_id}.csv",
        "compression": "zipdeflate",
        "compression_level": 6,
        "file_format_options": {"header": "true", "sep": ","},
        "max_rows_per_file": 5000,
        "extract_type": "incremental",
        "incremental_column": "event_timestamp",
        "compressed_filename_pattern": "events_{run_date:%Y%m%d}_{run_id}.zip",
        "on_schema_change": "warn",
        "description": "New web events, split at 5,000 rows per CSV part, all parts bundled into one zip.",
    },
    {
        "export_group_name": "sales",
        "export_name": "orders_fiscal_month",
        "is_active": True,
        "execution_group": 2,
        "source_type": "lakehouse",
        "source_workspace": "DEV_WORKSPACE",
        "source_datastore": "lh_gold",
        "target_workspace": "DEV_WORKSPACE",
        "target_lakehouse": "lh_exports",
        "target_path": "sales/orders_by_month/",
        "file_format": "parquet",
        "source_schema": "dbo",
        "source_table": "orders",
        "target_filename_pattern": "orders_{period_start_date:%Y%m%d}_{period_end_date:%Y%m%d}.parquet",
        "compression": "zstd",
        "extract_type": "period",
        "period_filter_column": "order_date",
        "period_date_query": "SELECT fiscal_month_start AS start_date, fiscal_month_end AS end_date FROM dbo.fiscal_calendar WHERE calendar_date = '{run_date:%Y-%m-%d}'",
        "description": "Orders of the fiscal month holding the run date (period from the lakehouse's calendar), Parquet zstd.",
    },
    {
        "export_group_name": "sales",
        "export_name": "orders_wh_snapshot",
        "is_active": True,
        "execution_group": 2,
        "source_type": "warehouse",
        "source_workspace": "DEV_WORKSPACE",
        "source_datastore": "wh_analytics",
        "target_workspace": "DEV_WORKSPACE",
        "target_lakehouse": "lh_exports",
        "target_path": "sales/warehouse/orders/",
        "file_format": "parquet",
        "source_schema": "dbo",
        "source_table": "orders",
        "source_columns": ["order_id", "customer_id", "order_date", "status", "amount"],
        "target_filename_pattern": "orders_snapshot_{run_date:%Y%m%d}.parquet",
        "compression": "lz4",
        "extract_type": "full",
        "description": "The warehouse copy of orders, Parquet with lz4.",
    },
    {
        "export_group_name": "sales",
        "export_name": "purchase_events",
        "is_active": True,
        "execution_group": 2,
        "source_type": "lakehouse",
        "source_workspace": "DEV_WORKSPACE",
        "source_datastore": "lh_gold",
        "target_workspace": "DEV_WORKSPACE",
        "target_lakehouse": "lh_exports",
        "target_path": "sales/events/purchases/{run_date:%Y%m%d}/",
        "file_format": "json",
        "source_schema": "dbo",
        "source_query": "SELECT event_id, customer_id, event_type, event_timestamp, page FROM dbo.events WHERE event_type = 'purchase'",
        "target_filename_pattern": "purchases_part{part}_{run_id}.json",
        "max_rows_per_file": 2000,
        "trigger_file_pattern": "purchases_{run_date:%Y%m%d}.ready",
        "extract_type": "full",
        "description": "Purchase events picked by a query, JSON Lines split at 2,000 rows per file, uncompressed.",
    },
]
# Ids and lakehouse layouts from fabgen.yaml (never made up): OneLake paths, warehouse workspaces.
FABRIC_ITEMS = {}
fabgen_runtime.catalog.configure(FABRIC_ITEMS)
configs = fabgen_runtime.parse_configs(EXPORT_ROWS)

# METADATA ********************

# META {
# META   "language": "python",
# META   "language_group": "synapse_pyspark"
# META }

# CELL ********************

# Run the exports of execution group 2. Locally, FABGEN_RUN_DATE stands in for an empty run_date.
from fabgen_runtime import ExportLogger, ExportOrchestrator

execution_id = execution_id or str(uuid.uuid4())
export_logger = ExportLogger(CONFIG_LAKEHOUSE, auto_create_tables=True)
orchestrator = ExportOrchestrator(spark, export_logger, max_concurrency=int(max_concurrency))
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
# META   "language_group": "synapse_pyspark"
# META }

# CELL ********************

# Result: a summary, then the result as the notebook's exit value, which the pipeline reads as
# @activity('Run sales_eg2').output.result.exitValue. A failed export fails the notebook (and
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
# META   "language_group": "synapse_pyspark"
# META }
