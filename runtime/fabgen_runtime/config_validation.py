"""The rules of one export row (``config_resource_export``) that need no data.

:func:`validate` returns every problem of a parsed row; :func:`rules_despite` checks the rules of
a row whose fields could not all be parsed, with stand-ins, so one ``fabgen validate`` lists
everything; :mod:`fabgen_runtime.config_rules` adds the rules that need a sample plan. The row
model and parsing are :mod:`fabgen_runtime.config`.
"""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Callable
from typing import Any

from . import compression, config_rules, formats, placeholders
from .config import (
    EXTRACT_TYPES,
    IDENTIFIER,
    ITEM_NAME,
    NAME,
    ExportConfig,
    check_path_text,
    post_processed,
    sample_values,
)
from .errors import ConfigIssue

# Placeholders each pattern field may use.
_PATH_PLACEHOLDERS = placeholders.ALL_PLACEHOLDERS - {"part", "ext"}
_FILE_PLACEHOLDERS = placeholders.ALL_PLACEHOLDERS
_QUERY_PLACEHOLDERS = frozenset(
    {"run_date", "process_date", "period_start_date", "period_end_date", "watermark"}
)
_PERIOD_QUERY_PLACEHOLDERS = frozenset({"run_date", "process_date"})
# fabgen's own folders directly under Files/ (_fabgen_staging, _fabgen_manifests): never a target.
RESERVED_PREFIX = "_fabgen_"


# A row with type errors or missing fields still has its rules checked, with stand-ins for the
# broken fields, so one `fabgen validate` lists every problem. Rules about fields a broken field
# decides are left out (they would be guesses); without the fields in _RULES_NEED, none are checked.
_RULES_NEED = ("source_type", "file_format", "extract_type")
_STAND_INS: dict[str, Any] = {
    "export_group_name": "x",
    "export_name": "x",
    "is_active": False,
    "execution_group": 1,
    "source_workspace": "x",
    "source_datastore": "x",
    "target_workspace": "x",
    "target_lakehouse": "x",
    "target_path": "",
    "file_format_options": {},
}
_DECIDES: dict[str, tuple[str, ...]] = {
    "source_table": ("source_columns", "source_query", "period_filter_column"),
    "source_query": ("source_table", "period_filter_column"),
    "compression": ("compression_level", "compressed_filename_pattern"),
}


def rules_despite(values: dict[str, Any], issues: list[ConfigIssue], where: str) -> list[ConfigIssue]:
    broken = {issue.field for issue in issues}
    if broken.intersection(_RULES_NEED):
        return []
    stand: dict[str, Any] = {
        name: _STAND_INS.get(name) if name in broken else value for name, value in values.items()
    }
    for name in ("export_group_name", "export_name", "file_format_options"):
        stand[name] = stand[name] or _STAND_INS[name]
    stand["extract_type"] = stand["extract_type"] or "full"
    skip = set(broken)
    for field_name in broken:
        skip.update(_DECIDES.get(str(field_name), ()))
    cfg = ExportConfig(**stand)
    return [dataclasses.replace(i, where=where) for i in validate(cfg) if i.field not in skip]


def _check_patterns(cfg: ExportConfig, issue: Callable[[str, str], None]) -> None:
    needs = {"period_start_date": "period", "period_end_date": "period", "watermark": "incremental"}
    fields = {
        "target_path": (cfg.target_path, _PATH_PLACEHOLDERS),
        "target_filename_pattern": (cfg.target_filename_pattern, _FILE_PLACEHOLDERS),
        "compressed_filename_pattern": (cfg.compressed_filename_pattern, _FILE_PLACEHOLDERS - {"part"}),
        "trigger_file_pattern": (cfg.trigger_file_pattern, _FILE_PLACEHOLDERS - {"part"}),
        "source_query": (cfg.source_query, _QUERY_PLACEHOLDERS),
        "period_date_query": (cfg.period_date_query, _PERIOD_QUERY_PLACEHOLDERS),
    }
    for name, (pattern, allowed) in fields.items():
        if pattern is None:
            continue
        for problem in placeholders.check_pattern(pattern, allowed):
            issue(name, problem)
        for used in sorted(placeholders.names(pattern) & allowed):
            if used in needs and cfg.extract_type != needs[used]:
                issue(name, f"placeholder '{{{used}}}' needs extract_type {needs[used]}")
        if name not in ("source_query", "period_date_query"):
            _check_path_pattern(cfg, name, pattern, issue)


def _check_path_pattern(
    cfg: ExportConfig, name: str, pattern: str, issue: Callable[[str, str], None]
) -> None:
    """Check a path pattern's literal text, then what it renders to for a sample run."""
    allow_slash = name == "target_path"
    literal = _blank_placeholders(pattern)
    problems = check_path_text(literal, allow_slash=allow_slash)
    for problem in problems:
        issue(name, problem)
    if problems or placeholders.check_pattern(pattern):
        return
    sample = placeholders.render(pattern, sample_values(cfg))
    for problem in check_path_text(sample, allow_slash=allow_slash):
        issue(name, f"renders like {sample!r}, which {problem}")
    at_files_root = allow_slash or not cfg.target_path.strip("/")
    first = sample.replace("\\", "/").lstrip("/").split("/")[0]
    if at_files_root and first.startswith(RESERVED_PREFIX):
        issue(
            name,
            f"renders like {sample!r}: Files/{RESERVED_PREFIX}* folders are fabgen's own "
            "(_fabgen_staging, _fabgen_manifests); choose another folder",
        )


