"""The export row model (`config_resource_export`), its defaults and its validation.

:func:`parse_configs` turns raw rows (dicts from YAML, JSON or the Delta config table) into
:class:`ExportConfig` objects, or raises one :class:`~fabgen_runtime.errors.ConfigError` that lists
every problem in every row, each naming the export (``group/name``) and the field.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from . import formats
from .errors import ConfigError, ConfigIssue

EXTRACT_TYPES = ("full", "incremental", "period")
# source types, file formats and compressions are the names registered in sources/, formats/ and
# compression/ (their registries are the one list; validation asks them)

DEFAULT_FILENAME_PATTERN = "{export_name}_{timestamp}.{ext}"
DEFAULT_LAKEHOUSE_SCHEMA = "dbo"

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
ITEM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# Characters OneLake (ADLS Gen2) and Windows consumers refuse in a path segment.
FORBIDDEN_PATH_CHARS = re.compile(r'[\x00-\x1f"*:<>?|\\]')


@dataclass(frozen=True)
class ExportConfig:
    """One row of ``config_resource_export``: one export definition. See the spec for each field."""

    export_group_name: str
    export_name: str
    is_active: bool
    execution_group: int
    source_type: str
    source_workspace: str
    source_datastore: str
    target_workspace: str
    target_lakehouse: str
    target_path: str
    file_format: str
    source_schema: str | None = None
    source_table: str | None = None
    source_query: str | None = None
    source_columns: tuple[str, ...] | None = None
    target_filename_pattern: str | None = None
    compression: str | None = None
    compression_level: int | None = None
    file_format_options: Mapping[str, str] = field(default_factory=dict)
    max_rows_per_file: int | None = None
    trigger_file_pattern: str | None = None
    extract_type: str = "full"
    incremental_column: str | None = None
    incremental_initial_watermark: str | None = None
    period_filter_column: str | None = None
    period_date_query: str | None = None
    compressed_filename_pattern: str | None = None
    on_schema_change: str | None = None  # fail | warn | allow (see fabgen_runtime.schema_drift)
    description: str | None = None

    @property
    def key(self) -> str:
        """``group/name``: how errors and logs name this export."""
        return f"{self.export_group_name}/{self.export_name}"

    @property
    def schema(self) -> str | None:
        """The source schema, with the lakehouse default applied."""
        if self.source_schema:
            return self.source_schema
        return DEFAULT_LAKEHOUSE_SCHEMA if self.source_type == "lakehouse" else None

    @property
    def filename_pattern(self) -> str:
        """The filename pattern, with the default applied."""
        return self.target_filename_pattern or DEFAULT_FILENAME_PATTERN

    @property
    def codec(self) -> str:
        """The compression, with defaults applied (snappy for parquet, none otherwise)."""
        if self.compression:
            return self.compression
        return "snappy" if self.file_format == "parquet" else "none"

    @property
    def extension(self) -> str:
        """The data file extension (without dot) for the format."""
        return formats.get(self.file_format, self.key).extension

    def to_row(self) -> dict[str, Any]:
        """The row as plain Python values (lists and dicts), keys in column order, Nones kept."""
        row = dataclasses.asdict(self)
        row["source_columns"] = list(self.source_columns) if self.source_columns is not None else None
        row["file_format_options"] = dict(self.file_format_options)
        return {name: row[name] for name in COLUMNS}


COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(ExportConfig))
REQUIRED: tuple[str, ...] = tuple(
    f.name
    for f in dataclasses.fields(ExportConfig)
    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
)
_TYPES: dict[str, str] = {
    "is_active": "bool",
    "execution_group": "int",
    "compression_level": "int",
    "max_rows_per_file": "int",
    "source_columns": "list",
    "file_format_options": "map",
}


def _where(row: Mapping[str, Any], index: int | None) -> str:
    group, name = row.get("export_group_name"), row.get("export_name")
    if group and name:
        return f"{group}/{name}"
    return f"row {index + 1}" if index is not None else "row"


def _coerce(name: str, value: Any) -> Any:
    """Coerce one raw value to its column's type; raise ``ValueError`` with a message."""
    kind = _TYPES.get(name, "str")
    if value is None:
        return None
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError(f"must be true or false, got {value!r}")
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError(f"must be a whole number, got {value!r}")
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"must be a whole number, got {value!r}") from None
    if kind == "list":
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ValueError(f"must be a list of column names, got {value!r}")
        if not all(isinstance(item, str) for item in value):
            raise ValueError("must be a list of strings")
        return tuple(value)
    if kind == "map":
        if not isinstance(value, Mapping):
            raise ValueError(f"must be a mapping of option to value, got {value!r}")
        out = {}
        for key, item in value.items():
            if isinstance(item, (dict, list, tuple)) or item is None:
                raise ValueError(f"option {key!r} must be a string, got {item!r}")
            out[str(key)] = str(item).lower() if isinstance(item, bool) else str(item)
        return out
    if not isinstance(value, str):
        if name == "incremental_initial_watermark" and not isinstance(value, bool):
            # YAML reads unquoted 2024-01-01 as a date and 2024-01-01 00:00:00 as a datetime.
            if isinstance(value, datetime):
                return value.isoformat(sep="T")
            if isinstance(value, date):
                return value.isoformat()
            if isinstance(value, (int, float)):
                return str(value)
        raise ValueError(f"must be a string, got {value!r}")
    return value


