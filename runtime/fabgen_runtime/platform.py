"""Fabric vs local: OneLake path resolution, warehouse connections, and where the SparkSession comes from.

Nothing else in fabgen knows where it runs. :func:`current` returns the :class:`Platform` for
this process: :class:`FabricPlatform` inside a Fabric notebook (``notebookutils`` importable),
:class:`LocalPlatform` everywhere else.

Local Fabric lays a folder out as OneLake is::

    <root>/<workspace>/<lakehouse>.Lakehouse/Tables/<schema>/<table>   (Delta)
    <root>/<workspace>/<lakehouse>.Lakehouse/Files/...

with ``<root>`` from ``FABGEN_ONELAKE_ROOT`` (default ``./.onelake``), and PostgreSQL standing
in for every Warehouse: warehouse ``wh_x`` is database ``wh_x`` on the server named by
``FABGEN_PG_HOST`` / ``FABGEN_PG_PORT`` / ``FABGEN_PG_USER`` / ``FABGEN_PG_PASSWORD``.

``Platform.spark()`` starts (or finds) the platform's SparkSession through
:data:`SPARK_SESSIONS`, which the Spark engine fills (``engines/spark/session.py``, imported with
the package), so this module imports no engine.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from . import catalog as catalog_mod
from .errors import ConfigIssue, PathError, PlatformError

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

#: how each platform (by ``Platform.name``) gets its SparkSession: registered by the Spark engine
SPARK_SESSIONS: dict[str, Callable[[], Any]] = {}


def spark_session(platform_name: str) -> Any:
    """The SparkSession of platform ``platform_name`` (:data:`SPARK_SESSIONS`)."""
    try:
        start = SPARK_SESSIONS[platform_name]
    except KeyError:
        raise PlatformError(
            f"no SparkSession for platform {platform_name!r}: the Spark engine is not loaded "
            "(import fabgen_runtime.engines.spark)"
        ) from None
    return start()


ONELAKE_HOST = "onelake.dfs.fabric.microsoft.com"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def is_guid(text: str | None) -> bool:
    """Whether ``text`` is a GUID (how Fabric names workspaces and items by id)."""
    return text is not None and _GUID.match(text) is not None


@dataclass(frozen=True)
class WarehouseConnection:
    """How Spark (JDBC) and control queries reach one warehouse."""

    dialect: str  # "tsql" on Fabric, "postgres" locally
    jdbc_url: str
    properties: dict[str, str]
    database: str
    workspace_id: str | None = None  # Fabric: the warehouse's workspace (None: the notebook's own)
    sql_endpoint: str | None = None  # Fabric: the warehouse's SQL connection host, when known
    control: str = "spark"  # control queries: "spark" (as the reads) or "odbc" (pyodbc, ``odbc`` below)
    odbc: str = ""  # the ODBC connection string (no secret on Fabric: an access token is added per query)


class Platform(Protocol):
    """What the runtime needs from where it runs."""

    name: str

    def spark(self) -> SparkSession: ...

    def lakehouse_uri(self, workspace: str, lakehouse: str) -> str: ...

    def warehouse(self, workspace: str, warehouse: str) -> WarehouseConnection: ...


def files_uri(platform: Platform, workspace: str, lakehouse: str, relative: str = "") -> str:
    """URI of ``Files/<relative>`` in a lakehouse.

    ``relative`` is checked by the plan already; as a last guard a ``..`` segment or a backslash
    (a path that could leave ``Files/``) raises :class:`PathError`.
    """
    base = f"{platform.lakehouse_uri(workspace, lakehouse)}/Files"
    relative = relative.strip("/")
    if "\\" in relative or ".." in relative.split("/"):
        raise PathError(ConfigIssue(f"{workspace}/{lakehouse}", "path", f"{relative!r} leaves Files/"))
    return f"{base}/{relative}" if relative else base


DEFAULT_SCHEMA = "dbo"


def table_uri(platform: Platform, workspace: str, lakehouse: str, schema: str, table: str) -> str:
    """URI of a lakehouse's Delta table: ``Tables/<schema>/<table>``, or ``Tables/<table>`` in a
    lakehouse without schemas (``schemas: false`` in the item catalog, :mod:`fabgen_runtime.catalog`).

    A lakehouse without schemas has only ``dbo`` (what Fabric's SQL endpoint calls its tables);
    naming another schema there raises :class:`PlatformError`.
    """
    for part in (schema, table):
        if not part or any(c in part for c in "/\\") or part in (".", ".."):
            raise PlatformError(f"{part!r} cannot name a schema or table folder")
    base = f"{platform.lakehouse_uri(workspace, lakehouse)}/Tables"
    if catalog_mod.current().lakehouse(workspace, lakehouse).schemas:
        return f"{base}/{schema}/{table}"
    if schema.lower() != DEFAULT_SCHEMA:
        raise PlatformError(
            f"lakehouse {workspace}/{lakehouse} has no schemas (schemas: false), so no table "
            f"{schema}.{table}: use schema {DEFAULT_SCHEMA} or none"
        )
    return f"{base}/{table}"


class FabricPlatform:
    """Running inside a Fabric notebook: the notebook's Spark, OneLake over abfss."""

    name = "fabric"

    def spark(self) -> SparkSession:
        """The notebook's SparkSession."""
        session: SparkSession = spark_session(self.name)
        return session

    def lakehouse_uri(self, workspace: str, lakehouse: str) -> str:
        """OneLake's GUID form when both ids are known, else its name form; never one of each.

        OneLake documents ``<workspace guid>@.../<lakehouse guid>`` and
        ``<workspace name>@.../<lakehouse name>.Lakehouse``; a GUID workspace with a named lakehouse
        (or the reverse) is neither, so it raises, naming the id to add.
        """
        items = catalog_mod.current()
        workspace_id = items.workspace_id(workspace)
        lakehouse_id = items.lakehouse(workspace, lakehouse).id
        if workspace_id and lakehouse_id:
            return f"abfss://{workspace_id}@{ONELAKE_HOST}/{lakehouse_id}"
        if is_guid(workspace) or is_guid(lakehouse):
            missing = f"lakehouse {lakehouse!r}" if is_guid(workspace) else f"workspace {workspace!r}"
            raise PlatformError(
                f"{workspace}/{lakehouse}: one is given by id but the id of the {missing} is unknown, and "
                "OneLake paths are GUID+GUID or name+name: give its id in the environment's settings"
            )
        if not re.match(r"^[A-Za-z0-9_.-]+$", workspace) or set(workspace) == {"."}:
            raise PlatformError(
                f"workspace {workspace!r} has characters OneLake names cannot carry: "
                "give the workspace's and the lakehouse's ids (GUIDs) in the environment's settings"
            )
        if not re.match(r"^[A-Za-z0-9_-]+$", lakehouse):
            raise PlatformError(f"{lakehouse!r} is not a lakehouse name (letters, digits and '_') or GUID")
        return f"abfss://{workspace}@{ONELAKE_HOST}/{lakehouse}.Lakehouse"

    def warehouse(self, workspace: str, warehouse: str) -> WarehouseConnection:
        """The warehouse with its workspace id (None: the notebook's own workspace) and SQL endpoint."""
        items = catalog_mod.current()
        workspace_id = items.workspace_id(workspace)
        if workspace_id is None:
            context = fabric_context()
            if workspace not in (context.get("currentWorkspaceName"), context.get("currentWorkspaceId")):
                raise PlatformError(
                    f"warehouse {warehouse!r} is in workspace {workspace!r}, whose id is unknown, and this "
                    f"notebook runs in {context.get('currentWorkspaceName')!r}: give the workspace's id in "
                    "the environment's settings (Fabric would look for the warehouse in this workspace)"
                )
            workspace_id = context.get("currentWorkspaceId") or None
        facts = items.warehouse(workspace, warehouse)
        endpoint = facts.sql_endpoint
        if endpoint is None:
            if items.warehouse_control == "odbc":
                raise PlatformError(
                    f"warehouse_control is odbc but warehouse {workspace}/{warehouse} has no sql_endpoint "
                    "in the environment's settings"
                )
            return WarehouseConnection("tsql", "", {}, warehouse, workspace_id)
        # With the SQL endpoint known, reads go through JDBC and control queries through ODBC, both
        # with an Entra token (notebookutils.credentials.getToken): this works under a service principal.
        url = f"jdbc:sqlserver://{endpoint}:1433;database={_jdbc_value(warehouse)};encrypt=true"
        props = {"driver": "com.microsoft.sqlserver.jdbc.SQLServerDriver"}
        control = items.warehouse_control
        if control == "auto":
            control = "odbc" if importlib.util.find_spec("pyodbc") is not None else "spark"
        from .sources.odbc import fabric_connection_string

        odbc = fabric_connection_string(endpoint, warehouse)
        return WarehouseConnection("tsql", url, props, warehouse, workspace_id, endpoint, control, odbc)


def fabric_context() -> dict[str, Any]:
    """``notebookutils.runtime.context`` (Fabric only): the workspace, notebook and lakehouse of this run.

    Microsoft documents it as a dict with ``currentWorkspaceName``, ``currentWorkspaceId``,
    ``defaultLakehouseName``, ``isForPipeline``, ... (learn.microsoft.com/fabric/data-engineering/
    notebook-utilities, "Runtime utilities").
    """
    import notebookutils

    return dict(notebookutils.runtime.context)


class LocalPlatform:
    """Local Fabric: a Delta-enabled local SparkSession, a OneLake folder, PostgreSQL warehouses."""

    name = "local"

    def __init__(self, onelake_root: str | os.PathLike[str] | None = None):
        root = onelake_root or os.environ.get("FABGEN_ONELAKE_ROOT") or ".onelake"
        self.onelake_root = Path(root).resolve()

    def spark(self) -> SparkSession:
        """The Delta-enabled local SparkSession (started once per process)."""
        session: SparkSession = spark_session(self.name)
        return session

    def lakehouse_uri(self, workspace: str, lakehouse: str) -> str:
        for part in (workspace, lakehouse):
            if not part or "/" in part or "\\" in part or part in (".", ".."):
                raise PlatformError(f"{part!r} cannot name a local OneLake folder")
        return str(self.onelake_root / workspace / f"{lakehouse}.Lakehouse")

    def warehouse(self, workspace: str, warehouse: str) -> WarehouseConnection:
        host = os.environ.get("FABGEN_PG_HOST", "127.0.0.1")
        port = os.environ.get("FABGEN_PG_PORT", "54329")
        props = {
            "user": os.environ.get("FABGEN_PG_USER", "fabgen"),
            "password": os.environ.get("FABGEN_PG_PASSWORD", "fabgen"),
            "driver": "org.postgresql.Driver",
        }
        url = f"jdbc:postgresql://{host}:{port}/{warehouse}"
        # Locally "auto" is Spark JDBC; "odbc" runs control queries through PostgreSQL's ODBC driver.
        control = "odbc" if catalog_mod.current().warehouse_control == "odbc" else "spark"
        from .sources.odbc import local_connection_string

        odbc = local_connection_string(host, port, warehouse, props["user"], props["password"])
        return WarehouseConnection("postgres", url, props, warehouse, control=control, odbc=odbc)


def _jdbc_value(value: str) -> str:
    """A value for a SQL Server JDBC URL property, braced (``}`` doubled) so ``;`` cannot end it."""
    return "{" + value.replace("}", "}}") + "}"


def on_fabric() -> bool:
    """True inside a Fabric notebook (``notebookutils`` is importable there and only there)."""
    if os.environ.get("FABGEN_PLATFORM") == "local":
        return False
    return importlib.util.find_spec("notebookutils") is not None


_current: Platform | None = None
_lock = threading.Lock()


def current() -> Platform:
    """The platform of this process (created once)."""
    global _current
    with _lock:
        if _current is None:
            _current = FabricPlatform() if on_fabric() else LocalPlatform()
        return _current


def use(platform: Platform | None) -> None:
    """Set the platform explicitly (tests, ``fabgen run`` with a project root); ``None`` resets."""
    global _current
    with _lock:
        _current = platform


def get_spark() -> SparkSession:
    """The SparkSession: the notebook's on Fabric, a Delta-enabled local one elsewhere."""
    return current().spark()
