"""The runtime's and the notebooks' Fabric branch against the Fabric stand-in (tests/support/fabric_standin).

The stand-in has Microsoft's documented signatures over local paths: these tests show our calls fit
them and the Fabric-only code runs; they do not show how Fabric itself behaves (docs/runtimes.md).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fabgen.project import load_project
from fabgen.render import render_project
from fabgen_runtime import catalog, platform
from fabgen_runtime.errors import PlatformError
from fabgen_runtime.sources import odbc
from fabgen_runtime.state_model import LakehouseLocation

STANDIN = Path(__file__).resolve().parents[1] / "support" / "fabric_standin"
REPO = Path(__file__).resolve().parents[2]
WS_ID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


@pytest.fixture()
def fabric(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[object]:
    monkeypatch.syspath_prepend(str(STANDIN))
    monkeypatch.delenv("FABGEN_PLATFORM", raising=False)
    monkeypatch.setenv("FABRIC_STANDIN_ONELAKE", str(tmp_path / "onelake"))
    monkeypatch.setenv(
        "FABRIC_STANDIN_CONTEXT",
        json.dumps({"currentWorkspaceName": "DEV_WORKSPACE", "currentWorkspaceId": WS_ID}),
    )
    import notebookutils

    yield notebookutils
    catalog.configure(None)
    platform.use(None)
    for name in [m for m in sys.modules if m == "notebookutils" or m.startswith("notebookutils.")]:
        del sys.modules[name]


def test_the_fabric_platform_is_chosen_where_notebookutils_imports(fabric) -> None:
    platform.use(None)
    assert platform.on_fabric()
    assert isinstance(platform.current(), platform.FabricPlatform)


def test_warehouse_workspace_from_the_runtime_context(fabric, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = platform.FabricPlatform().warehouse("DEV_WORKSPACE", "wh_sales")
    assert (conn.workspace_id, conn.jdbc_url, conn.control) == (WS_ID, "", "spark")  # the connector
    with pytest.raises(PlatformError, match="workspace 'OTHER_WS', whose id is unknown"):
        platform.FabricPlatform().warehouse("OTHER_WS", "wh_sales")
    other = "11111111-2222-4333-8444-555555555555"
    endpoint = {"sql_endpoint": "x.datawarehouse.fabric.microsoft.com"}
    catalog.configure({"workspaces": {"OTHER_WS": other}, "warehouses": {"OTHER_WS/wh_sales": endpoint}})
    conn = platform.FabricPlatform().warehouse("OTHER_WS", "wh_sales")
    assert conn.workspace_id == other
    assert (
        conn.jdbc_url
        == "jdbc:sqlserver://x.datawarehouse.fabric.microsoft.com:1433;database={wh_sales};encrypt=true"
    )
    assert conn.control == "odbc"  # pyodbc is importable here (it ships with Fabric Runtime 1.3)
    assert "Driver=ODBC Driver 18 for SQL Server" in conn.odbc
    monkeypatch.setenv("FABRIC_STANDIN_TOKEN", "tok")
    assert odbc.fabric_token() == "tok"
    assert fabric.credentials.audiences[-1] == odbc.SQL_AUDIENCE


def test_a_bare_config_lakehouse_is_in_the_notebooks_workspace(fabric) -> None:
    assert LakehouseLocation.of("lh_config") == LakehouseLocation("DEV_WORKSPACE", "lh_config")


def test_standin_fs_over_onelake_uris(fabric) -> None:
    base = "abfss://DEV_WORKSPACE@onelake.dfs.fabric.microsoft.com/lh.Lakehouse/Files"
    assert platform.files_uri(platform.FabricPlatform(), "DEV_WORKSPACE", "lh") == base
    fs = fabric.fs
    assert fs.mkdirs(f"{base}/staging") and fs.put(f"{base}/staging/a.csv", "id\n1\n")
    assert fs.head(f"{base}/staging/a.csv", 3) == "id\n"
    with pytest.raises(FileNotFoundError):
        fs.mv(f"{base}/staging/a.csv", f"{base}/out/a.csv")  # create_path=False
    assert fs.mv(f"{base}/staging/a.csv", f"{base}/out/a.csv", True)
    with pytest.raises(FileExistsError):
        fs.put(f"{base}/out/a.csv", "x")
    assert [(i.name, i.isFile, i.size) for i in fs.ls(f"{base}/out")] == [("a.csv", True, 5)]
    assert fs.cp(f"{base}/out", f"{base}/copy", recurse=True) and fs.exists(f"{base}/copy/a.csv")
    assert fs.rm(f"{base}/copy", recurse=True) and not fs.exists(f"{base}/copy")


def test_the_rendered_result_cell_exits_with_the_result_on_fabric(
    fabric, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FABRIC_STANDIN_EXIT_FILE", str(tmp_path / "exit.json"))
    model = render_project(load_project(REPO / "examples" / "sales")).notebooks["sales_eg1"]
    setup, result_cell = model.cells[2].source, model.cells[-1].source
    namespace: dict = {}
    exec(setup.split("RUNTIME_VERSION")[0], namespace)  # the setup cell's imports and ON_FABRIC
    assert namespace["ON_FABRIC"] is True
    import fabgen_runtime

    namespace.update(
        fabgen_runtime=fabgen_runtime,
        result={
            "success": True,
            "successful": 1,
            "failed": 0,
            "total_exports": 1,
            "results": [{"export_name": "dim_customers", "status": "success", "rows_exported": 3}],
        },
    )
    exec(result_cell, namespace)
    exit_value = json.loads((tmp_path / "exit.json").read_text())
    assert exit_value["successful"] == 1 and exit_value["results"][0]["export_name"] == "dim_customers"