def _unknown_message(key: Any) -> str:
    close = difflib.get_close_matches(str(key), COLUMNS, n=1)
    return f"unknown field (did you mean {close[0]}?)" if close else "unknown field"


def _build(row: Mapping[str, Any], where: str) -> tuple[ExportConfig | None, list[ConfigIssue]]:
    unknown = [ConfigIssue(where, str(key), _unknown_message(key)) for key in row if key not in COLUMNS]
    issues: list[ConfigIssue] = []
    values: dict[str, Any] = {}
    for name in COLUMNS:
        raw = row.get(name)
        if isinstance(raw, str) and raw.strip() == "" and name not in ("target_path",):
            raw = None
        try:
            values[name] = _coerce(name, raw)
        except ValueError as exc:
            issues.append(ConfigIssue(where, name, str(exc)))
            values[name] = None
    for name in REQUIRED:
        if values.get(name) is None and not any(i.field == name for i in issues):
            issues.append(ConfigIssue(where, name, "is required"))
    if issues:
        from .config_validation import rules_despite

        return None, unknown + issues + rules_despite(values, issues, where)
    if values["file_format_options"] is None:
        values["file_format_options"] = {}
    if values["extract_type"] is None:
        values["extract_type"] = "full"
    return ExportConfig(**values), unknown


def parse_configs(
    rows: Iterable[Mapping[str, Any]], sources: Iterable[str] | None = None
) -> list[ExportConfig]:
    """Validate raw rows and return them as configs, or raise ``ConfigError`` with every issue.

    ``sources`` optionally names where each row came from (file paths), used in messages for
    rows that cannot name themselves.
    """
    from .config_validation import validate

    rows = list(rows)
    origins = list(sources) if sources is not None else [None] * len(rows)
    configs: list[ExportConfig] = []
    issues: list[ConfigIssue] = []
    seen: dict[tuple[str, str], str] = {}
    numbers: dict[str | None, int] = {}  # rows are numbered from 1 within each source
    for row, origin in zip(rows, origins, strict=True):
        index = numbers[origin] = numbers.get(origin, -1) + 1
        row_issues: list[ConfigIssue] = []
        if not isinstance(row, Mapping):
            message = f"an export row must be a mapping, got {row!r}"
            row_issues.append(ConfigIssue(f"row {index + 1}", None, message))
            cfg = None
        else:
            cfg, row_issues = _build(row, _where(row, index))
        if cfg is not None:
            row_issues += validate(cfg)
            pk = (cfg.export_group_name, cfg.export_name)
            if pk in seen:
                message = f"duplicate export (also defined in {seen[pk]})"
                row_issues.append(ConfigIssue(cfg.key, "export_name", message))
            else:
                seen[pk] = origin or f"row {index + 1}"
            configs.append(cfg)
        issues += [dataclasses.replace(i, source=origin) for i in row_issues] if origin else row_issues
    if issues:
        raise ConfigError(issues)
    return configs


def parse_config(row: Mapping[str, Any]) -> ExportConfig:
    """Validate one raw row (see :func:`parse_configs`)."""
    return parse_configs([row])[0]


def as_configs(configs: Iterable[ExportConfig | Mapping[str, Any]]) -> list[ExportConfig]:
    """Configs as :class:`ExportConfig` (raw rows are validated)."""
    items = list(configs)
    rows = [c for c in items if not isinstance(c, ExportConfig)]
    parsed = iter(parse_configs(rows)) if rows else iter(())
    return [c if isinstance(c, ExportConfig) else next(parsed) for c in items]
