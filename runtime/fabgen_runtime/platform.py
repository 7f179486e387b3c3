"""Fabric vs local: the SparkSession, OneLake path resolution and warehouse connections.

Nothing else in fabgen knows where it runs. :func:`current` returns the :class:`Platform` for
this process: :class:`FabricPlatform` inside a Fabric notebook (``notebookutils`` importable),
:class:`LocalPlatform` everywhere else.

Local Fabric lays a folder out as OneLake is::

    <root>/<workspace>/<lakehouse>.Lakehouse/Tables/<schema>/<table>   (Delta)
    <root>/<workspace>/<lakehouse>.Lakehouse/Files/...

with ``<root>`` from ``FABGEN_ONELAKE_ROOT`` (default ``./.onelake``), and PostgreSQL standing
in for every Warehouse: warehouse ``wh_x`` is database ``wh_x`` on the server named by
``FABGEN_PG_HOST`` / ``FABGEN_PG_PORT`` / ``FABGEN_PG_USER`` / ``FABGEN_PG_PASSWORD``.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from . import catalog as catalog_mod
from .errors import ConfigIssue, PathError, PlatformError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

ONELAKE_HOST = "onelake.dfs.fabric.microsoft.com"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def is_guid(text: str | None) -> bool:
    """Whether ``text`` is a GUID (how Fabric names workspaces and items by id)."""
    return text is not None and _GUID.match(text) is not None


# The local engine is pinned to Fabric Runtime 2.0: Spark 4.1 (Scala 2.13) with Delta 4.2.
# The compatibility check (scripts/compat-runtime-1.3.sh) runs the same runtime on Fabric
# Runtime 1.3's pair: Spark 3.5 (Scala 2.12) with Delta 3.2. The jars follow the installed pyspark.
DELTA_VERSION = "4.2.0"
POSTGRES_JDBC = "org.postgresql:postgresql:42.7.8"
JAR_SETS: dict[str, tuple[str, ...]] = {
    # pyspark major.minor -> Maven coordinates (Delta for that Spark/Scala build, and the JDBC driver)
    "4.1": (
        "io.delta:delta-spark_4.1_2.13:" + DELTA_VERSION,
        "io.delta:delta-storage:" + DELTA_VERSION,
        POSTGRES_JDBC,
    ),
    "3.5": (
        "io.delta:delta-spark_2.12:3.2.1",
        "io.delta:delta-storage:3.2.1",
        POSTGRES_JDBC,
    ),
}
LOCAL_JARS = JAR_SETS["4.1"]  # the default engine's jars (Runtime 2.0)


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
        from pyspark.sql import SparkSession

        session = SparkSession.getActiveSession()
        return session or SparkSession.builder.getOrCreate()

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
        return local_spark()

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


# --------------------------------------------------------------------------- local Spark


def jar_cache() -> Path:
    """Where the local engine keeps the Delta Lake and JDBC jars (``FABGEN_JAR_CACHE``)."""
    default = Path.home() / ".cache" / "fabgen" / "jars"
    return Path(os.environ.get("FABGEN_JAR_CACHE", default))


def _jar_name(coordinate: str) -> str:
    _group, artifact, version = coordinate.split(":")
    return f"{artifact}-{version}.jar"


def installed_pyspark_version() -> str:
    """The version of the pyspark this process would import (read from its metadata, no JVM)."""
    from importlib import metadata

    try:
        return metadata.version("pyspark")
    except metadata.PackageNotFoundError as exc:
        raise PlatformError("pyspark is not installed: the local engine needs it") from exc


def local_jars(pyspark_version: str | None = None) -> tuple[str, ...]:
    """Maven coordinates of the jars for a pyspark version (default: the installed one).

    4.1.x (Fabric Runtime 2.0) -> Delta 4.2 for Scala 2.13; 3.5.x (Runtime 1.3) -> Delta 3.2 for
    Scala 2.12; both with the PostgreSQL JDBC driver. Any other version raises :class:`PlatformError`.
    """
    version = pyspark_version or installed_pyspark_version()
    match = re.match(r"^(\d+)\.(\d+)(\.|$)", version)
    series = f"{match.group(1)}.{match.group(2)}" if match else version
    if series not in JAR_SETS:
        supported = ", ".join(f"{s}.x" for s in JAR_SETS)
        raise PlatformError(f"pyspark {version} is not a Fabric runtime's Spark (supported: {supported})")
    return JAR_SETS[series]


def ensure_local_jars(pyspark_version: str | None = None) -> list[Path]:
    """Return the local engine's jars, fetching missing ones from Maven Central with ``mvn`` once.

    The set follows the installed pyspark (see :func:`local_jars`); ``pyspark_version`` overrides it.
    """
    cache = jar_cache()
    cache.mkdir(parents=True, exist_ok=True)
    jars = []
    for coordinate in local_jars(pyspark_version):
        jar = cache / _jar_name(coordinate)
        if not jar.exists():
            mvn = shutil.which("mvn")
            if mvn is None:
                raise PlatformError(
                    f"{jar.name} is not in {cache} and Maven (mvn) is not installed to fetch it"
                )
            log.info("fetching %s into %s", coordinate, cache)
            result = subprocess.run(
                [
                    mvn,
                    "-q",
                    "-B",
                    "dependency:copy",
                    f"-Dartifact={coordinate}",
                    f"-DoutputDirectory={cache}",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0 or not jar.exists():
                output = f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
                raise PlatformError(f"could not fetch {coordinate}: {output}")
        jars.append(jar)
    return jars


#: log4j2 settings of the local driver JVM: warnings and errors while it starts (``FABGEN_SPARK_LOG_LEVEL``,
#: default ERROR, applies once it runs), without Spark's start-up lines (its default-profile and
#: default-log-level notices, NativeCodeLoader's warning).
LOG4J2_PROPERTIES = """\
# Written by fabgen (fabgen_runtime.platform.log4j2_config); rewritten when it differs.
# warn: the level Spark gives a pyspark driver, so it prints no "Setting default log level"
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
logger.native.name = org.apache.hadoop.util.NativeCodeLoader
logger.native.level = error
"""


def startup_logs_wanted() -> bool:
    """Whether the local JVM prints Spark's start-up log lines (``FABGEN_SPARK_STARTUP_LOGS=1``)."""
    return os.environ.get("FABGEN_SPARK_STARTUP_LOGS", "") not in ("", "0", "false")


