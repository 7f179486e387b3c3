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
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from fabgen.project import load_project
from fabgen.render import IPYNB_FOLDER, render_project
from fabgen_runtime.engines.spark.local_spark import ensure_local_jars
from fabric_standin.spark_conf import write_spark_defaults
from readers import count_rows
from test_notebooks import EXAMPLE, WORKSPACE, _gold, example  # noqa: F401 - example: the seeded, rendered example

pytestmark = [pytest.mark.notebook, pytest.mark.jvm, pytest.mark.warehouse, pytest.mark.slow]

STANDIN = Path(__file__).resolve().parents[1] / "support" / "fabric_standin"
RUN_DATE = "2025-10-15"
WORKSPACE_ID = "5f0c1b2e-0000-4000-8000-00000000de01"
HOST = "onelake.dfs.fabric.microsoft.com"


def _fabric_env(ex: dict) -> dict[str, str]:
    """The environment of a kernel that takes the Fabric branch (stand-in on PYTHONPATH)."""
    root: Path = ex["root"]
    onelake = Path(ex["env"]["FABGEN_ONELAKE_ROOT"])
    conf = write_spark_defaults(root / "fabric-conf", onelake, [WORKSPACE], ensure_local_jars())
    ipython = root / "ipython"
    startup = ipython / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(STANDIN / "ipython" / "fabric_pip.py", startup / "00-fabric-pip.py")
    env = {k: v for k, v in ex["env"].items() if k not in ("FABGEN_PLATFORM", "FABGEN_ONELAKE_ROOT")}
    env.update(
        PYTHONPATH=str(STANDIN),
        SPARK_CONF_DIR=str(conf),
        IPYTHONDIR=str(ipython),
        FABRIC_STANDIN_ONELAKE=str(onelake),
        FABRIC_STANDIN_PIP_LOG=str(root / "pip.log"),
        FABRIC_STANDIN_CONTEXT=json.dumps(
            {
                "currentWorkspaceName": WORKSPACE,
                "currentWorkspaceId": WORKSPACE_ID,
                "isForPipeline": True,
            }
        ),
    )
    return env


def _papermill(ex: dict, env: dict[str, str], notebook: Path, name: str, run_date: str) -> tuple:
    """Run ``notebook`` under papermill with ``run_date`` injected; return (process, exit file)."""
    root: Path = ex["root"]
    exit_file = root / f"{name}.exit.json"
    started = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(notebook),
            str(root / f"{name}.fabric.ipynb"),
            "-p",
            "run_date",
            run_date,
            "--cwd",
            str(root),
            "--no-progress-bar",
        ],
        env={**env, "FABRIC_STANDIN_EXIT_FILE": str(exit_file)},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    print(f"papermill (Fabric branch) {name}: {time.perf_counter() - started:.1f} s")
    return proc, exit_file


def test_a_notebook_runs_its_fabric_branch_with_the_run_date_papermill_injects(example: dict) -> None:  # noqa: F811
    """``sales_eg1`` (lakehouse and warehouse exports) under papermill, as a pipeline runs it.

    The Fabric branch is the same template code in every notebook, and nbval runs all four on the
    local branch (test_notebooks.py), so one notebook with both source types shows the branch.
    """
    import nbformat

    onelake = Path(example["env"]["FABGEN_ONELAKE_ROOT"])
    env = _fabric_env(example)
    day = RUN_DATE.replace("-", "")
    name = "sales_eg1"
    notebook = example["out"] / IPYNB_FOLDER / f"{name}.ipynb"
    proc, exit_file = _papermill(example, env, notebook, name, RUN_DATE)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]

    # papermill put run_date in a cell right after the parameters cell
    ran = nbformat.read(example["root"] / f"{name}.fabric.ipynb", as_version=4)
    tags = [cell.metadata.get("tags", []) for cell in ran.cells]
    parameters = next(i for i, t in enumerate(tags) if "parameters" in t)
    assert "injected-parameters" in tags[parameters + 1]
    assert f'run_date = "{RUN_DATE}"' in ran.cells[parameters + 1].source

    # The exit value exists only on the Fabric branch (locally the result is printed instead).
    assert exit_file.is_file(), f"{name}: notebookutils.notebook.exit was not called"
    result = json.loads(exit_file.read_text())
    assert result["success"], result
    assert result["total_exports"] == len(result["results"]) == 3
    files = onelake / WORKSPACE / "lh_exports.Lakehouse" / "Files"
    for entry in result["results"]:
        assert entry["status"] == "success", entry
        for path in entry["file_paths"]:
            # FabricPlatform's OneLake URIs (name form), resolved by the stand-in's Hadoop mount.
            prefix = f"abfss://{WORKSPACE}@{HOST}/lh_exports.Lakehouse/Files/"
            assert path.startswith(prefix), path
            assert (files / path[len(prefix) :]).is_file(), path
            # the names carry the injected date
            assert day in path or entry["export_name"] == "fiscal_calendar", path
    year, month, day_of_month = RUN_DATE.split("-")
    customers = files / "sales" / "dims" / year / month / day_of_month / f"customers_{day}.csv"
    assert customers.is_file() and (customers.parent / f"customers_{day}.done").is_file()
    assert count_rows(customers, "csv", {"header": "true"}) == _gold(example, "customers").num_rows
    # A warehouse export read through the synapsesql stand-in wrote its rows.
    assert count_rows(files / "sales" / "dims" / "warehouse" / f"CUSTOMERS_{day}.zip", "json") == 300


