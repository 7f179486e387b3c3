"""The local engine: its Delta Lake and JDBC jars (fetched once from Maven) and its SparkSession.

Pinned to Fabric Runtime 2.0 (Spark 4.1, Delta 4.2); ``scripts/compat-runtime-1.3.sh`` runs the same
runtime on Runtime 1.3's pair (Spark 3.5, Delta 3.2): the jars follow the installed pyspark.
Only :class:`fabgen_runtime.platform.LocalPlatform` and local tooling use this module.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ...errors import PlatformError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

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

#: Fabric's documented Spark defaults that change what fabgen writes or reads, per runtime (pyspark
#: major.minor): the local SparkSession applies them unless ``FABGEN_LOCAL_DEFAULTS=oss``
#: (docs/local-fabric.md, "Fabric's defaults", which also lists what Runtime 2.0's release notes
#: change and why none of it is applied: open-source defaults already, or nothing fabgen writes or reads).
FABRIC_DEFAULTS: dict[str, dict[str, str]] = {
    # Runtime 2.0: new Delta tables get deletion vectors (reader 3 / writer 7), so a DELETE, UPDATE
    # or MERGE marks rows deleted in a DV file instead of rewriting the data file
    "4.1": {"spark.databricks.delta.properties.defaults.enableDeletionVectors": "true"},
    # Runtime 1.3: new tables stay reader 1 / writer 2 (Microsoft's Delta interoperability table)
    "3.5": {},
}
LOCAL_DEFAULTS_ENV = "FABGEN_LOCAL_DEFAULTS"
LOCAL_DEFAULTS = ("fabric", "oss")


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


def _series(version: str) -> str:
    """``major.minor`` of a version (``4.1.1`` -> ``4.1``); the text itself when it has none."""
    match = re.match(r"^(\d+)\.(\d+)(\.|$)", version)
    return f"{match.group(1)}.{match.group(2)}" if match else version


def local_defaults() -> str:
    """Which defaults the local SparkSession takes (``FABGEN_LOCAL_DEFAULTS``): ``fabric`` (the
    default: Fabric's documented defaults on top of open-source Spark and Delta) or ``oss`` (plain
    open-source defaults). Any other value raises :class:`PlatformError`."""
    value = os.environ.get(LOCAL_DEFAULTS_ENV, "").strip().lower() or "fabric"
    if value not in LOCAL_DEFAULTS:
        raise PlatformError(
            f"{LOCAL_DEFAULTS_ENV}={value!r} is not one of {', '.join(LOCAL_DEFAULTS)} "
            "(fabric: Fabric's documented Spark defaults; oss: plain open-source Spark and Delta)"
        )
    return value


def fabric_defaults(pyspark_version: str | None = None) -> dict[str, str]:
    """The Spark settings the local session adds to imitate Fabric's runtime of ``pyspark_version``
    (default: the installed pyspark): :data:`FABRIC_DEFAULTS`, none with ``FABGEN_LOCAL_DEFAULTS=oss``."""
    if local_defaults() == "oss":
        return {}
    return dict(FABRIC_DEFAULTS.get(_series(pyspark_version or installed_pyspark_version()), {}))


def local_jars(pyspark_version: str | None = None) -> tuple[str, ...]:
    """Maven coordinates of the jars for a pyspark version (default: the installed one).

    4.1.x (Fabric Runtime 2.0) -> Delta 4.2 for Scala 2.13; 3.5.x (Runtime 1.3) -> Delta 3.2 for
    Scala 2.12; both with the PostgreSQL JDBC driver. Any other version raises :class:`PlatformError`.
    """
    version = pyspark_version or installed_pyspark_version()
    series = _series(version)
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
# Written by fabgen (fabgen_runtime.engines.spark.local_spark.log4j2_config); rewritten when it differs.
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

    Fabric's documented defaults that change behaviour (:func:`fabric_defaults`: on Runtime 2.0's
    pair, deletion vectors on for new Delta tables) are applied unless ``FABGEN_LOCAL_DEFAULTS=oss``.
    ``FABGEN_SPARK_MASTER`` (default ``local[*]``) and ``FABGEN_SPARK_DRIVER_MEMORY``
    (default ``4g``) tune it. The driver JVM starts without Spark's start-up notices (:func:`log4j2_config`)
    unless ``FABGEN_SPARK_STARTUP_LOGS=1`` (``fabgen --debug`` sets it).
    """
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Python workers must run the interpreter (and packages) of this process, not whatever is on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    defaults = fabric_defaults()  # first: a bad FABGEN_LOCAL_DEFAULTS fails before any jar is fetched
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
    for key, value in defaults.items():
        builder = builder.config(key, value)
    if not startup_logs_wanted():
        # read by the JVM as it starts: setLogLevel afterwards is too late for the start-up lines
        option = f"-Dlog4j2.configurationFile={log4j2_config().as_uri()}"  # a URI: no spaces to split on
        builder = builder.config("spark.driver.extraJavaOptions", option)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel(os.environ.get("FABGEN_SPARK_LOG_LEVEL", "ERROR"))
    return session