def log4j2_config() -> Path:
    """The quiet log4j2 properties file handed to the local driver JVM (kept next to the jar cache)."""
    path = jar_cache().parent / "log4j2-fabgen.properties"
    if not path.is_file() or path.read_text() != LOG4J2_PROPERTIES:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        temporary.write_text(LOG4J2_PROPERTIES)
        os.replace(temporary, path)  # atomic: a JVM starting at the same time never reads half a file
    return path


@functools.lru_cache(maxsize=1)
def local_spark() -> SparkSession:
    """Build (once) the local Delta-enabled SparkSession, configured like Fabric's defaults.

    ``FABGEN_SPARK_MASTER`` (default ``local[*]``) and ``FABGEN_SPARK_DRIVER_MEMORY``
    (default ``4g``) tune it. The driver JVM starts without Spark's start-up notices (:func:`log4j2_config`)
    unless ``FABGEN_SPARK_STARTUP_LOGS=1`` (``fabgen --debug`` sets it).
    """
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Python workers must run the interpreter (and packages) of this process, not whatever is on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    jars = ",".join(str(jar) for jar in ensure_local_jars())
    warehouse_dir = str(Path(os.environ.get("FABGEN_SPARK_WAREHOUSE", ".spark-warehouse")).resolve())
    builder = (
        SparkSession.builder.master(os.environ.get("FABGEN_SPARK_MASTER", "local[*]"))
        .appName("fabgen-local")
        .config("spark.jars", jars)
        .config("spark.driver.memory", os.environ.get("FABGEN_SPARK_DRIVER_MEMORY", "4g"))
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.scheduler.mode", "FAIR")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", os.environ.get("FABGEN_SHUFFLE_PARTITIONS", "8"))
        .config("spark.databricks.delta.snapshotPartitions", "2")
        .config("spark.sql.warehouse.dir", warehouse_dir)
    )
    if not startup_logs_wanted():
        # read by the JVM as it starts: setLogLevel afterwards is too late for the start-up lines
        option = f"-Dlog4j2.configurationFile={log4j2_config().as_uri()}"  # a URI: no spaces to split on
        builder = builder.config("spark.driver.extraJavaOptions", option)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel(os.environ.get("FABGEN_SPARK_LOG_LEVEL", "ERROR"))
    return session