def test_inline_install_cell_keeps_injected_parameters(example: dict, tmp_path: Path) -> None:  # noqa: F811
    """``runtime.install: inline``: the install cell runs first, so a parameter papermill injects (as a
    pipeline does) survives Fabric's interpreter restart, modelled by the stand-in's ``%pip``."""
    project = tmp_path / "inline"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".onelake", ".fabgen"))
    settings = yaml.safe_load((project / "fabgen.yaml").read_text())
    settings["runtime"]["install"] = "inline"
    (project / "fabgen.yaml").write_text(yaml.safe_dump(settings))
    rendered = render_project(load_project(project), group="sales")
    notebook = tmp_path / "sales_eg1.ipynb"
    notebook.write_text(rendered.files["ipynb/sales_eg1.ipynb"])
    env = _fabric_env(example)
    run_date = "2025-10-20"
    proc, exit_file = _papermill(example, env, notebook, "inline_sales_eg1", run_date)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    pip_calls = Path(env["FABRIC_STANDIN_PIP_LOG"]).read_text().splitlines()
    assert pip_calls and pip_calls[-1].startswith("install --quiet /lakehouse/default/Files/fabgen/wheels/")
    result = json.loads(exit_file.read_text())
    day = run_date.replace("-", "")
    customers = next(r for r in result["results"] if r["export_name"] == "dim_customers")
    assert customers["status"] == "success" and all(day in path for path in customers["file_paths"])

    # The control: the same install after the parameters cell loses the injected run_date.
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    install = next(i for i, c in enumerate(nb.cells) if 'run_line_magic("pip"' in c.source)
    parameters = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    assert install < parameters
    cell = nb.cells.pop(install)
    nb.cells.insert(parameters, cell)  # now right after the parameters cell (where papermill injects)
    moved = tmp_path / "moved.ipynb"
    nbformat.write(nb, moved)
    proc, _ = _papermill(example, env, moved, "moved_sales_eg1", run_date)
    assert proc.returncode != 0 and "NameError" in proc.stdout + proc.stderr


GUIDS = {  # an environment giving every item of the python group an id: OneLake's GUID form
    "workspace": WORKSPACE_ID,
    "lh_gold": "5f0c1b2e-0000-4000-8000-0000000000a1",
    "lh_exports": "5f0c1b2e-0000-4000-8000-0000000000a2",
    "lh_config": "5f0c1b2e-0000-4000-8000-0000000000a3",
}


