"""A fabgen project: ``fabgen.yaml`` (typed, unknown keys rejected) and the export rows it points at.

Config files are YAML or JSON. Each holds either a list of export rows, or a mapping with
``exports:`` (the rows) and optional ``defaults:`` (keys merged into every row of that file, the
row winning). Row keys are exactly the columns of ``config_resource_export``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import yaml
from fabgen_runtime import writer_options
from fabgen_runtime.config import ExportConfig
from fabgen_runtime.configs import parse_configs
from fabgen_runtime.errors import ConfigError, ConfigIssue
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .query_check import query_issues
from .strict_load import load_json, load_yaml

PROJECT_FILE = "fabgen.yaml"
Engine = Literal["spark", "python"]
CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LakehouseRef(_Model):
    """A lakehouse by workspace and name."""

    workspace: str
    lakehouse: str


class LocalWarehouse(_Model):
    """The local PostgreSQL server standing in for every Fabric Warehouse."""

    host: str = "127.0.0.1"
    port: int = 54329
    user: str = "fabgen"
    password: str = "fabgen"


class LocalSettings(_Model):
    """Local Fabric: where OneLake lives and how to reach the warehouse stand-in."""

    onelake_root: str = ".onelake"
    warehouse: LocalWarehouse = LocalWarehouse()


class RunDefaults(_Model):
    """Defaults for ``fabgen run`` and the rendered notebooks' parameters."""

    timezone: str = "UTC"
    max_concurrency: int = Field(default=4, ge=1)
    engine: Engine = "spark"  # the engine of every group that ``groups:`` does not set

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        problem = writer_options.timezone_problem(value)
        if problem:
            raise ValueError(f"{value!r} {problem}")
        return value


class ItemIds(_Model):
    """Fabric ids of one item (or workspace) in an environment."""

    id: str | None = None
    name: str | None = None
    sql_endpoint: str | None = None  # warehouses: the SQL connection host (JDBC/ODBC reads, docs/deploy.md)


class LakehouseLayout(_Model):
    """How a lakehouse keeps its tables (``lakehouses:`` in ``fabgen.yaml``)."""

    schemas: bool = True  # True: Tables/<schema>/<table>; False: Tables/<table> (created without schemas)


class Environment(_Model):
    """One deployment environment (dev, test, prod): names in the config mapped to that environment."""

    workspace_id: str | None = None  # the workspace the items are deployed to
    workspaces: dict[str, ItemIds] = Field(default_factory=dict)  # config workspace name -> ids/name
    lakehouses: dict[str, ItemIds] = Field(default_factory=dict)  # "workspace/lakehouse" -> ids/name
    warehouses: dict[str, ItemIds] = Field(default_factory=dict)  # "workspace/warehouse" -> ids/name


class RuntimeInstall(_Model):
    """How Fabric gets the runtime wheel."""

    install: Literal["environment", "inline"] = "environment"
    wheel_path: str = "Files/fabgen/wheels"  # the config lakehouse's folder of the wheel (inline install)
    spark_runtime: Literal["1.3", "2.0"] = "2.0"
    # Warehouse control queries: auto (Fabric: pyodbc when a warehouse's sql_endpoint is known), spark, odbc
    warehouse_control: Literal["auto", "spark", "odbc"] = "auto"
    # Keys merged over the Environment item's Setting/Sparkcompute.yml defaults (docs/deploy.md).
    spark_compute: dict[str, Any] = Field(default_factory=dict)

    @field_validator("wheel_path")
    @classmethod
    def _under_files(cls, value: str) -> str:
        parts = value.strip("/").split("/")
        if parts[0] != "Files" or "\\" in value or any(p in ("", ".", "..") for p in parts[1:]):
            example = "Files/fabgen/wheels"
            raise ValueError(f"{value!r} must be a folder under the lakehouse's Files/ (e.g. {example})")
        return value


class GroupSettings(_Model):
    """Settings of one export group (``groups:`` in ``fabgen.yaml``, keyed by ``export_group_name``)."""

    engine: Engine | None = None  # None: ``defaults.engine``
    # python groups: vCores of the notebook (%%configure, a pipeline parameter); None: Fabric's default
    vcores: Literal[4, 8, 16, 32, 64] | None = None


