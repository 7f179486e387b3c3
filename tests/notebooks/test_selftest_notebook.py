"""The rendered self-test notebooks, run under papermill on the Fabric branch against the stand-in.

``fabgen_selftest_python`` runs as a Fabric Python notebook would (no pyspark): ``notebookutils`` is
the stand-in's (``tests/support/fabric_standin``, files in a local OneLake folder), delta-rs reaches the
scratch and state tables at the notebook's GUID-form ``abfss`` URIs in Azurite with the stand-in's
storage token (``tests/support/azurite.py``), and pyodbc finds "ODBC Driver 18 for SQL Server": the
name registered (``ODBCSYSINI``) for PostgreSQL's ODBC driver. Every row passes, the scratch folders
are gone; with the driver's name missing, the notebook fails naming that row. No JVM.

``fabgen_selftest`` (Spark; the last test, marked ``jvm``) runs on the stand-in's Spark session
(``abfss`` through Hadoop's ``ViewFileSystemOverloadScheme`` onto the local folder) and passes too.

The stand-in shows the notebooks run and their checks pass where the documented behaviour holds; the
checks on Fabric are the point (docs/runtimes.md, "Checked in a workspace: the self-test").
"""

from __future__ import annotations

import base64
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
from fabgen.render import IPYNB_FOLDER, render_project, write_output