def test_the_python_notebook_runs_its_fabric_branch_over_onelake(example: dict, tmp_path: Path) -> None:  # noqa: F811
    """``sales_py_eg1`` (a Fabric Python notebook) under papermill on the Fabric branch, without pyspark.

    Rendered for an environment that gives every item an id, so the runtime's OneLake URIs are
    ``abfss://<workspace guid>@onelake.dfs.fabric.microsoft.com/<lakehouse guid>/...``: delta-rs
    reads the source tables and keeps the log at those URIs in Azurite (tests/support/azurite.py,
    with the stand-in's storage token), and the files go through the stand-in's ``notebookutils.fs``.
    The install cell copies the runtime wheel from the config lakehouse's GUID URI (the stand-in's
    OneLake folder, where ``fabgen deploy`` would have uploaded it) and pip-installs it, into a
    ``PIP_TARGET`` folder so the venv running the tests is left alone.
    """
    import azurite
    import nbformat
    from fabgen.render import write_output

    project = tmp_path / "sales"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".onelake", ".fabgen"))
    settings = yaml.safe_load((project / "fabgen.yaml").read_text())
    settings["environments"]["ci"] = {
        "workspace_id": GUIDS["workspace"],
        "workspaces": {WORKSPACE: {"id": GUIDS["workspace"]}},
        "lakehouses": {
            f"{WORKSPACE}/{lh}": {"id": GUIDS[lh]} for lh in ("lh_gold", "lh_exports", "lh_config")
        },
    }
    (project / "fabgen.yaml").write_text(yaml.safe_dump(settings))
    rendered = render_project(load_project(project), group="sales_py", environment="ci")
    write_output(rendered, tmp_path / "out")
    notebook = tmp_path / "out" / IPYNB_FOLDER / "sales_py_eg1.ipynb"
    assert nbformat.read(notebook, as_version=4).metadata["kernel_info"]["name"] == "jupyter"

    onelake = Path(example["env"]["FABGEN_ONELAKE_ROOT"])
    emulator = azurite.start(tmp_path / "azurite")
    try:
        emulator.create_container(GUIDS["workspace"])
        for table in ("orders", "customers", "fiscal_calendar"):  # the group's sources, as OneLake holds them
            local = onelake / WORKSPACE / "lh_gold.Lakehouse" / "Tables" / "dbo" / table
            emulator.upload_tree(local, GUIDS["workspace"], f"{GUIDS['lh_gold']}/Tables/dbo/{table}")
        env = _fabric_env(example)
        from fabgen.wheel import cached_runtime_wheel

        wheel = cached_runtime_wheel().path  # where the install cell reads it (deploy uploads it there)
        wheels = onelake / GUIDS["workspace"] / GUIDS["lh_config"] / "Files" / "fabgen" / "wheels"
        wheels.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(wheel, wheels / wheel.name)
        env.update(PIP_TARGET=str(tmp_path / "pip-target"), PIP_NO_INDEX="1")
        blocker = tmp_path / "no_pyspark" / "pyspark"  # a Fabric Python notebook has no pyspark
        blocker.mkdir(parents=True)
        (blocker / "__init__.py").write_text('raise ImportError("a Fabric Python notebook has no pyspark")\n')
        env.update(emulator.env(), PYTHONPATH=os.pathsep.join((str(blocker.parent), str(STANDIN))))
        proc, exit_file = _papermill(example, env, notebook, "sales_py_eg1", RUN_DATE)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
        result = json.loads(exit_file.read_text())
        assert result["success"] and result["total_exports"] == 4, result  # a query and a period export too
        assert (tmp_path / "pip-target" / "fabgen_runtime" / "__init__.py").is_file()  # the install cell ran

        day = RUN_DATE.replace("-", "")
        files = onelake / GUIDS["workspace"] / GUIDS["lh_exports"] / "Files"
        prefix = f"abfss://{GUIDS['workspace']}@{HOST}/{GUIDS['lh_exports']}/Files/"
        for entry in result["results"]:
            assert entry["status"] == "success", entry
            assert all(
                p.startswith(prefix) and (files / p[len(prefix) :]).is_file() for p in entry["file_paths"]
            )
        orders = files / "sales_py" / "orders" / "2025" / "10" / f"orders_{day}.csv.gz"
        assert subprocess.run(["gzip", "-t", str(orders)], check=False).returncode == 0
        assert count_rows(orders, "csv", {"header": "true"}) == _gold(example, "orders").num_rows
        customers = files / "sales_py" / "customers" / f"customers_{day}.parquet"
        assert count_rows(customers, "parquet") == _gold(example, "customers").num_rows

        # The log is a Delta table at the config lakehouse's GUID URI, in Azurite; nothing local.
        from deltalake import DeltaTable

        os.environ.update(emulator.env())
        log_uri = f"abfss://{GUIDS['workspace']}@{HOST}/{GUIDS['lh_config']}/Tables/dbo/log_resource_export"
        log_rows = (
            DeltaTable(log_uri, storage_options=emulator.storage_options()).to_pyarrow_table().to_pylist()
        )
        states = {r["export_name"]: r["export_state"] for r in log_rows}  # this run's: the log is new
        assert states == dict.fromkeys(
            ("orders_py", "customers_py", "revenue_by_country_py", "orders_fiscal_month_py"), "success"
        ), states
        assert not (onelake / GUIDS["workspace"] / GUIDS["lh_config"] / "Tables").exists()
    finally:
        for key in emulator.env():
            os.environ.pop(key, None)
        emulator.stop()