def _blank_placeholders(pattern: str) -> str:
    """``pattern`` with every placeholder replaced by a neutral ``x`` (literal braces kept)."""
    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError:
        return pattern
    return "".join(literal + ("x" if name is not None else "") for literal, name, _spec, _conv in parsed)


def validate(cfg: ExportConfig) -> list[ConfigIssue]:  # a flat list of rules reads best
    found: list[ConfigIssue] = []

    def issue(name: str, message: str) -> None:
        found.append(ConfigIssue(cfg.key, name, message))

    for name in ("export_group_name", "export_name"):
        if not NAME.match(getattr(cfg, name)):
            issue(name, "use letters, digits, '_', '-' and '.' only")
    if cfg.execution_group < 1:
        issue("execution_group", "must be 1 or more")
    from . import sources

    if cfg.source_type not in sources.source_types():
        issue("source_type", f"must be one of {', '.join(sources.source_types())}, got {cfg.source_type!r}")
    if not formats.known(cfg.file_format):
        issue("file_format", f"must be one of {', '.join(formats.names())}, got {cfg.file_format!r}")
    if cfg.extract_type not in EXTRACT_TYPES:
        issue("extract_type", f"must be one of {', '.join(EXTRACT_TYPES)}, got {cfg.extract_type!r}")
    for name in ("source_datastore", "target_lakehouse"):
        if not ITEM_NAME.match(getattr(cfg, name)):
            issue(name, "must be a Fabric item name: a letter, then letters, digits or '_'")

    # Source: table xor query.
    if cfg.source_table and cfg.source_query:
        issue("source_query", "source_table and source_query are mutually exclusive; set one")
    elif not cfg.source_table and not cfg.source_query:
        issue("source_table", "set source_table or source_query")
    if cfg.source_columns is not None:
        if not cfg.source_table:
            issue("source_columns", "only applies with source_table")
        if not cfg.source_columns:
            issue("source_columns", "must not be empty (omit it to export every column)")
        if len(set(c.lower() for c in cfg.source_columns)) != len(cfg.source_columns):
            issue("source_columns", "lists a column twice")
    if cfg.source_type == "warehouse" and not cfg.source_schema:
        issue("source_schema", "is required for warehouse sources")
    identifiers: dict[str, list[str | None]] = {
        "source_schema": [cfg.source_schema],
        "source_table": [cfg.source_table],
        "source_columns": list(cfg.source_columns or ()),
        "incremental_column": [cfg.incremental_column],
        "period_filter_column": [cfg.period_filter_column],
    }
    for name, values in identifiers.items():
        for value in values:
            if value is not None and not IDENTIFIER.match(value):
                issue(name, f"{value!r} is not a plain identifier (letters, digits and '_')")

    # Extract types.
    if cfg.extract_type == "incremental" and not cfg.incremental_column:
        issue("incremental_column", "is required for incremental extracts")
    if cfg.extract_type == "period":
        if not cfg.period_date_query:
            issue("period_date_query", "is required for period extracts")
        if cfg.source_table and not cfg.period_filter_column:
            issue("period_filter_column", "is required for period extracts from source_table")
    if cfg.extract_type != "incremental":
        for name in ("incremental_column", "incremental_initial_watermark"):
            if getattr(cfg, name) is not None:
                issue(name, "only applies to incremental extracts")
    if cfg.extract_type != "period":
        for name in ("period_filter_column", "period_date_query"):
            if getattr(cfg, name) is not None:
                issue(name, "only applies to period extracts")
    if cfg.period_filter_column and cfg.source_query:
        issue("period_filter_column", "only applies with source_table (filter in source_query yourself)")

    # Compression.
    _validate_compression(cfg, issue)
    if cfg.max_rows_per_file is not None and cfg.max_rows_per_file < 1:
        issue("max_rows_per_file", "must be 1 or more")
    if cfg.compressed_filename_pattern and not post_processed(cfg):
        issue(
            "compressed_filename_pattern",
            f"does not apply to {cfg.file_format} with compression {cfg.codec}",
        )
    _check_patterns(cfg, issue)
    config_rules.check(cfg, issue)
    return found


def _validate_compression(cfg: ExportConfig, issue: Callable[[str, str], None]) -> None:
    if not compression.known(cfg.codec):
        issue("compression", f"must be one of {', '.join(compression.names())}, got {cfg.compression!r}")
        return
    codec = compression.get(cfg.codec)
    if formats.known(cfg.file_format) and not codec.applies_to(formats.get(cfg.file_format)):
        usable = [name for name in formats.names() if codec.applies_to(formats.get(name))]
        issue(
            "compression",
            f"{cfg.codec} does not apply to {cfg.file_format} (use it with {', '.join(usable)})",
        )
    if cfg.compression_level is None:
        return
    levels = codec.levels
    if cfg.compression is None:
        issue("compression_level", "needs compression to be set")
    elif levels is None:
        issue("compression_level", f"{cfg.codec} takes no level")
    elif cfg.compression_level not in levels:
        issue("compression_level", f"must be {levels.start}-{levels.stop - 1} for {cfg.codec}")