pytestmark = [pytest.mark.notebook, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "sales"
STANDIN = REPO / "tests" / "support" / "fabric_standin"
WORKSPACE = "DEV_WORKSPACE"
GUIDS = {  # the environment "ci": every item of the example by id (OneLake's GUID form)
    "workspace": "5f0c1b2e-0000-4000-8000-00000000de01",
    "lh_gold": "5f0c1b2e-0000-4000-8000-0000000000a1",
    "lh_exports": "5f0c1b2e-0000-4000-8000-0000000000a2",
    "lh_config": "5f0c1b2e-0000-4000-8000-0000000000a3",
}
ODBC_INI = """[ODBC Driver 18 for SQL Server]
Description=the Fabric stand-in: PostgreSQL's ODBC driver under Driver 18's name
Driver=psqlodbcw.so
"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example rendered for an environment giving every item an id; returns the output folder."""
    root = tmp_path_factory.mktemp("selftest")
    project = root / "sales"
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
    write_output(render_project(load_project(project), environment="ci"), root / "out")
    write_output(render_project(load_project(project)), root / "names")  # name-form URIs (the Spark test)
    return root / "out"


def _database_token() -> str:
    """An unsigned Entra-shaped token for Azure SQL's audience (nothing checks it here)."""

    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    claims = {"aud": "https://database.windows.net/", "oid": "fabgen-tests", "exp": int(time.time()) + 3600}
    return f"{part({'alg': 'none'})}.{part(claims)}.c2ln"


def _without_install(notebook: Path, target: Path) -> Path:
    """The notebook without its install cell: on the Fabric branch it would pip-install the runtime
    wheel into this venv (its own tests cover it); the venv's editable runtime is used instead."""
    import nbformat

    node = nbformat.read(notebook, as_version=4)
    install = [i for i, c in enumerate(node.cells) if "RUNTIME_WHEEL" in c.source or '"pip"' in c.source]
    assert len(install) == 1, "the self-test notebook has one install cell"
    del node.cells[install[0]]
    nbformat.write(node, target)
    return target


def _papermill(notebook: Path, out: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    started = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(notebook),
            str(out),
            "--cwd",
            str(out.parent),
            "--no-progress-bar",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    print(f"papermill {notebook.name}: {time.perf_counter() - started:.1f} s")
    return proc


def _rows(ran: Path) -> list[dict]:
    """The rows the result cell printed as JSON."""
    import nbformat

    for cell in nbformat.read(ran, as_version=4).cells:
        for output in cell.get("outputs", []):
            for line in output.get("text", "").splitlines():
                if line.startswith('[{"check"'):
                    return json.loads(line)
    raise AssertionError("the notebook printed no rows")


def test_the_python_self_test_passes_on_the_standin(rendered: Path, tmp_path: Path) -> None:
    import azurite

    notebook = _without_install(
        rendered / IPYNB_FOLDER / "fabgen_selftest_python.ipynb", tmp_path / "st.ipynb"
    )
    onelake = tmp_path / "onelake"
    blocker = tmp_path / "no_pyspark" / "pyspark"  # a Fabric Python notebook has no pyspark
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text('raise ImportError("a Fabric Python notebook has no pyspark")\n')
    odbc = tmp_path / "odbc"
    odbc.mkdir()
    (odbc / "odbcinst.ini").write_text(ODBC_INI)
    emulator = azurite.start(tmp_path / "azurite")
    try:
        emulator.create_container(GUIDS["workspace"])
        env = {k: v for k, v in os.environ.items() if k not in ("FABGEN_PLATFORM", "FABGEN_ONELAKE_ROOT")}
        env.update(
            emulator.env(),
            PYTHONPATH=os.pathsep.join((str(blocker.parent), str(STANDIN))),
            FABRIC_STANDIN_ONELAKE=str(onelake),
            FABRIC_STANDIN_CONTEXT=json.dumps(
                {"currentWorkspaceName": WORKSPACE, "currentWorkspaceId": GUIDS["workspace"]}
            ),
            ODBCSYSINI=str(odbc),
            FABRIC_STANDIN_TOKENS=json.dumps({"https://database.windows.net/": _database_token()}),
        )
        proc = _papermill(notebook, tmp_path / "ran.ipynb", env)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
        rows = _rows(tmp_path / "ran.ipynb")
        assert [r["check"] for r in rows] == [
            "onelake_rename",
            "notebookutils_fs",
            "storage_token",
            "database_token",
            "odbc_driver_18",
            "state_table_protocol",
            "delta_commit_race",
            "files_writable",
            "scratch_removed",
        ]
        assert all(r["passed"] for r in rows), rows
        assert rows[7]["subject"] == f"{WORKSPACE}/lh_exports"
        assert rows[7]["seen"].startswith("Files/_fabgen_selftest/")
        assert "a JWT for aud 'https://storage.azure.com'" in rows[2]["seen"]  # the stand-in's Azurite token
        assert "a JWT for aud 'https://database.windows.net/', issued to oid fabgen-tests" in rows[3]["seen"]
        assert not list(onelake.rglob("_fabgen_selftest")), "scratch left behind"

        # The same notebook where pyodbc lists no Driver 18: it fails, naming the row.
        (odbc / "odbcinst.ini").write_text("")
        proc = _papermill(notebook, tmp_path / "failed.ipynb", env)
        assert proc.returncode != 0
        assert "SelfTestFailed" in proc.stderr + proc.stdout and "odbc_driver_18" in proc.stderr + proc.stdout
        failed = [r["check"] for r in _rows(tmp_path / "failed.ipynb") if not r["passed"]]
        assert failed == ["odbc_driver_18"]
    finally:
        emulator.stop()


@pytest.mark.jvm
def test_the_spark_self_test_passes_on_the_standin(rendered: Path, tmp_path: Path) -> None:
    """``fabgen_selftest`` on the Fabric branch: the stand-in's Spark session (abfss bound to the local
    OneLake folder through Hadoop's ``ViewFileSystemOverloadScheme``), the Spark connector stand-in, two
    Spark writers racing (no delta-rs here, as on a Spark runtime without ``deltalake``): every row
    passes and the scratch is gone."""
    from fabgen_runtime.engines.spark.local_spark import ensure_local_jars
    from fabric_standin.spark_conf import write_spark_defaults

    onelake = tmp_path / "onelake"
    blocker = tmp_path / "no_deltalake" / "deltalake"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text('raise ImportError("no deltalake in this Spark runtime")\n')
    odbc = tmp_path / "odbc"
    odbc.mkdir()
    (odbc / "odbcinst.ini").write_text(ODBC_INI)
    conf = write_spark_defaults(tmp_path / "fabric-conf", onelake, [WORKSPACE], ensure_local_jars())
    env = {k: v for k, v in os.environ.items() if k not in ("FABGEN_PLATFORM", "FABGEN_ONELAKE_ROOT")}
    env.update(
        PYTHONPATH=os.pathsep.join((str(blocker.parent), str(STANDIN))),
        SPARK_CONF_DIR=str(conf),
        SPARK_LOCAL_IP="127.0.0.1",
        FABRIC_STANDIN_ONELAKE=str(onelake),
        FABRIC_STANDIN_CONTEXT=json.dumps(
            {"currentWorkspaceName": WORKSPACE, "currentWorkspaceId": GUIDS["workspace"]}
        ),
        FABRIC_STANDIN_TOKENS=json.dumps({"https://database.windows.net/": _database_token()}),
        ODBCSYSINI=str(odbc),
    )
    notebook = tmp_path / "spark.ipynb"
    shutil.copyfile(rendered.parent / "names" / IPYNB_FOLDER / "fabgen_selftest.ipynb", notebook)
    proc = _papermill(notebook, tmp_path / "ran.ipynb", env)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    check_spark_rows(_rows(tmp_path / "ran.ipynb"))
    assert not list(onelake.rglob("_fabgen_selftest")), "scratch left behind"


def check_spark_rows(found: list[dict]) -> None:
    """The Spark self-test's rows on the stand-in."""
    rows = {r["check"] + (f" ({r['subject']})" if r["subject"] else ""): r for r in found}
    assert list(rows) == [
        "onelake_rename",
        "database_token",
        "odbc_driver_18",
        "synapsesql_connector",
        "state_table_protocol",
        "delta_commit_race",
        f"files_writable ({WORKSPACE}/lh_exports)",
        "scratch_removed",
    ]
    assert all(row["passed"] for row in rows.values()), rows
    rename = rows["onelake_rename"]["seen"]
    assert rename.startswith(
        "Hadoop FileSystem (ViewFileSystemOverloadScheme): onto an existing file: refused"
    )
    assert "4 renames racing onto one name: 1 won, 3 refused" in rename
    assert rows["delta_commit_race"]["seen"].startswith("spark and spark (same session)")
    assert "a state table made now: reader 1 / writer 2" in rows["state_table_protocol"]["seen"]
