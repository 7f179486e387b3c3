"""The rendered notebooks' Fabric branch, run locally against the Fabric stand-in.

Every notebook of the example runs under papermill (``run_date`` injected, as a pipeline does) with
``tests/support/fabric_standin`` on ``PYTHONPATH``: ``notebookutils`` imports, so ``ON_FABRIC`` is true
and the runtime picks :class:`~fabgen_runtime.platform.FabricPlatform`; OneLake ``abfss://`` URIs reach
the local OneLake folder through Hadoop's ``ViewFileSystemOverloadScheme`` (``spark_conf.py``); the
warehouse is read through the ``synapsesql`` stand-in over PostgreSQL; the result leaves through
``notebookutils.notebook.exit``. This shows the Fabric branch runs and calls the documented
signatures; it does not show how Fabric behaves (docs/runtimes.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fabgen.render import IPYNB_FOLDER
from fabgen_runtime.platform import ensure_local_jars
from readers import count_rows
from spark_conf import write_spark_defaults
from test_notebooks import WORKSPACE, example  # noqa: F401 - the seeded, rendered example (a fixture)

pytestmark = [pytest.mark.notebook, pytest.mark.spark, pytest.mark.warehouse, pytest.mark.slow]

STANDIN = Path(__file__).resolve().parents[1] / "support" / "fabric_standin"
RUN_DATE = "2025-10-15"
WORKSPACE_ID = "5f0c1b2e-0000-4000-8000-00000000de01"
HOST = "onelake.dfs.fabric.microsoft.com"


def test_every_notebook_runs_its_fabric_branch_against_the_standin(example: dict) -> None:  # noqa: F811
    root: Path = example["root"]
    onelake = Path(example["env"]["FABGEN_ONELAKE_ROOT"])
    conf = write_spark_defaults(root / "fabric-conf", onelake, [WORKSPACE], ensure_local_jars())
    env = {k: v for k, v in example["env"].items() if k not in ("FABGEN_PLATFORM", "FABGEN_ONELAKE_ROOT")}
    env.update(
        PYTHONPATH=str(STANDIN),
        SPARK_CONF_DIR=str(conf),
        FABRIC_STANDIN_ONELAKE=str(onelake),
        FABRIC_STANDIN_CONTEXT=json.dumps({
            "currentWorkspaceName": WORKSPACE, "currentWorkspaceId": WORKSPACE_ID, "isForPipeline": True,
        }),
    )
    day = RUN_DATE.replace("-", "")
    for name in ["finance_eg1", "finance_eg2", "sales_eg1", "sales_eg2"]:
        exit_file = root / f"{name}.exit.json"
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "papermill", str(example["out"] / IPYNB_FOLDER / f"{name}.ipynb"),
             str(root / f"{name}.fabric.ipynb"), "-p", "run_date", RUN_DATE, "--cwd", str(root),
             "--no-progress-bar"],
            env={**env, "FABRIC_STANDIN_EXIT_FILE": str(exit_file)},
            capture_output=True, text=True, timeout=1800, check=False,
        )
        print(f"papermill (Fabric branch) {name}: {time.perf_counter() - started:.1f} s")
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
        # The exit value exists only on the Fabric branch (locally the result is printed instead).
        assert exit_file.is_file(), f"{name}: notebookutils.notebook.exit was not called"
        result = json.loads(exit_file.read_text())
        assert result["success"], result
        assert result["total_exports"] == len(result["results"]) > 0
        for entry in result["results"]:
            assert entry["status"] in ("success", "warning"), entry
            for path in entry["file_paths"]:
                # FabricPlatform's OneLake URIs (name form), resolved by the stand-in's Hadoop mount.
                prefix = f"abfss://{WORKSPACE}@{HOST}/lh_exports.Lakehouse/Files/"
                assert path.startswith(prefix), path
                local = onelake / WORKSPACE / "lh_exports.Lakehouse" / "Files" / path[len(prefix):]
                assert local.is_file(), local
    # A warehouse export read through the synapsesql stand-in wrote its rows.
    zipped = onelake / WORKSPACE / "lh_exports.Lakehouse" / "Files" / "sales" / "dims" / "warehouse"
    assert count_rows(zipped / f"CUSTOMERS_{day}.zip", "json") == 300
