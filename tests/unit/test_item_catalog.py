"""The item catalog: ids and lakehouse layouts by name, and how OneLake URIs and table paths use them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fabgen_runtime import catalog
from fabgen_runtime.errors import PlatformError
from fabgen_runtime.platform import FabricPlatform, LocalPlatform, table_uri

WS = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
LH = "aabbccdd-1122-3344-5566-77889900aabb"
HOST = "onelake.dfs.fabric.microsoft.com"


@pytest.fixture(autouse=True)
def reset() -> Iterator[None]:
    yield
    catalog.configure(None)


def test_names_with_both_ids_known_use_the_guid_form() -> None:
    catalog.configure({"workspaces": {"PROD": WS}, "lakehouses": {"PROD/lh_gold": {"id": LH}}})
    fabric = FabricPlatform()
    assert fabric.lakehouse_uri("PROD", "lh_gold") == f"abfss://{WS}@{HOST}/{LH}"
    # Only the workspace id known for another lakehouse: the name form, never a mix.
    assert fabric.lakehouse_uri("PROD", "lh_other") == f"abfss://PROD@{HOST}/lh_other.Lakehouse"
    assert table_uri(fabric, "PROD", "lh_gold", "dbo", "t") == f"abfss://{WS}@{HOST}/{LH}/Tables/dbo/t"


def test_a_workspace_named_with_spaces_needs_both_ids() -> None:
    fabric = FabricPlatform()
    with pytest.raises(PlatformError, match="ids \\(GUIDs\\)"):
        fabric.lakehouse_uri("Sales Team", "lh")
    catalog.configure({"workspaces": {"Sales Team": WS}, "lakehouses": {"Sales Team/lh": {"id": LH}}})
    assert fabric.lakehouse_uri("Sales Team", "lh") == f"abfss://{WS}@{HOST}/{LH}"


def test_lakehouse_without_schemas(tmp_path: Path) -> None:
    catalog.configure({"lakehouses": {"ws/flat": {"schemas": False}}})
    local = LocalPlatform(tmp_path)
    flat = tmp_path / "ws" / "flat.Lakehouse" / "Tables"
    assert table_uri(local, "ws", "flat", "dbo", "orders") == str(flat / "orders")
    assert table_uri(local, "ws", "flat", "DBO", "orders") == str(flat / "orders")
    with pytest.raises(PlatformError, match="has no schemas"):
        table_uri(local, "ws", "flat", "sales", "orders")
    # Other lakehouses keep Tables/<schema>/<table>.
    nested = tmp_path / "ws" / "gold.Lakehouse" / "Tables" / "sales" / "orders"
    assert table_uri(local, "ws", "gold", "sales", "orders") == str(nested)
    assert (
        table_uri(FabricPlatform(), "ws", "flat", "dbo", "o") == f"abfss://ws@{HOST}/flat.Lakehouse/Tables/o"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"workspaces": {"w": "not-a-guid"}}, "workspaces.w must be a GUID"),
        ({"lakehouses": {"nolakehouse": {}}}, "must be '<workspace>/<item>'"),
        ({"lakehouses": {"w/l": {"schemas": "no"}}}, "takes only id and schemas"),
        ({"lakehouses": {"w/l": {"name": "x"}}}, "takes only id and schemas"),
        ({"warehouses": {"w/h": {"sql_endpoint": "x;Password=y"}}}, "is not a host name"),
        ({"items": {}}, "unknown key"),
    ],
)
def test_bad_catalogs_are_refused(data: dict, message: str) -> None:
    with pytest.raises(PlatformError, match=message):
        catalog.Catalog.from_dict(data)
