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
          DEV_WORKSPACE/wh_sales: {name: wh_sales_prod}

Rules (applied to every row, and to the config lakehouse):

- a workspace becomes its ``name`` (or, without a name, its ``id``: the GUID form OneLake needs for
  workspace names with spaces); unmapped names stay as they are;
- a lakehouse or warehouse (keyed ``<config workspace>/<config item>``) becomes its ``name``;
- ids go into the notebook metadata (default lakehouse, its workspace, known lakehouses).

The mapped rows are validated again, so an environment can never produce a notebook whose rows the
runtime would reject.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fabgen_runtime.config import ExportConfig, parse_configs
from fabgen_runtime.errors import ConfigError, ConfigIssue

from .items import placeholder_lakehouse_id
from .notebook import ZERO_GUID, LakehouseDependency
from .project import Environment, ItemIds, ProjectSettings


@dataclass(frozen=True)
class EnvironmentMapping:
    """How one environment renames things (the identity mapping when no environment is chosen)."""

    name: str | None = None
    environment: Environment = field(default_factory=Environment)

    def workspace(self, workspace: str) -> str:
        """The environment's workspace for the config's ``workspace``."""
        ids = self.environment.workspaces.get(workspace)
        return (ids.name or ids.id or workspace) if ids else workspace

    def workspace_id(self, workspace: str) -> str:
        """The environment's workspace id (the all-zero GUID, which fabric-cicd fills in, when unknown)."""
        ids = self.environment.workspaces.get(workspace)
        return (ids.id if ids and ids.id else None) or ZERO_GUID

    def _item(self, table: Mapping[str, ItemIds], workspace: str, item: str) -> ItemIds | None:
        return table.get(f"{workspace}/{item}")

    def lakehouse(self, workspace: str, lakehouse: str) -> str:
        """The environment's lakehouse name for the config's ``workspace/lakehouse``."""
        ids = self._item(self.environment.lakehouses, workspace, lakehouse)
        return (ids.name if ids and ids.name else None) or lakehouse

    def lakehouse_id(self, workspace: str, lakehouse: str) -> str:
        """The lakehouse id; a stable stand-in (see docs/render.md) when the environment has none."""
        ids = self._item(self.environment.lakehouses, workspace, lakehouse)
        if ids and ids.id:
            return ids.id
        return placeholder_lakehouse_id(self.workspace(workspace), self.lakehouse(workspace, lakehouse))

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
    ) -> LakehouseDependency:
        """The notebook's lakehouses: the config lakehouse as default, plus those with a known id."""
        ref = settings.config_lakehouse
        default = self.lakehouse_id(ref.workspace, ref.lakehouse)
        known: list[str] = []
        for config in configs:
            pairs = [(config.target_workspace, config.target_lakehouse)]
            if config.source_type == "lakehouse":
                pairs.append((config.source_workspace, config.source_datastore))
            for workspace, lakehouse in pairs:
                ids = self._item(self.environment.lakehouses, workspace, lakehouse)
                if ids and ids.id and ids.id not in known:
                    known.append(ids.id)
        return LakehouseDependency(
            default_lakehouse=default,
            default_lakehouse_name=self.lakehouse(ref.workspace, ref.lakehouse),
            default_lakehouse_workspace_id=self.workspace_id(ref.workspace),
            known_lakehouses=tuple(sorted(known)),
        )


def environment_mapping(settings: ProjectSettings, name: str | None) -> EnvironmentMapping:
    """The mapping of environment ``name`` (identity for ``None``); unknown names are a config error."""
    if name is None:
        return EnvironmentMapping()
    if name not in settings.environments:
        known = ", ".join(sorted(settings.environments)) or "none defined in fabgen.yaml"
        message = f"no environment {name!r} (known: {known})"
        raise ConfigError(ConfigIssue("fabgen.yaml", "environments", message))
    return EnvironmentMapping(name, settings.environments[name])
