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

# # finance: execution group 2
#
# Runs the 2 export(s) of group `finance` in execution group 2
# (step 2 of 2 in pipeline `finance_pipeline`).
#
# | export | source | extract | target | format |
# | --- | --- | --- | --- | --- |
# | `large_transactions` | warehouse `wh_analytics`: query | full | `lh_exports`: `Files/finance/large/large_transactions_{run_date:%Y%m%d}.parquet` | parquet, gzip |
# | `monthly_revenue` | warehouse `wh_analytics`: query | period | `lh_exports`: `Files/finance/revenue/{period_start_date:%Y}/revenue_{period_start_date:%Y%m}.csv` | csv, brotli |
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

# The export rows of group `finance`, execution group 2,
# embedded so this notebook needs no config table; parse_configs validates them again.
CONFIG_LAKEHOUSE = {"workspace": "DEV_WORKSPACE", "lakehouse": "lh_config"}  # holds the log and watermark tables
EXPORT_ROWS = [
    {
        "export_group_name": "finance",
        "export_name": "large_transactions",
        "is_active": True,
        "execution_group": 2,
        "source_type": "warehouse",
        "source_workspace": "DEV_WORKSPACE",
        "source_datastore": "wh_analytics",
        "target_workspace": "DEV_WORKSPACE",
        "target_lakehouse": "lh_exports",
        "target_path": "finance/large/",
        "file_format": "parquet",
        "source_schema": "dbo",
        "source_query": "SELECT transaction_id, account_id, transaction_date, amount FROM dbo.transactions WHERE amount > 1000",
        "target_filename_pattern": "large_transactions_{run_date:%Y%m%d}.parquet",
        "compression": "gzip",
        "extract_type": "full",
        "description": "Every transaction over 1,000 (query mode, full extract), Parquet with gzip inside.",
    },
    {
        "export_group_name": "finance",
        "export_name": "monthly_revenue",
        "is_active": True,
        "execution_group": 2,
        "source_type": "warehouse",
        "source_workspace": "DEV_WORKSPACE",
        "source_datastore": "wh_analytics",
        "target_workspace": "DEV_WORKSPACE",
        "target_lakehouse": "lh_exports",
        "target_path": "finance/revenue/{period_start_date:%Y}/",
        "file_format": "csv",
        "source_schema": "dbo",
        "source_query": "SELECT o.order_id, o.order_date, o.amount, o.currency, c.customer_name, c.country FROM dbo.orders o JOIN dbo.customers c ON o.customer_id = c.customer_id WHERE o.order_date BETWEEN '{period_start_date:%Y-%m-%d}' AND '{period_end_date:%Y-%m-%d}'",
        "target_filename_pattern": "revenue_{period_start_date:%Y%m}.csv",
        "compression": "brotli",
        "compression_level": 5,
        "file_format_options": {"header": "true", "sep": ";", "lineSep": "\r\n"},
        "extract_type": "period",
        "period_date_query": "SELECT start_date, end_date FROM dbo.fn_GetFiscalMonth('{run_date:%Y-%m-%d}')",
        "description": "Revenue per order and customer for the fiscal month (a join in source_query), brotli CSV.",
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
# @activity('Run finance_eg2').output.result.exitValue. A failed export fails the notebook (and
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
