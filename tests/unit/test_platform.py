"""The path resolver: local OneLake folders and OneLake abfss URIs (no SparkSession here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fabgen_runtime import platform
from fabgen_runtime.errors import PathError, PlatformError
from fabgen_runtime.platform import FabricPlatform, LocalPlatform, files_uri, table_uri

WS_GUID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
LH_GUID = "AABBCCDD-1122-3344-5566-77889900AABB"
HOST = "onelake.dfs.fabric.microsoft.com"


def test_local_layout(tmp_path: Path) -> None:
    local = LocalPlatform(tmp_path)
    lakehouse = tmp_path / "DEV_WORKSPACE" / "lh_exports.Lakehouse"
    assert local.lakehouse_uri("DEV_WORKSPACE", "lh_exports") == str(lakehouse)
    assert files_uri(local, "DEV_WORKSPACE", "lh_exports") == f"{lakehouse}/Files"
    assert (
        files_uri(local, "DEV_WORKSPACE", "lh_exports", "exports/2025/") == f"{lakehouse}/Files/exports/2025"
    )
    assert files_uri(local, "DEV_WORKSPACE", "lh_exports", "/a/b.csv") == f"{lakehouse}/Files/a/b.csv"
    assert table_uri(local, "DEV_WORKSPACE", "lh_gold", "dbo", "orders") == str(
        tmp_path / "DEV_WORKSPACE" / "lh_gold.Lakehouse" / "Tables" / "dbo" / "orders"
    )


def test_local_workspace_names_may_have_spaces(tmp_path: Path) -> None:
    local = LocalPlatform(tmp_path)
    assert local.lakehouse_uri("Sales Team", "lh") == str(tmp_path / "Sales Team" / "lh.Lakehouse")


def test_local_root_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FABGEN_ONELAKE_ROOT", str(tmp_path / "lake"))
    assert LocalPlatform().onelake_root == (tmp_path / "lake").resolve()
    monkeypatch.delenv("FABGEN_ONELAKE_ROOT")
    monkeypatch.chdir(tmp_path)
    assert LocalPlatform().onelake_root == (tmp_path / ".onelake").resolve()
    # An explicit root wins over the environment and is made absolute.
    monkeypatch.setenv("FABGEN_ONELAKE_ROOT", "/elsewhere")
    assert LocalPlatform("rel").onelake_root == (tmp_path / "rel").resolve()


@pytest.mark.parametrize(
    ("workspace", "lakehouse"), [("a/b", "lh"), ("ws", "../lh"), ("..", "lh"), ("", "lh")]
)
def test_local_names_that_are_not_one_folder(tmp_path: Path, workspace: str, lakehouse: str) -> None:
    with pytest.raises(PlatformError, match="cannot name a local OneLake folder"):
        LocalPlatform(tmp_path).lakehouse_uri(workspace, lakehouse)


def test_fabric_name_form() -> None:
    fabric = FabricPlatform()
    base = f"abfss://DEV_WORKSPACE@{HOST}/lh_exports.Lakehouse"
    assert fabric.lakehouse_uri("DEV_WORKSPACE", "lh_exports") == base
    assert files_uri(fabric, "DEV_WORKSPACE", "lh_exports") == f"{base}/Files"
    assert files_uri(fabric, "DEV_WORKSPACE", "lh_exports", "exports/sales/o.csv") == (
        f"{base}/Files/exports/sales/o.csv"
    )
    assert table_uri(fabric, "DEV_WORKSPACE", "lh_exports", "dbo", "orders") == f"{base}/Tables/dbo/orders"
    assert fabric.lakehouse_uri("dev-ws.2", "lh") == f"abfss://dev-ws.2@{HOST}/lh.Lakehouse"


def test_fabric_guid_form() -> None:
    fabric = FabricPlatform()
    assert fabric.lakehouse_uri(WS_GUID, LH_GUID) == f"abfss://{WS_GUID}@{HOST}/{LH_GUID}"
    assert (
        files_uri(fabric, WS_GUID, LH_GUID, "x/y.csv") == f"abfss://{WS_GUID}@{HOST}/{LH_GUID}/Files/x/y.csv"
    )
    assert (
        table_uri(fabric, WS_GUID, LH_GUID, "dbo", "t") == f"abfss://{WS_GUID}@{HOST}/{LH_GUID}/Tables/dbo/t"
    )
    # Never a GUID workspace with a named lakehouse (OneLake documents GUID+GUID or name+name).
    with pytest.raises(PlatformError, match="GUID\\+GUID or name\\+name"):
        fabric.lakehouse_uri(WS_GUID, "lh_x")
    with pytest.raises(PlatformError, match="workspace 'ws'"):
        fabric.lakehouse_uri("ws", LH_GUID)


@pytest.mark.parametrize("workspace", ["Sales Team", "dev/ws", "ws@x", "wörk", "", "..", "a#b"])
def test_fabric_workspace_names_onelake_cannot_carry(workspace: str) -> None:
    with pytest.raises(PlatformError, match="GUID") as caught:
        FabricPlatform().lakehouse_uri(workspace, "lh")
    assert repr(workspace) in str(caught.value)


@pytest.mark.parametrize("lakehouse", ["lh/x", "../lh", "lh x", ""])
def test_fabric_lakehouse_names_that_are_not_names(lakehouse: str) -> None:
    with pytest.raises(PlatformError, match="not a lakehouse name"):
        FabricPlatform().lakehouse_uri("ws", lakehouse)


@pytest.mark.parametrize("relative", ["../x", "a/../../b", "a\\b", ".."])
def test_files_uri_refuses_paths_that_leave_files(tmp_path: Path, relative: str) -> None:
    for where in (LocalPlatform(tmp_path), FabricPlatform()):
        with pytest.raises(PathError, match="leaves Files/"):
            files_uri(where, "ws", "lh", relative)


@pytest.mark.parametrize(("schema", "table"), [("dbo", "a/b"), ("..", "t"), ("dbo", ""), ("d\\x", "t")])
def test_table_uri_refuses_names_that_are_not_one_folder(tmp_path: Path, schema: str, table: str) -> None:
    with pytest.raises(PlatformError, match="schema or table"):
        table_uri(LocalPlatform(tmp_path), "ws", "lh", schema, table)


def test_on_fabric_follows_notebookutils_unless_forced_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FABGEN_PLATFORM", raising=False)
    assert platform.on_fabric() is False  # no notebookutils on this machine
    # the Fabric stand-in puts a notebookutils package on the path, as a Fabric notebook has
    standin = Path(__file__).resolve().parents[1] / "support" / "fabric_standin"
    monkeypatch.syspath_prepend(str(standin))
    assert platform.on_fabric() is True
    monkeypatch.setenv("FABGEN_PLATFORM", "local")
    assert platform.on_fabric() is False


def test_current_is_local_here_and_use_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "_current", None)
    monkeypatch.setenv("FABGEN_ONELAKE_ROOT", str(tmp_path))
    first = platform.current()
    assert isinstance(first, LocalPlatform) and first.name == "local"
    assert platform.current() is first  # created once
    assert first.onelake_root == tmp_path.resolve()
    fabric = FabricPlatform()
    platform.use(fabric)
    assert platform.current() is fabric
    platform.use(None)
    assert isinstance(platform.current(), LocalPlatform)


def test_local_warehouse_connection_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FABGEN_PG_HOST", "db.local")
    monkeypatch.setenv("FABGEN_PG_PORT", "6543")
    monkeypatch.setenv("FABGEN_PG_USER", "u")
    monkeypatch.setenv("FABGEN_PG_PASSWORD", "p")
    conn = LocalPlatform("/tmp/x").warehouse("ws", "wh_sales")
    assert conn.dialect == "postgres"
    assert conn.jdbc_url == "jdbc:postgresql://db.local:6543/wh_sales"
    assert conn.properties == {"user": "u", "password": "p", "driver": "org.postgresql.Driver"}
    assert conn.database == "wh_sales"
    # On Fabric, a warehouse's workspace id comes from the item catalog (or notebookutils' context,
    # tested with the Fabric stand-in in tests/integration/test_fabric_standin.py).
    from fabgen_runtime import catalog

    catalog.configure({"workspaces": {"ws": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"}})
    try:
        fabric = FabricPlatform().warehouse("ws", "wh_sales")
    finally:
        catalog.configure(None)
    assert (fabric.dialect, fabric.workspace_id) == ("tsql", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
