"""What the runtime knows about Fabric items beyond their names: ids, lakehouse layouts, SQL endpoints.

Export rows name workspaces, lakehouses and warehouses by name. A rendered notebook also embeds the
facts ``fabgen.yaml`` gives for its environment and hands them to :func:`configure` before any export
runs (``fabgen run`` does the same with the project's settings)::

    {"workspaces": {"PROD_WORKSPACE": "<workspace guid>"},
     "lakehouses": {"PROD_WORKSPACE/lh_gold": {"id": "<lakehouse guid>", "schemas": false}},
     "warehouses": {"PROD_WORKSPACE/wh_sales": {"id": "<guid>", "sql_endpoint": "x.datawarehouse..."}}}

Nothing here is invented: an id that is not given stays unknown, and whoever needs it (OneLake's
GUID form, a warehouse in another workspace) says which setting is missing.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import PlatformError

WAREHOUSE_CONTROL = ("auto", "spark", "odbc")
GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def is_guid(value: str | None) -> bool:
    """True for a GUID in its 8-4-4-4-12 form."""
    return bool(value and GUID.match(value))


@dataclass(frozen=True)
class LakehouseFacts:
    """One lakehouse: its id (when known) and whether its tables live under schemas."""

    id: str | None = None
    schemas: bool = True  # True: Tables/<schema>/<table>; False: Tables/<table> (lakehouse without schemas)


@dataclass(frozen=True)
class WarehouseFacts:
    """One warehouse: its id and its SQL connection endpoint (host name), when known."""

    id: str | None = None
    sql_endpoint: str | None = None


@dataclass(frozen=True)
class Catalog:
    """Ids and layouts by name; every lookup of an unknown name gives the defaults."""

    workspaces: Mapping[str, str] = field(default_factory=dict)  # workspace name -> id
    lakehouses: Mapping[str, LakehouseFacts] = field(default_factory=dict)  # "ws/lh" -> facts
    warehouses: Mapping[str, WarehouseFacts] = field(default_factory=dict)  # "ws/wh" -> facts
    # How warehouse control queries run: "spark" (the read path), "odbc" (pyodbc), "auto" (docs/runtimes.md)
    warehouse_control: str = "auto"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Catalog:
        """Build from the embedded form (see the module docstring); bad entries raise PlatformError."""
        data = data or {}
        unknown = set(data) - {"workspaces", "lakehouses", "warehouses", "warehouse_control"}
        if unknown:
            raise PlatformError(f"item catalog: unknown key(s) {sorted(unknown)}")
        workspaces = {str(k): _guid(v, f"workspaces.{k}") for k, v in (data.get("workspaces") or {}).items()}
        lakehouses = {}
        for key, value in (data.get("lakehouses") or {}).items():
            value = dict(value or {})
            schemas = value.pop("schemas", True)
            ident = value.pop("id", None)
            if value or not isinstance(schemas, bool):
                raise PlatformError(f"item catalog: lakehouses.{key} takes only id and schemas (true/false)")
            lakehouses[_key(key, "lakehouses")] = LakehouseFacts(
                _guid(ident, f"lakehouses.{key}.id") if ident else None, schemas
            )
        warehouses = {}
        for key, value in (data.get("warehouses") or {}).items():
            value = dict(value or {})
            ident, endpoint = value.pop("id", None), value.pop("sql_endpoint", None)
            if value:
                raise PlatformError(f"item catalog: warehouses.{key} takes only id and sql_endpoint")
            if endpoint is not None and not re.match(r"^[A-Za-z0-9.-]+$", str(endpoint)):
                message = f"warehouses.{key}.sql_endpoint {endpoint!r} is not a host name"
                raise PlatformError(f"item catalog: {message}")
            warehouses[_key(key, "warehouses")] = WarehouseFacts(
                _guid(ident, f"warehouses.{key}.id") if ident else None, endpoint
            )
        control = data.get("warehouse_control") or "auto"
        if control not in WAREHOUSE_CONTROL:
            message = f"warehouse_control {control!r} is not one of {WAREHOUSE_CONTROL}"
            raise PlatformError(f"item catalog: {message}")
        return cls(workspaces, lakehouses, warehouses, control)

    def workspace_id(self, workspace: str) -> str | None:
        """The workspace's id: the name itself when it is a GUID, else the known id or None."""
        return workspace if is_guid(workspace) else self.workspaces.get(workspace)

    def lakehouse(self, workspace: str, lakehouse: str) -> LakehouseFacts:
        """The facts of ``workspace/lakehouse`` (defaults when unknown; a GUID is its own id)."""
        facts = self.lakehouses.get(f"{workspace}/{lakehouse}", LakehouseFacts())
        if is_guid(lakehouse) and facts.id is None:
            return LakehouseFacts(lakehouse, facts.schemas)
        return facts

    def warehouse(self, workspace: str, warehouse: str) -> WarehouseFacts:
        """The facts of ``workspace/warehouse`` (defaults when unknown)."""
        return self.warehouses.get(f"{workspace}/{warehouse}", WarehouseFacts())


def _guid(value: Any, where: str) -> str:
    if not isinstance(value, str) or not is_guid(value):
        raise PlatformError(f"item catalog: {where} must be a GUID, got {value!r}")
    return value


def _key(key: str, section: str) -> str:
    if str(key).count("/") != 1 or not all(str(key).split("/")):
        raise PlatformError(f"item catalog: {section} key {key!r} must be '<workspace>/<item>'")
    return str(key)


_catalog = Catalog()
_lock = threading.Lock()


def configure(data: Mapping[str, Any] | Catalog | None) -> Catalog:
    """Set the process's catalog (the notebooks call this with their embedded facts); return it."""
    global _catalog
    catalog = data if isinstance(data, Catalog) else Catalog.from_dict(data)
    with _lock:
        _catalog = catalog
    return catalog


def current() -> Catalog:
    """The process's catalog (empty until :func:`configure`)."""
    with _lock:
        return _catalog
