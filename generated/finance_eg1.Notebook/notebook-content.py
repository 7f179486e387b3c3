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

# # finance: execution group 1
#
# Runs the 2 export(s) of group `finance` in execution group 1
# (step 1 of 2 in pipeline `finance_pipeline`).
#
# | export | source | extract | target | format |
# | --- | --- | --- | --- | --- |
# | `fiscal_transactions` | warehouse `wh_analytics`: `dbo.transactions` | period on `transaction_date` | `lh_exports`: `Files/finance/fiscal_transactions/{run_date:%Y}/A0_TRANS_{period_start_date:%Y%m%d}.zip` | csv, zipdeflate |
# | `transactions_changes` | warehouse `wh_analytics`: `dbo.transactions` | incremental on `posted_at` | `lh_exports`: `Files/finance/transactions/changes/transactions_{run_date:%Y%m%d}_{run_id}.json` | json, zstd |
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

# The export rows of group `finance`, execution group 1,
# embedded so this notebook needs no config table; parse_configs validates them again.
CONFIG_LAKEHOUSE = {"workspace": "DEV_WORKSPACE", "lakehouse": "lh_config"}  # holds the log and watermark tables
EXPORT_ROWS = [
    {
        "export_group_name": "finance",
        "export_name": "fiscal_transactions",
        "is_active": True,
        "execution_group": 1,
        "source_type": "warehouse",
        "source_workspace": "DEV_WORKSPACE",
        "source_datastore": "wh_analytics",
        "target_workspace": "DEV_WORKSPACE",
        "target_lakehouse": "lh_exports",
        "target_path": "finance/fiscal_transactions/{run_date:%Y}/",
        "file_format": "csv",
        "source_schema": "dbo",
        "source_table": "transactions",
        "target_filename_pattern": "transactions_{period_start_date:%Y%m%d}_{period_end_date:%Y%m%d}.csv",
        "compression": "zipdeflate",
        "file_format_options": {"header": "true", "sep": "|"},
        "trigger_file_pattern": "A0_TRANS_{period_start_date:%Y%m%d}.done",
        "extract_type": "period",
        "period_filter_column": "transaction_date",
        "period_date_query": "SELECT start_date, end_date FROM dbo.fn_GetFiscalMonth('{run_date:%Y-%m-%d}')",
        "compressed_filename_pattern": "A0_TRANS_{period_start_date:%Y%m%d}.zip",
        "description": "The fiscal month's transactions, pipe-separated CSV in a named zip with a trigger file.",
    },
    {
        "export_group_name": "finance",
        "export_name": "transactions_changes",
        "is_active": True,
        "execution_group": 1,
        "source_type": "warehouse",
        "source_workspace": "DEV_WORKSPACE",
        "source_datastore": "wh_analytics",
        "target_workspace": "DEV_WORKSPACE",
        "target_lakehouse": "lh_exports",
        "target_path": "finance/transactions/changes/",
        "file_format": "json",
        "source_schema": "dbo",
        "source_table": "transactions",
        "source_columns": [
            "transaction_id",
            "account_id",
            "transaction_date",
            "transaction_type",
            "amount",
            "posted_at",
        ],
        "target_filename_pattern": "transactions_{run_date:%Y%m%d}_{run_id}.json",
        "compression": "zstd",
        "compression_level": 3,
        "extract_type": "incremental",
        "incremental_column": "posted_at",
        "description": "Transactions posted since the last run, JSON Lines compressed with zstd.",
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
# @activity('Run finance_eg1').output.result.exitValue. A failed export fails the notebook (and
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