class ProjectSettings(_Model):
    """The contents of ``fabgen.yaml``."""

    name: str
    configs: list[str] = Field(default_factory=lambda: ["exports"])
    output: str = "generated"
    config_lakehouse: LakehouseRef
    defaults: RunDefaults = RunDefaults()
    local: LocalSettings = LocalSettings()
    runtime: RuntimeInstall = RuntimeInstall()
    environments: dict[str, Environment] = Field(default_factory=dict)
    lakehouses: dict[str, LakehouseLayout] = Field(default_factory=dict)  # "workspace/lakehouse" -> layout
    groups: dict[str, GroupSettings] = Field(default_factory=dict)  # export_group_name -> settings

    def engine(self, group: str) -> Engine:
        """The engine that runs ``group``: its ``groups:`` entry, else ``defaults.engine``."""
        chosen = self.groups.get(group)
        if chosen is not None and chosen.engine is not None:
            return chosen.engine
        return self.defaults.engine

    def vcores(self, group: str) -> int | None:
        """The vCores of a python group's notebook (``groups.<group>.vcores``), None for Fabric's default."""
        chosen = self.groups.get(group)
        return chosen.vcores if chosen is not None and self.engine(group) == "python" else None

    def inline_install(self, group: str) -> bool:
        """True when ``group``'s notebooks ``%pip install`` the runtime wheel themselves.

        With ``runtime.install: inline``, and always for a python group: a Fabric Python notebook
        cannot attach an Environment item.
        """
        return self.runtime.install == "inline" or self.engine(group) == "python"

    def default_lakehouse_install(self, group: str) -> bool:
        """True when ``group``'s notebooks ``%pip install`` the wheel from the default lakehouse's mount.

        Spark notebooks with ``runtime.install: inline``; a Python notebook copies the wheel from its
        OneLake URI instead (no default lakehouse needed).
        """
        return self.runtime.install == "inline" and self.engine(group) == "spark"


@dataclass(frozen=True)
class Project:
    """A loaded project: its folder, its settings and its validated export configs."""

    root: Path
    settings: ProjectSettings
    configs: list[ExportConfig]

    @property
    def output_dir(self) -> Path:
        """Where ``fabgen render`` writes (``output`` in ``fabgen.yaml``)."""
        return self.root / self.settings.output

    def groups(self) -> list[str]:
        """Export group names, sorted."""
        return sorted({c.export_group_name for c in self.configs})

    def engine(self, group: str) -> Engine:
        """The engine (``spark`` or ``python``) of ``group``: ``groups:``, else ``defaults.engine``."""
        return self.settings.engine(group)

    def select(
        self, group: str | None = None, export: str | None = None, active_only: bool = True
    ) -> list[ExportConfig]:
        """Configs of ``group`` (all when None), optionally one export; raise when none match."""
        chosen = [
            c
            for c in self.configs
            if (group is None or c.export_group_name == group)
            and (export is None or c.export_name == export)
            and (c.is_active or not active_only)
        ]
        if not chosen:
            what = f"export {export!r} in group {group!r}" if export else f"group {group!r}"
            known = ", ".join(self.groups()) or "none"
            raise ConfigError(ConfigIssue("project", "--group", f"no active {what} (groups: {known})"))
        return chosen

    @contextmanager
    def local_environment(self) -> Iterator[None]:
        """Point the runtime's local platform at this project's OneLake folder and warehouse."""
        local = self.settings.local
        env = {
            "FABGEN_ONELAKE_ROOT": (
                os.environ.get("FABGEN_ONELAKE_ROOT") or str(self.root / local.onelake_root)
            ),
            "FABGEN_PG_HOST": os.environ.get("FABGEN_PG_HOST") or local.warehouse.host,
            "FABGEN_PG_PORT": os.environ.get("FABGEN_PG_PORT") or str(local.warehouse.port),
            "FABGEN_PG_USER": os.environ.get("FABGEN_PG_USER") or local.warehouse.user,
            "FABGEN_PG_PASSWORD": os.environ.get("FABGEN_PG_PASSWORD") or local.warehouse.password,
        }
        saved = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def export_count(configs: Sequence[ExportConfig]) -> str:
    """``"12 export(s), 11 active"``: how ``validate`` and ``run`` count exports."""
    active = sum(1 for c in configs if c.is_active)
    return f"{len(configs)} export(s), {active} active"


