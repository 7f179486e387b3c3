"""``ConfigExportManager``: export configs kept in the Delta table ``config_resource_export``.

The table lives in the config lakehouse (``Tables/dbo/config_resource_export``), one row per
export, primary key (``export_group_name``, ``export_name``), columns exactly as the spec lists
them. When it is missing and ``config_export_resource`` exists (the name the original framework's
code uses), that table is used instead. ``fabgen config push`` fills it from a project with
:meth:`ConfigExportManager.push_configs` (MERGE: insert new rows, update changed ones; rows of
exports no longer in the project are left alone); a table made by an earlier fabgen gets the
columns it lacks first.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ... import platform as platform_mod
from ...commits import EXPORT_KEY_MATCH, retry_conflicts
from ...config import COLUMNS, ExportConfig
from ...configs import as_configs, parse_configs
from ...errors import ConfigError, ConfigIssue, StateError
from ...state_model import SCHEMA, LakehouseLocation
from .schema import struct
from .spark_errors import spark_errors, spark_message
from .state_tables import TableSetup, has_delta_log

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

CONFIG_TABLE = "config_resource_export"
CONFIG_TABLE_ALIASES = ("config_export_resource",)
_TYPES = {
    "is_active": "boolean",
    "execution_group": "int",
    "compression_level": "int",
    "max_rows_per_file": "bigint",
    "source_columns": "array<string>",
    "file_format_options": "map<string,string>",
}
CONFIG_COLUMNS: dict[str, str] = {name: _TYPES.get(name, "string") for name in COLUMNS}


class ConfigExportManager:
    """Reads and writes export configs in the config lakehouse's ``config_resource_export`` table."""

    def __init__(
        self,
        config_lakehouse: Any,
        spark: SparkSession | None = None,
        platform: platform_mod.Platform | None = None,
        table: str = CONFIG_TABLE,
    ):
        self.location = LakehouseLocation.of(config_lakehouse)
        self.platform = platform or platform_mod.current()
        self.spark = spark or self.platform.spark()
        self.table = table

    def _path(self, table: str) -> str:
        loc = self.location
        return platform_mod.table_uri(self.platform, loc.workspace, loc.lakehouse, SCHEMA, table)

    def _exists(self, path: str) -> bool:
        return has_delta_log(self.spark, path)

    @property
    def path(self) -> str:
        """URI of the config table in use (the alias when only it exists)."""
        primary = self._path(self.table)
        if self.table == CONFIG_TABLE and not self._exists(primary):
            for alias in CONFIG_TABLE_ALIASES:
                if self._exists(self._path(alias)):
                    return self._path(alias)
        return primary

    def read(self) -> DataFrame:
        """The whole config table as a DataFrame."""
        path = self.path
        if not self._exists(path):
            raise StateError(
                f"no config table at {path}: push the project's configs first (fabgen config push)"
            )
        return self.spark.read.format("delta").load(path)

    def get_configs(
        self,
        export_group_name: str,
        export_name: str | None = None,
        execution_group: int | None = None,
        only_active: bool = True,
    ) -> list[ExportConfig]:
        """The validated configs of one export group (optionally one export / execution group)."""
        from pyspark.sql import functions as F

        df = self.read()
        cond = F.col("export_group_name") == F.lit(export_group_name)
        if export_name is not None:
            cond = cond & (F.col("export_name") == F.lit(export_name))
        if execution_group is not None:
            cond = cond & (F.col("execution_group") == F.lit(int(execution_group)))
        if only_active:
            cond = cond & F.col("is_active")
        known = [c for c in df.columns if c in CONFIG_COLUMNS]
        ignored = sorted(set(df.columns) - set(known))
        if ignored:
            log.debug("config table columns ignored: %s", ", ".join(ignored))
        rows = [row.asDict(recursive=True) for row in df.where(cond).select(*known).collect()]
        rows.sort(key=lambda r: (r.get("execution_group") or 0, r.get("export_name") or ""))
        if not rows:
            what = f"export {export_name!r} of group" if export_name else "group"
            raise ConfigError(
                ConfigIssue(self.path, "export_group_name", f"no active {what} {export_group_name!r}")
            )
        return parse_configs(rows, [f"{self.table} row"] * len(rows))

    def push_configs(self, configs: Iterable[ExportConfig | Mapping[str, Any]]) -> int:
        """Upsert configs by primary key (MERGE); create the table when missing. Returns rows pushed."""
        valid = as_configs(configs)
        if not valid:
            return 0
        path = self.path
        schema = struct(CONFIG_COLUMNS)

        def merge() -> None:
            df = self.spark.createDataFrame(
                [tuple(c.to_row()[n] for n in CONFIG_COLUMNS) for c in valid], schema
            )
            upsert_by_export(self.spark, path, df)

        # creates the table, or gives one of an earlier fabgen the newer columns (on_schema_change)
        TableSetup(self.spark, self.spark, wait_seconds=60.0).ensure(path, CONFIG_COLUMNS, create=True)
        try:
            retry_conflicts(merge, f"pushing configs to {path}")
        except spark_errors() as exc:
            raise StateError(f"writing {path} failed: {spark_message(exc)}") from exc
        log.info("pushed %d config row(s) to %s", len(valid), path)
        return len(valid)


def upsert_by_export(spark: Any, path: str, rows: Any) -> None:
    """MERGE ``rows`` (a DataFrame) into the Delta table at ``path`` by (export_group_name, export_name).

    One current row per export: matched rows are replaced, new ones inserted. Callers wrap it in
    :func:`retry_conflicts` (and a :func:`table_lock`) as they need.
    """
    from delta.tables import DeltaTable

    (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(rows.alias("s"), EXPORT_KEY_MATCH)
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )
