"""Deployment environments: ``fabgen render --env E`` maps the config's names to environment E's.

``fabgen.yaml``'s ``environments:`` maps, per environment, the workspace, lakehouse and warehouse
names the export rows use (the dev names) to that environment's names and ids::

    environments:
      prod:
        workspace_id: 5f0c...           # where the items are deployed
        workspaces:
          DEV_WORKSPACE: {name: PROD_WORKSPACE, id: 7d1e...}
        lakehouses:
          DEV_WORKSPACE/lh_exports: {name: lh_exports, id: 0b9a...}
        warehouses:
          DEV_WORKSPACE/wh_sales: {name: wh_sales_prod, sql_endpoint: x.datawarehouse.fabric.microsoft.com}

Rules (applied to every row, and to the config lakehouse):

- a workspace, lakehouse or warehouse becomes its ``name`` (unmapped names stay as they are);
- ids are never made up: the ids given go into the notebook's item catalog
  (:mod:`fabgen_runtime.catalog`, which builds OneLake's GUID form when both ids of a path are known)
  and into its metadata (the config lakehouse becomes the default lakehouse only when its id is known);
- ``--env E`` refuses to render, listing every id that is needed and missing
  (:meth:`EnvironmentMapping.missing`): the config lakehouse's for a Spark notebook's inline
  installation (a Python notebook needs none: it reads the wheel at its OneLake URI), a warehouse's
  workspace, both ids for a workspace whose name OneLake cannot carry.

Items of the rendered folder itself (notebooks, the Environment) are referenced by logicalId, and the
deployment workspace by the all-zero GUID, which Fabric Git integration and fabric-cicd both resolve.
The mapped rows are validated again, so an environment can never produce a notebook whose rows the
runtime would reject.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fabgen_runtime.config import ExportConfig
from fabgen_runtime.configs import parse_configs
from fabgen_runtime.errors import ConfigError, ConfigIssue

from .notebook import LakehouseDependency
from .project import Environment, ItemIds, ProjectSettings

_ONELAKE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")  # a workspace name OneLake's name form can carry


@dataclass(frozen=True)
class EnvironmentMapping:
    """How one environment renames things (the identity mapping when no environment is chosen)."""

    name: str | None = None
    environment: Environment = field(default_factory=Environment)

    def workspace(self, workspace: str) -> str:
        """The environment's workspace name for the config's ``workspace``."""
        ids = self.environment.workspaces.get(workspace)
        return (ids.name if ids and ids.name else None) or workspace

    def workspace_id(self, workspace: str) -> str | None:
        """The environment's workspace id, when ``fabgen.yaml`` gives it."""
        ids = self.environment.workspaces.get(workspace)
        return ids.id if ids and ids.id else None

    def _item(self, table: Mapping[str, ItemIds], workspace: str, item: str) -> ItemIds | None:
        return table.get(f"{workspace}/{item}")

    def lakehouse(self, workspace: str, lakehouse: str) -> str:
        """The environment's lakehouse name for the config's ``workspace/lakehouse``."""
        ids = self._item(self.environment.lakehouses, workspace, lakehouse)
        return (ids.name if ids and ids.name else None) or lakehouse

    def lakehouse_id(self, workspace: str, lakehouse: str) -> str | None:
        """The lakehouse id, when ``fabgen.yaml`` gives it."""
        ids = self._item(self.environment.lakehouses, workspace, lakehouse)
        return ids.id if ids and ids.id else None

    def warehouse(self, workspace: str, warehouse: str) -> str:
        """The environment's warehouse name for the config's ``workspace/warehouse``."""
        ids = self._item(self.environment.warehouses, workspace, warehouse)
        return (ids.name if ids and ids.name else None) or warehouse

    def row(self, config: ExportConfig) -> dict[str, Any]:
        """``config`` as a row, its workspaces and datastores renamed for this environment."""
        row = config.to_row()
        if config.source_type == "lakehouse":
            row["source_datastore"] = self.lakehouse(config.source_workspace, config.source_datastore)
        else:
            row["source_datastore"] = self.warehouse(config.source_workspace, config.source_datastore)
        row["source_workspace"] = self.workspace(config.source_workspace)
        row["target_lakehouse"] = self.lakehouse(config.target_workspace, config.target_lakehouse)
        row["target_workspace"] = self.workspace(config.target_workspace)
        return row

    def rows(self, configs: list[ExportConfig]) -> list[dict[str, Any]]:
        """Every config mapped, validated again (``ConfigError`` names the environment)."""
        rows = [self.row(config) for config in configs]
        try:
            parse_configs(rows)
        except ConfigError as exc:
            where = f"environment {self.name!r}"
            issues = [ConfigIssue(f"{where}: {i.where}", i.field, i.message) for i in exc.issues]
            raise ConfigError(issues) from None
        return rows

    def lakehouse_dependency(
        self, settings: ProjectSettings, configs: list[ExportConfig]
    ) -> LakehouseDependency | None:
        """The notebook's default lakehouse: the config lakehouse, when its id (and workspace id) is known.

        The runtime reaches every lakehouse through OneLake paths, so a notebook needs a default
        lakehouse only for a Spark notebook's inline installation (:meth:`missing` demands its id then).
        """
        ref = settings.config_lakehouse
        default = self.lakehouse_id(ref.workspace, ref.lakehouse)
        workspace_id = self.workspace_id(ref.workspace)
        if default is None or workspace_id is None:
            return None
        known = {default}
        for workspace, lakehouse in _lakehouses(configs):
            ident = self.lakehouse_id(workspace, lakehouse)
            if ident:
                known.add(ident)
        return LakehouseDependency(
            default_lakehouse=default,
            default_lakehouse_name=self.lakehouse(ref.workspace, ref.lakehouse),
            default_lakehouse_workspace_id=workspace_id,
            known_lakehouses=tuple(sorted(known)),
        )

    def catalog(self, settings: ProjectSettings, configs: list[ExportConfig]) -> dict[str, Any]:
        """The item catalog the notebook hands to the runtime, keyed by this environment's names."""
        ref = settings.config_lakehouse
        workspaces: dict[str, str] = {}
        lakehouses: dict[str, dict[str, Any]] = {}
        warehouses: dict[str, dict[str, Any]] = {}
        for workspace, lakehouse in [(ref.workspace, ref.lakehouse), *_lakehouses(configs)]:
            facts: dict[str, Any] = {}
            if self.lakehouse_id(workspace, lakehouse):
                facts["id"] = self.lakehouse_id(workspace, lakehouse)
            layout = settings.lakehouses.get(f"{workspace}/{lakehouse}")
            if layout is not None and not layout.schemas:
                facts["schemas"] = False
            if facts:
                lakehouses[f"{self.workspace(workspace)}/{self.lakehouse(workspace, lakehouse)}"] = facts
        for config in configs:
            if config.source_type == "warehouse":
                workspace, warehouse = config.source_workspace, config.source_datastore
                ids = self._item(self.environment.warehouses, workspace, warehouse)
                facts = {"id": ids.id, "sql_endpoint": ids.sql_endpoint} if ids else {}
                facts = {key: value for key, value in facts.items() if value}
                name = self.warehouse(workspace, warehouse)
                if facts:
                    warehouses[f"{self.workspace(config.source_workspace)}/{name}"] = facts
        used = {ref.workspace, *(w for c in configs for w in (c.source_workspace, c.target_workspace))}
        for workspace in sorted(used):
            if self.workspace_id(workspace):
                workspaces[self.workspace(workspace)] = self.workspace_id(workspace) or ""
        catalog: dict[str, Any] = {}
        if settings.runtime.warehouse_control != "auto":
            catalog["warehouse_control"] = settings.runtime.warehouse_control
        sections: dict[str, dict[str, Any]] = {
            "workspaces": workspaces,
            "lakehouses": lakehouses,
            "warehouses": warehouses,
        }
        for key, value in sections.items():
            if value:
                catalog[key] = dict(sorted(value.items()))
        return catalog

    def missing(self, settings: ProjectSettings, configs: list[ExportConfig]) -> list[ConfigIssue]:
        """Every id environment ``name`` must give before its items can run on Fabric (empty: none)."""
        if self.name is None:
            return []
        where = f"environments.{self.name}"
        needs: dict[str, list[str]] = {}

        def need(setting: str, why: str) -> None:
            reasons = needs.setdefault(setting, [])
            if why not in reasons:
                reasons.append(why)

        ref = settings.config_lakehouse
        config_lh = f"{ref.workspace}/{ref.lakehouse}"
        # a Spark notebook's in-line install reads the wheel from the default lakehouse's mount (a Python
        # notebook copies it from its OneLake URI: no default lakehouse, no id needed)
        inline = any(settings.default_lakehouse_install(c.export_group_name) for c in configs)
        if inline or self.lakehouse_id(ref.workspace, ref.lakehouse):
            why = "the notebooks' default lakehouse (the config lakehouse)"
            if self.lakehouse_id(ref.workspace, ref.lakehouse) is None:
                need(
                    f"{where}.lakehouses.{config_lh}.id",
                    why + ", which a Spark notebook's inline installation needs",
                )
            if self.workspace_id(ref.workspace) is None:
                need(f"{where}.workspaces.{ref.workspace}.id", why)
        for workspace, lakehouse in [(ref.workspace, ref.lakehouse), *_lakehouses(configs)]:
            if not _ONELAKE_NAME.match(self.workspace(workspace)):
                name = self.workspace(workspace)
                why = f"OneLake cannot name workspace {name!r}: its GUID form needs both ids"
                if self.workspace_id(workspace) is None:
                    need(f"{where}.workspaces.{workspace}.id", why)
                if self.lakehouse_id(workspace, lakehouse) is None:
                    need(f"{where}.lakehouses.{workspace}/{lakehouse}.id", why)
        readers: dict[tuple[str, str], list[str]] = {}
        for config in configs:
            if config.source_type == "warehouse" and self.workspace_id(config.source_workspace) is None:
                readers.setdefault((config.source_workspace, config.source_datastore), []).append(config.key)
        for (workspace, warehouse), exports in sorted(readers.items()):
            why = f"the workspace of warehouse {warehouse} (read by {', '.join(sorted(exports))})"
            need(f"{where}.workspaces.{workspace}.id", why)
        return [
            ConfigIssue("fabgen.yaml", setting, "missing: " + "; ".join(why))
            for setting, why in sorted(needs.items())
        ]


def _lakehouses(configs: list[ExportConfig]) -> list[tuple[str, str]]:
    """The (workspace, lakehouse) pairs the configs read or write, in order, without repeats."""
    pairs: list[tuple[str, str]] = []
    for config in configs:
        found = [(config.target_workspace, config.target_lakehouse)]
        if config.source_type == "lakehouse":
            found.append((config.source_workspace, config.source_datastore))
        pairs += [pair for pair in found if pair not in pairs]
    return pairs


def environment_mapping(settings: ProjectSettings, name: str | None) -> EnvironmentMapping:
    """The mapping of environment ``name`` (identity for ``None``); unknown names are a config error."""
    if name is None:
        return EnvironmentMapping()
    if name not in settings.environments:
        known = ", ".join(sorted(settings.environments)) or "none defined in fabgen.yaml"
        message = f"no environment {name!r} (known: {known})"
        raise ConfigError(ConfigIssue("fabgen.yaml", "environments", message))
    return EnvironmentMapping(name, settings.environments[name])
