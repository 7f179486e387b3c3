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

# # fabgen_selftest: the self-test of project `sales`
#
# Checks, once per workspace, what fabgen assumes of Fabric that no local test can prove, as
# a Spark notebook (Hadoop's FileSystem, Delta Spark).
# Run it as the identity your pipelines run under, after `fabgen deploy`: each check is one row of the
# table at the end (check, pass/fail, what was seen, the document it relies on), and the notebook fails
# when a row fails. It writes only under `Files/_fabgen_selftest/` of the config lakehouse
# `DEV_WORKSPACE/lh_config` and of each target lakehouse, and removes what it wrote.
#
# | check | what fabgen assumes |
# | --- | --- |
# | `onelake_rename` | a OneLake rename refuses an existing destination (leaving it untouched), of renames racing onto one name exactly one wins, and a renamed file arrives whole with its source gone: Hadoop's FileSystem.rename in Spark, notebookutils.fs.mv(src, dst, create_path, overwrite=False) in Python |
# | `database_token` | notebookutils.credentials.getToken("https://database.windows.net/") issues a token to the identity running the notebook (warehouses with a sql_endpoint: JDBC accessToken, ODBC) |
# | `odbc_driver_18` | pyodbc imports and lists "ODBC Driver 18 for SQL Server" |
# | `synapsesql_connector` | import com.microsoft.spark.fabric adds DataFrameReader.synapsesql, with Constants.DatabaseName and Constants.WorkspaceId |
# | `state_table_protocol` | the state tables come out as fabgen pins them (fabgen_runtime.state_protocol: reader 1 / writer 2, no table features, delta.enableDeletionVectors false or absent) whatever the session's defaults: a scratch table made by this engine's creation code, and the config lakehouse's log and watermark tables when they exist |
# | `delta_commit_race` | two writers committing to one Delta table at the same version exclude each other: one wins, the other gets a concurrent-modification error or retries onto the next version, no commit is lost (a Spark and a delta-rs writer where both exist, else two of the one engine) |
# | `files_writable` | the identity running the notebook can write and remove files in the Files/ of every target lakehouse of the project's exports (one row per lakehouse) |
# | `scratch_removed` | the self-test's scratch folder (Files/_fabgen_selftest/<run> of the config lakehouse) is gone after a recursive delete |
#
# Target lakehouses (their `Files/` must be writable): `DEV_WORKSPACE/lh_exports`.
#
# Rendered by fabgen 0.1.0 for fabgen-runtime 0.1.0. See docs/runtimes.md,
# "Checked in a workspace: the self-test".
#
# > **Do not edit this notebook.** `fabgen render` generates it: render again after changing the project.

# PARAMETERS CELL ********************

# Parameters
race_rounds = 3  # rounds of two writers committing to one Delta table at the same moment (delta_commit_race)

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

# The checks (fabgen_runtime.selftest): the config lakehouse holds the scratch folder and the state tables,
# every target lakehouse of the project's exports must take files.
CONFIG_LAKEHOUSE = {"workspace": "DEV_WORKSPACE", "lakehouse": "lh_config"}
TARGET_LAKEHOUSES = [{"workspace": "DEV_WORKSPACE", "lakehouse": "lh_exports"}]
# Ids and lakehouse layouts from fabgen.yaml (never made up): OneLake paths.
FABRIC_ITEMS = {}
fabgen_runtime.catalog.configure(FABRIC_ITEMS)

if not ON_FABRIC:
    print("not in a Fabric notebook: the self-test checks Fabric itself, so nothing was checked")
    selftest_rows = []
else:
    from fabgen_runtime.engines.spark.selftest import run_spark

    deltars = None  # the commit race pits Spark against delta-rs when this runtime has deltalake
    try:
        from fabgen_runtime.engines.python.selftest import spark_side

        deltars = spark_side()
    except ImportError as exc:
        print(f"no delta-rs here ({exc}): the commit race uses two Spark writers")
    selftest_rows = run_spark(
        spark, CONFIG_LAKEHOUSE, TARGET_LAKEHOUSES, race_rounds=int(race_rounds), deltars=deltars
    )

# METADATA ********************

# META {
# META   "language": "python",
# META   "language_group": "synapse_pyspark"
# META }

# CELL ********************

# The table: one row per check. A failed row fails the notebook (the table says what was seen).
from fabgen_runtime.selftest import format_table, raise_on_failure

print("\n".join(format_table(selftest_rows)))
print(json.dumps([row.to_dict() for row in selftest_rows], sort_keys=True))
raise_on_failure(selftest_rows)

# METADATA ********************

# META {
# META   "language": "python",
# META   "language_group": "synapse_pyspark"
# META }
