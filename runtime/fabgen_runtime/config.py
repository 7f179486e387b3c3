"""The export row model (`config_resource_export`), its defaults and its validation.

:func:`parse_configs` turns raw rows (dicts from YAML, JSON or the Delta config table) into
:class:`ExportConfig` objects, or raises one :class:`~fabgen_runtime.errors.ConfigError` that lists
every problem in every row, each naming the export (``group/name``) and the field.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from . import compression, formats

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


def coerce_field(name: str, value: Any) -> Any:
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


def unknown_field_message(key: Any) -> str:
    close = difflib.get_close_matches(str(key), COLUMNS, n=1)
    return f"unknown field (did you mean {close[0]}?)" if close else "unknown field"


def sample_values(cfg: ExportConfig) -> dict[str, Any]:
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


def post_processed(cfg: ExportConfig) -> bool:
    """Whether ``cfg``'s compression is applied after the write (csv/json archives and streams)."""
    if not (formats.known(cfg.file_format) and compression.known(cfg.codec)):
        return False
    return compression.get(cfg.codec).post_process(formats.get(cfg.file_format))