def find_root(start: Path) -> Path:
    """The folder holding ``fabgen.yaml``: ``start`` or its nearest parent."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    raise ConfigError(ConfigIssue(str(start), None, f"no {PROJECT_FILE} here or in any parent folder"))


def _read_structured(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    try:
        data, duplicates = load_json(text) if path.suffix == ".json" else load_yaml(text)
    except json.JSONDecodeError as exc:
        message = f"cannot parse JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
        raise ConfigError(ConfigIssue(str(path), None, message)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
        raise ConfigError(ConfigIssue(str(path), None, f"cannot parse YAML{where}: {problem}")) from None
    if duplicates:
        raise ConfigError([ConfigIssue(str(path), d.key, d.message()) for d in duplicates])
    return data


def load_settings(root: Path) -> ProjectSettings:
    """Read and validate ``fabgen.yaml`` in ``root``."""
    path = root / PROJECT_FILE
    try:
        data = _read_structured(path) or {}
    except ConfigError as exc:
        named = [replace(i, where=PROJECT_FILE) if i.where == str(path) else i for i in exc.issues]
        raise ConfigError(named) from None
    try:
        return ProjectSettings.model_validate(data)
    except ValidationError as exc:
        issues = [
            ConfigIssue(
                PROJECT_FILE,
                ".".join(str(p) for p in err["loc"]) or None,
                "unknown key" if err["type"] == "extra_forbidden" else err["msg"],
            )
            for err in exc.errors()
        ]
        raise ConfigError(issues) from None


def config_files(root: Path, settings: ProjectSettings) -> list[Path]:
    """Every config file the project names, sorted, folders searched recursively."""
    files: list[Path] = []
    for entry in settings.configs:
        path = root / entry
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in CONFIG_SUFFIXES and p.is_file())
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError(ConfigIssue(PROJECT_FILE, "configs", f"{entry!r} does not exist"))
    return files


def read_rows(path: Path) -> tuple[list[Any], list[ConfigIssue]]:
    """The export rows of one config file, with its ``defaults`` merged in."""
    data = _read_structured(path)
    if data is None:
        return [], []
    defaults: dict[str, Any] = {}
    if isinstance(data, dict):
        unknown = set(data) - {"exports", "defaults"}
        if unknown:
            keys = ", ".join(sorted(map(str, unknown)))
            return [], [ConfigIssue(str(path), keys, "unknown key (use 'exports' and 'defaults')")]
        defaults = data.get("defaults") or {}
        if not isinstance(defaults, dict):
            return [], [ConfigIssue(str(path), "defaults", "must be a mapping of column to value")]
        data = data.get("exports") or []
    if not isinstance(data, list):
        return [], [ConfigIssue(str(path), None, "must hold a list of export rows (or 'exports:')")]
    return [{**defaults, **row} if isinstance(row, dict) else row for row in data], []


def engine_issues(
    settings: ProjectSettings, configs: Sequence[ExportConfig], origins: Sequence[str] = ()
) -> list[ConfigIssue]:
    """``groups:`` entries no export row uses, the exports their group's engine cannot honour, and
    lakehouse queries sqlglot finds not read-only (:mod:`.query_check`).

    Inactive rows are checked too: activating a row must not make a valid project invalid.
    """
    used = {c.export_group_name for c in configs}
    issues = [
        ConfigIssue(PROJECT_FILE, f"groups.{name}", f"no export row has export_group_name {name!r}")
        for name in sorted(set(settings.groups) - used)
    ]
    issues += [
        ConfigIssue(PROJECT_FILE, f"groups.{name}.vcores", "applies to engine: python groups only")
        for name, group in sorted(settings.groups.items())
        if group.vcores is not None and settings.engine(name) != "python"
    ]
    for index, config in enumerate(configs):
        engine = settings.engine(config.export_group_name)
        origin = origins[index] if index < len(origins) else None
        found = query_issues(config, engine)  # sqlglot: read-only, both engines
        if engine == "python":
            from fabgen_runtime.engines.python.support import check_config

            found += check_config(config)
        issues += [replace(i, source=origin) for i in found]
    return issues


def load_project(start: Path | str = ".") -> Project:
    """Load the project around ``start``; raise one ``ConfigError`` listing every problem in every file."""
    root = find_root(Path(start))
    settings = load_settings(root)
    rows: list[Any] = []
    origins: list[str] = []
    issues: list[ConfigIssue] = []
    for path in config_files(root, settings):
        origin = str(path.relative_to(root))
        try:
            file_rows, file_issues = read_rows(path)
        except ConfigError as exc:  # a file that does not parse: report it, keep checking the others
            file_rows, file_issues = [], exc.issues
        rows += file_rows
        origins += [origin] * len(file_rows)
        issues += [replace(i, where=origin) if i.where == str(path) else i for i in file_issues]
    try:
        configs = parse_configs(rows, origins)
    except ConfigError as exc:
        issues += exc.issues
        configs = []
    else:
        issues += engine_issues(settings, configs, origins)
    if issues:
        raise ConfigError(issues)
    return Project(root=root, settings=settings, configs=configs)
