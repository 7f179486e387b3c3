"""``spark-defaults.conf`` for the Fabric stand-in: the session a Fabric notebook finds already configured.

On Fabric, ``SparkSession.builder.getOrCreate()`` returns a Delta-enabled session that reads OneLake's
``abfss://`` URIs. Here the same call reads ``$SPARK_CONF_DIR/spark-defaults.conf``: local Spark with
the Delta jars, and Hadoop's ``ViewFileSystemOverloadScheme`` bound to the ``abfss`` scheme with one
mount table per OneLake authority (``<workspace>@onelake.dfs.fabric.microsoft.com``) whose fallback
link is ``<onelake root>/<workspace>``, on the local file system with OneLake's rename (:mod:`.rename_fs`:
refused when the destination exists, however many renames race). So the runtime's abfss URIs pass
through Hadoop and Delta unchanged and land in the local OneLake folder (tests only; nothing about
Fabric's storage is proven). Fabric's documented defaults that change behaviour come from the local
engine's own list (``fabgen_runtime.engines.spark.local_spark.fabric_defaults``: deletion vectors on
new Delta tables on Runtime 2.0), so a notebook here finds what it finds on Fabric (none with
``FABGEN_LOCAL_DEFAULTS=oss``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from fabgen_runtime.engines.spark.local_spark import fabric_defaults
from fabric_standin import rename_fs

ONELAKE_HOST = "onelake.dfs.fabric.microsoft.com"


def write_spark_defaults(conf_dir: Path, onelake_root: Path, workspaces: list[str], jars: list[Path]) -> Path:
    """Write ``conf_dir/spark-defaults.conf``; return the folder (use it as ``SPARK_CONF_DIR``)."""
    settings = {
        "spark.master": "local[2]",
        "spark.driver.memory": "1g",
        "spark.jars": ",".join(str(jar) for jar in jars),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": "4",
        "spark.pyspark.python": sys.executable,
        "spark.hadoop.fs.abfss.impl": "org.apache.hadoop.fs.viewfs.ViewFileSystemOverloadScheme",
        # the local file system, with OneLake's rename: refused when the destination exists (rename_fs)
        "spark.hadoop.fs.viewfs.overload.scheme.target.abfss.impl": rename_fs.CLASS,
        "spark.driver.extraClassPath": str(rename_fs.rename_fs_jar()),
    }
    settings.update(fabric_defaults())
    for workspace in workspaces:
        key = f"spark.hadoop.fs.viewfs.mounttable.{workspace}@{ONELAKE_HOST}.linkFallback"
        settings[key] = (onelake_root / workspace).resolve().as_uri()
    conf_dir.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{key} {value}\n" for key, value in settings.items())
    (conf_dir / "spark-defaults.conf").write_text(text, encoding="utf-8")
    return conf_dir
