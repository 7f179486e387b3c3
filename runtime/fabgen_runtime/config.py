"""The export row model (`config_resource_export`), its defaults and its validation.

:func:`parse_configs` turns raw rows (dicts from YAML, JSON or the Delta config table) into
:class:`ExportConfig` objects, or raises one :class:`~fabgen_runtime.errors.ConfigError` that lists
every problem in every row, each naming the export (``group/name``) and the field.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from . import compression, config_rules, formats, placeholders
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

# Placeholders each pattern field may use.
_PATH_PLACEHOLDERS = placeholders.ALL_PLACEHOLDERS - {"part", "ext"}
_FILE_PLACEHOLDERS = placeholders.ALL_PLACEHOLDERS
_QUERY_PLACEHOLDERS = frozenset(
    {"run_date", "process_date", "period_start_date", "period_end_date", "watermark"}
)
_PERIOD_QUERY_PLACEHOLDERS = frozenset({"run_date", "process_date"})


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
        return None, unknown + issues + _rules_despite(values, issues, where)
    if values["file_format_options"] is None:
        values["file_format_options"] = {}
    if values["extract_type"] is None:
        values["extract_type"] = "full"
    return ExportConfig(**values), unknown


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


def _rules_despite(values: dict[str, Any], issues: list[ConfigIssue], where: str) -> list[ConfigIssue]:
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
    return [dataclasses.replace(i, where=where) for i in _validate(cfg) if i.field not in skip]


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
    sample = placeholders.render(pattern, _sample_values(cfg))
    for problem in check_path_text(sample, allow_slash=allow_slash):
        issue(name, f"renders like {sample!r}, which {problem}")


def _blank_placeholders(pattern: str) -> str:
    """``pattern`` with every placeholder replaced by a neutral ``x`` (literal braces kept)."""
    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError:
        return pattern
    return "".join(literal + ("x" if name is not None else "") for literal, name, _spec, _conv in parsed)


def _sample_values(cfg: ExportConfig) -> dict[str, Any]:
    """Placeholder values of a made-up run, to see what a pattern's dates render to."""
    moment = datetime(2025, 12, 12, 14, 30, 22)
    return {
        "run_date": datetime(2025, 12, 12),
        "process_date": moment,
        "timestamp": moment,
        "period_start_date": datetime(2025, 12, 1),
        "period_end_date": datetime(2025, 12, 31),
        "export_name": cfg.export_name,
        "run_id": "a1b2c3d4",
        "watermark": "x",
        "part": 1,
        "ext": formats.get(cfg.file_format).extension if formats.known(cfg.file_format) else "x",
    }


def check_path_text(text: str, allow_slash: bool) -> list[str]:
    """Problems with a (resolved or literal) path under ``Files/``: escapes, absolute, bad characters."""
    problems = []
    if text.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", text) or "://" in text:
        problems.append("must be relative to the lakehouse's Files/ folder, not absolute")
    segments = [s for s in text.replace("\\", "/").split("/")]
    if any(s in ("..", ".") for s in segments):
        problems.append("must not contain '.' or '..' segments")
    if not allow_slash and "/" in text:
        problems.append("must be a file name, not a path (put folders in target_path)")
    bad = sorted(set(FORBIDDEN_PATH_CHARS.findall(text)))
    if bad:
        problems.append(f"contains characters OneLake does not allow: {' '.join(repr(c) for c in bad)}")
    return problems


def _validate(cfg: ExportConfig) -> list[ConfigIssue]:  # a flat list of rules reads best
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


def post_processed(cfg: ExportConfig) -> bool:
    """Whether ``cfg``'s compression is applied after the write (csv/json archives and streams)."""
    if not (formats.known(cfg.file_format) and compression.known(cfg.codec)):
        return False
    return compression.get(cfg.codec).post_process(formats.get(cfg.file_format))


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
            row_issues += _validate(cfg)
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
