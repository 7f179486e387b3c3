"""Lakehouse source: Delta tables read directly through their path, pinned to one version.

Table mode reads ``Tables/<schema>/<table>`` of the source lakehouse at its current version
(recorded as ``source_version``, e.g. ``dbo.orders@12``) and applies the plan's Spark SQL
(columns, auto-filters). Query mode runs the query as Spark SQL in which ``schema.table``,
``lakehouse.schema.table`` (another lakehouse of the source workspace) and a bare ``table``
(after FROM/JOIN, in ``source_schema``, default ``dbo``) resolve to those Delta tables, each pinned
at the version it is read at, through temporary views unique to the run. The same code runs on
Fabric (abfss paths) and locally (the local OneLake folder): no metastore, no SQL endpoint.
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
from datetime import datetime
from typing import TYPE_CHECKING

from ... import platform as platform_mod
from ... import query_guard
from ...config import DEFAULT_LAKEHOUSE_SCHEMA
from ...errors import QueryRefusedError, SourceReadError
from ...sources import names, period_from_rows
from . import query_plan
from .sources import SourceRead, register
from .spark_errors import spark_errors, spark_message

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from ...config import ExportConfig
    from ...plan import ExportPlan
    from ...platform import Platform

log = logging.getLogger(__name__)
_counter = itertools.count(1)
_counter_lock = threading.Lock()


def _view_name(prefix: str) -> str:
    with _counter_lock:
        return f"fabgen_{prefix}_{next(_counter)}"


def table_version(spark: SparkSession, path: str) -> int:
    """The current version of the Delta table at ``path``, from its log on the driver (no Spark job).

    Delta's ``DeltaLog.update()`` lists the log and loads that version's snapshot, which the read
    pinned to it then reuses; when this Delta build's ``update`` cannot be called that way, the
    table's history is read instead (one small Spark job). -1: no Delta table there."""
    from py4j.protocol import Py4JError

    try:
        version = _logged_version(spark, path)
    except (Py4JError, AttributeError) as exc:
        log.debug("DeltaLog.update() unavailable (%s): reading the history of %s", exc, path)
        version = _history_version(spark, path)
    return max(version, -1)


def _logged_version(spark: SparkSession, path: str) -> int:
    """``DeltaLog.forTable(spark, path).update(<its defaults>).version()``, whatever ``update``'s
    arity in this Delta build (Scala default arguments, reached through their ``update$default$N``)."""
    from .jvm import gateway

    jvm = gateway(spark)
    delta_log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)
    defaults = [getattr(delta_log, f"update$default${n}")() for n in range(1, _update_arity(spark) + 1)]
    return int(delta_log.update(*defaults).version())


@functools.lru_cache(maxsize=4)
def _update_arity(spark: SparkSession) -> int:
    """How many (defaulted) parameters ``DeltaLog.update`` takes in this session's Delta (looked up once)."""
    from .jvm import load_class

    delta_log = load_class(spark, "org.apache.spark.sql.delta.DeltaLog")
    if delta_log is None:
        raise AttributeError("no DeltaLog class in this JVM")
    methods = delta_log.getMethods()
    counts = [m.getParameterCount() for m in methods if m.getName() == "update"]
    if len(counts) != 1:
        raise AttributeError(f"DeltaLog.update has {len(counts)} overloads")
    return int(counts[0])


def _history_version(spark: SparkSession, path: str) -> int:
    from delta.tables import DeltaTable

    latest = DeltaTable.forPath(spark, path).history(1).select("version").head()
    if latest is None:
        raise SourceReadError(f"the Delta table at {path} has no history")
    return int(latest[0])


def pinned_table(spark: SparkSession, path: str, label: str, export: str) -> tuple[DataFrame, int]:
    """The Delta table at ``path`` as of its current version, and that version."""
    try:
        version = table_version(spark, path)
        if version < 0:
            raise SourceReadError(f"cannot read lakehouse table {label}: no Delta table at {path}", export)
        return spark.read.format("delta").option("versionAsOf", version).load(path), version
    except spark_errors() as exc:
        message = spark_message(exc)
        if (
            "DELTA_MISSING_DELTA_TABLE" in message
            or "is not a Delta table" in message
            or "PATH_NOT_FOUND" in message
        ):
            message = f"no Delta table at {path}"
        raise SourceReadError(f"cannot read lakehouse table {label}: {message}", export) from exc


class QueryResolver:
    """Resolves the table names of one Spark SQL query to pinned temporary views."""

    def __init__(self, spark: SparkSession, platform: Platform, config: ExportConfig, prefix: str):
        self.spark = spark
        self.platform = platform
        self.config = config
        self.prefix = prefix.replace("-", "")[:12]
        self.views: list[str] = []
        self.versions: list[str] = []

    def _path(self, parts: tuple[str, ...]) -> str:
        cfg = self.config
        if len(parts) == 3:
            lakehouse, schema, table = parts
        elif len(parts) == 2:
            lakehouse, (schema, table) = cfg.source_datastore, parts
        else:
            lakehouse, schema, table = cfg.source_datastore, cfg.schema or DEFAULT_LAKEHOUSE_SCHEMA, parts[0]
        return platform_mod.table_uri(self.platform, cfg.source_workspace, lakehouse, schema, table)

    def _exists(self, path: str) -> bool:
        from .fs import HadoopFS

        try:
            return HadoopFS(self.spark).exists(f"{path.rstrip('/')}/_delta_log")
        except OSError:
            return False

    def resolve(self, query: str) -> str:
        """The query with every lakehouse table replaced by a pinned temporary view."""
        export = self.config.key
        # Refuse commands, paths and other lakehouses' tables before anything runs (query_guard).
        relations, ctes = query_plan.spark_relations(self.spark, query, export)
        query_guard.check_relations(relations, self.config.source_datastore, export)
        mapping: dict[tuple[str, ...], str] = {}
        for parts in relations:
            if len(parts) == 1 and parts[0].lower() in ctes:
                continue
            if len(parts) == 1 and not self._exists(self._path(parts)):
                lakehouse = self.config.source_datastore
                raise QueryRefusedError(f"no table {parts[0]!r} in lakehouse {lakehouse}", export)
            path = self._path(parts)
            label = ".".join(parts)
            df, version = pinned_table(self.spark, path, label, export)
            view = _view_name(self.prefix)
            df.createOrReplaceTempView(view)
            self.views.append(view)
            self.versions.append(f"{label}@{version}")
            mapping[tuple(p.lower() for p in parts)] = view
        return names.rewrite(query, mapping)

    def drop(self) -> None:
        """Drop the temporary views."""
        while self.views:
            self.spark.catalog.dropTempView(self.views.pop())


class LakehouseSource:
    """``source_type: lakehouse``."""

    def read(self, spark: SparkSession, plan: ExportPlan, platform: Platform) -> SourceRead:
        source = plan.source
        config = plan.config
        export = config.key
        resolver = QueryResolver(spark, platform, config, plan.export_run_id)
        try:
            if source.mode == "table":
                path = platform_mod.table_uri(
                    platform, config.source_workspace, config.source_datastore, source.schema, source.table
                )
                label = f"{source.schema}.{source.table}"
                df, version = pinned_table(spark, path, label, export)
                view = _view_name(resolver.prefix)
                df.createOrReplaceTempView(view)
                resolver.views.append(view)
                resolver.versions.append(f"{label}@{version}")
                query = source.query_from(f"`{view}`")
            else:
                query = resolver.resolve(source.query)
            try:
                result = spark.sql(query)
            except spark_errors() as exc:
                raise SourceReadError(f"the source query failed: {spark_message(exc)}", export) from exc
        except BaseException:
            resolver.drop()
            raise
        log.debug("%s: reading %s", export, ", ".join(resolver.versions))
        return SourceRead(result, ",".join(resolver.versions) or None, query, [resolver.drop])

    def period(
        self, spark: SparkSession, config: ExportConfig, query: str, platform: Platform
    ) -> tuple[datetime, datetime]:
        resolver = QueryResolver(spark, platform, config, "period")
        try:
            resolved = resolver.resolve(query)
            try:
                rows = [row.asDict() for row in spark.sql(resolved).limit(2).collect()]
            except spark_errors() as exc:
                raise SourceReadError(f"period_date_query failed: {spark_message(exc)}", config.key) from exc
        finally:
            resolver.drop()
        return period_from_rows(rows, config.key)


register("lakehouse", LakehouseSource())
