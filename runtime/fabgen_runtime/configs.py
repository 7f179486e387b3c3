"""Rows in, validated configs out: :func:`parse_configs`, :func:`parse_config`, :func:`as_configs`.

Each raw row (``config_resource_export``) becomes an :class:`~fabgen_runtime.config.ExportConfig`
(the model, :mod:`fabgen_runtime.config`) and is checked by every rule
(:mod:`fabgen_runtime.config_validation`); all problems of all rows are raised together as one
:class:`~fabgen_runtime.errors.ConfigError`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from .config import COLUMNS, REQUIRED, ExportConfig, coerce_field, unknown_field_message
from .config_validation import rules_despite, validate
from .errors import ConfigError, ConfigIssue


def _where(row: Mapping[str, Any], index: int | None) -> str:
    group, name = row.get("export_group_name"), row.get("export_name")
    if group and name:
        return f"{group}/{name}"
    return f"row {index + 1}" if index is not None else "row"


def _build(row: Mapping[str, Any], where: str) -> tuple[ExportConfig | None, list[ConfigIssue]]:
    unknown = [ConfigIssue(where, str(key), unknown_field_message(key)) for key in row if key not in COLUMNS]
    issues: list[ConfigIssue] = []
    values: dict[str, Any] = {}
    for name in COLUMNS:
        raw = row.get(name)
        if isinstance(raw, str) and raw.strip() == "" and name not in ("target_path",):
            raw = None
        try:
            values[name] = coerce_field(name, raw)
        except ValueError as exc:
            issues.append(ConfigIssue(where, name, str(exc)))
            values[name] = None
    for name in REQUIRED:
        if values.get(name) is None and not any(i.field == name for i in issues):
            issues.append(ConfigIssue(where, name, "is required"))
    if issues:
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
