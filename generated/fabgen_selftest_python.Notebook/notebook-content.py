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

# # fabgen_selftest_python: the self-test of project `sales`
#
# Checks, once per workspace, what fabgen assumes of Fabric that no local test can prove, as
# a Fabric Python notebook (the Python engine's way to OneLake: `notebookutils.fs`, delta-rs).
# Run it as the identity your pipelines run under, after `fabgen deploy`: each check is one row of the
# table at the end (check, pass/fail, what was seen, the document it relies on), and the notebook fails
# when a row fails. It writes only under `Files/_fabgen_selftest/` of the config lakehouse
# `DEV_WORKSPACE/lh_config` and of each target lakehouse, and removes what it wrote.
#
# | check | what fabgen assumes |
# | --- | --- |
# | `onelake_rename` | a OneLake rename refuses an existing destination (leaving it untouched), of renames racing onto one name exactly one wins, and a renamed file arrives whole with its source gone: Hadoop's FileSystem.rename in Spark, notebookutils.fs.mv(src, dst, create_path, overwrite=False) in Python |
# | `notebookutils_fs` | notebookutils.fs behaves as NotebookFileStore assumes: exists, mkdirs, put/head round trip UTF-8 text, put(overwrite=True) replaces, ls gives name/size/isDir, cp to and from file:, rm of a file and of a folder (recurse=True) |
# | `storage_token` | notebookutils.credentials.getToken("storage") issues a token to the identity running the notebook (delta-rs's OneLake bearer token) |
# | `database_token` | notebookutils.credentials.getToken("https://database.windows.net/") issues a token to the identity running the notebook (warehouses with a sql_endpoint: JDBC accessToken, ODBC) |
# | `odbc_driver_18` | pyodbc imports and lists "ODBC Driver 18 for SQL Server" |
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

# Parameters
race_rounds = 3  # rounds of two writers committing to one Delta table at the same moment (delta_commit_race)

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
    from fabgen_runtime.engines.python.selftest import run_python

    selftest_rows = run_python(CONFIG_LAKEHOUSE, TARGET_LAKEHOUSES, race_rounds=int(race_rounds))

# METADATA ********************

# META {
# META   "language": "python",
# META   "language_group": "jupyter_python"
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
# META   "language_group": "jupyter_python"
# META }
