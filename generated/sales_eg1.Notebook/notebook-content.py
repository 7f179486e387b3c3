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

# # sales: execution group 1
#
# Runs the 3 export(s) of group `sales` in execution group 1
# (step 1 of 2 in pipeline `sales_pipeline`).
#
# | export | source | extract | target | format |
# | --- | --- | --- | --- | --- |
# | `dim_customers` | lakehouse `lh_gold`: `dbo.customers` | full | `lh_exports`: `Files/sales/dims/{run_date:%Y}/{run_date:%m}/{run_date:%d}/customers_{run_date:%Y%m%d}.csv` | csv |
# | `dim_customers_wh` | warehouse `wh_analytics`: `dbo.customers` | full | `lh_exports`: `Files/sales/dims/warehouse/CUSTOMERS_{run_date:%Y%m%d}.zip` | json, zip |
# | `fiscal_calendar` | lakehouse `lh_gold`: `dbo.fiscal_calendar` | full | `lh_exports`: `Files/sales/dims/calendar/{export_name}_{timestamp}.{ext}` | parquet, snappy |
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

# The export rows of group `sales`, execution group 1,
# embedded so this notebook needs no config table; parse_configs validates them again.
CONFIG_LAKEHOUSE = {"workspace": "DEV_WORKSPACE", "lakehouse": "lh_config"}  # holds the log and watermark tables
EXPORT_ROWS = [
    {
        "export_group_name": "sales",
        "export_name": "dim_customers",
        "is_active": True,
        "execution_group": 1,
        "source_type": "lakehouse",
        "source_workspace": "DEV_WORKSPACE",
        "source_datastore": "lh_gold",
        "target_workspace": "DEV_WORKSPACE",
        "target_lakehouse": "lh_exports",
        "target_path": "sales/dims/{run_date:%Y}/{run_date:%m}/{run_date:%d}/",
        "file_format": "csv",
        "source_schema": "dbo",
        "source_table": "customers",
        "source_columns": ["customer_id", "customer_name", "email", "country", "segment", "created_at"],
        "target_filename_pattern": "customers_{run_date:%Y%m%d}.csv",
        "compression": "none",
        "file_format_options": {"header": "true", "sep": ",", "quote": "\"", "nullValue": ""},
        "trigger_file_pattern": "customers_{run_date:%Y%m%d}.done",
        "extract_type": "full",
        "description": "Every customer from the gold lakehouse, plain CSV with a trigger file.",
    },
    {
        "export_group_name": "sales",
        "export_name": "dim_customers_wh",
        "is_active": True,
        "execution_group": 1,
        "source_type": "warehouse",
        "source_workspace": "DEV_WORKSPACE",
        "source_datastore": "wh_analytics",
        "target_workspace": "DEV_WORKSPACE",
        "target_lakehouse": "lh_exports",
        "target_path": "sales/dims/warehouse/",
        "file_format": "json",
        "source_schema": "dbo",
        "source_table": "customers",
        "target_filename_pattern": "customers_wh_{run_date:%Y%m%d}.json",
        "compression": "zip",
        "compression_level": 9,
        "extract_type": "full",
        "compressed_filename_pattern": "CUSTOMERS_{run_date:%Y%m%d}.zip",
        "description": "The warehouse's customer master as JSON Lines in a zip archive.",
    },
    {
        "export_group_name": "sales",
        "export_name": "fiscal_calendar",
        "is_active": True,
        "execution_group": 1,
        "source_type": "lakehouse",
        "source_workspace": "DEV_WORKSPACE",
        "source_datastore": "lh_gold",
        "target_workspace": "DEV_WORKSPACE",
        "target_lakehouse": "lh_exports",
        "target_path": "sales/dims/calendar/",
        "file_format": "parquet",
        "source_table": "fiscal_calendar",
        "extract_type": "full",
        "description": "The fiscal calendar as Parquet (snappy, the parquet default), no pattern given.",
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

# Run the exports of execution group 1. Locally, FABGEN_RUN_DATE stands in for an empty run_date.
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
# @activity('Run sales_eg1').output.result.exitValue. A failed export fails the notebook (and
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
