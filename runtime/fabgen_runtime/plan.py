"""``ExportPlan``: everything one export run needs, resolved before any data is touched.

Building a plan takes a validated :class:`~fabgen_runtime.config.ExportConfig`, a :class:`RunContext`
(run date, process date, timezone, ids), the last watermark and the period dates (both looked up
beforehand), and touches no data. ``fabgen plan`` prints plans, the orchestrator executes them,
tests assert on them. Placeholders are resolved, SQL is built and quoted, and every output path
is checked to stay inside the target lakehouse's ``Files/`` while the plan is built.
"""

from __future__ import annotations

import posixpath
import string
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import compression, formats, placeholders
from .config import ExportConfig, check_path_text, post_processed
from .errors import ConfigError, ConfigIssue, PathError

STAGING_FOLDER = "_fabgen_staging"


def parse_run_date(value: str | date | datetime | None, timezone: str, today: date | None = None) -> datetime:
    """The logical run date as a naive datetime at midnight.

    ``None`` or ``""`` means ``today`` (default: today in ``timezone``). A time of day is dropped;
    a timezone-aware value (``2025-12-12T14:00:00Z``) is first converted into ``timezone``.
    """
    if isinstance(value, str):
        value = value.strip()
    if value is None or value == "":
        day = today or datetime.now(zone(timezone)).date()
        return datetime(day.year, day.month, day.day)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            message = f"{value!r} is not an ISO date (YYYY-MM-DD)"
            raise ConfigError(ConfigIssue("run", "run_date", message)) from None
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(zone(timezone))
    return datetime(value.year, value.month, value.day)


def zone(timezone: str) -> ZoneInfo:
    """The ``ZoneInfo`` for an IANA name, or a ``ConfigError`` naming it."""
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(ConfigIssue("run", "timezone", f"unknown timezone {timezone!r}")) from None


@dataclass(frozen=True)
class RunContext:
    """The run-wide values placeholders resolve from. ``process_date`` is fixed once per run."""

    run_date: datetime
    process_date: datetime
    timezone: str
    execution_id: str

    @classmethod
    def create(
        cls,
        run_date: str | date | datetime | None = None,
        timezone: str = "UTC",
        execution_id: str | None = None,
        now: datetime | None = None,
    ) -> RunContext:
        """A context for a run starting ``now`` (default: the current time) in ``timezone``.

        ``process_date`` is ``now`` converted into ``timezone`` (a naive ``now`` is taken as UTC);
        ``run_date`` defaults to the date of ``process_date``, so both agree around midnight.
        """
        tz = zone(timezone)
        instant = now or datetime.now(tz)
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=UTC)
        moment = instant.astimezone(tz).replace(tzinfo=None, microsecond=0)
        return cls(
            run_date=parse_run_date(run_date, timezone, today=moment.date()),
            process_date=moment,
            timezone=timezone,
            execution_id=execution_id or str(uuid.uuid4()),
        )


@dataclass(frozen=True)
class OutputPlan:
    """Where and how the files of one export are written. Paths are relative to ``Files/``."""

    workspace: str
    lakehouse: str
    directory: str  # resolved target_path, "" for the root of Files/
    file_format: str
    extension: str  # "csv", "parquet" or "json"
    writer_options: dict[str, str]  # the user's file_format_options (formats/ adds its defaults)
    compression: str  # codec with defaults applied: none, gzip, zip, zipdeflate, brotli, zstd, snappy, lz4
    compression_level: int | None
    max_rows_per_file: int | None
    filename: str  # the data file's name when the export is not split
    part_pattern: str  # filename pattern for split parts; render with part_filename()
    part_values: dict[str, Any] = field(repr=False, default_factory=dict)
    compressed_filename: str | None = None  # archive / compressed file name (post-process codecs)
    trigger_filename: str | None = None
    staging_directory: str = ""  # unique to the export run, under Files/

    @property
    def post_process(self) -> bool:
        """True when compression is applied after writing (csv/json archives and streams)."""
        return compression.get(self.compression).post_process(formats.get(self.file_format))

    def part_filename(self, part: int) -> str:
        """Name of split part ``part`` (from 1)."""
        name = placeholders.render(self.part_pattern, {**self.part_values, "part": part})
        _check_file_name(name, "target_filename_pattern")
        return name

    def path(self, name: str) -> str:
        """``directory/name`` relative to ``Files/``."""
        return posixpath.join(self.directory, name) if self.directory else name


@dataclass(frozen=True)
class ExportPlan:
    """One export run, fully resolved. ``source`` is filled by :mod:`fabgen_runtime.sql`."""

    config: ExportConfig
    context: RunContext
    export_run_id: str
    watermark: str | None  # last stored watermark (or the initial one), None on a first full read
    period_start: datetime | None
    period_end: datetime | None
    output: OutputPlan
    source: Any = None  # a fabgen_runtime.sql.SourcePlan

    @property
    def run_id(self) -> str:
        """First 8 characters of the export run id (the ``{run_id}`` placeholder)."""
        return self.export_run_id[:8]

    def values(self) -> dict[str, Any]:
        """Placeholder values for this run (``part`` excluded)."""
        return placeholder_values(
            self.config, self.context, self.export_run_id, self.watermark, self.period_start, self.period_end
        )


def placeholder_values(
    config: ExportConfig,
    context: RunContext,
    export_run_id: str,
    watermark: str | None,
    period_start: datetime | None,
    period_end: datetime | None,
) -> dict[str, Any]:
    """The values every ``{placeholder}`` of one export run resolves to."""
    return {
        "run_date": context.run_date,
        "process_date": context.process_date,
        "timestamp": context.process_date,
        "period_start_date": period_start,
        "period_end_date": period_end,
        "export_name": config.export_name,
        "run_id": export_run_id[:8],
        "watermark": watermark if watermark is not None else "",
        "ext": config.extension,
    }


def _check_file_name(name: str, field_name: str, export: str = "") -> None:
    problems = check_path_text(name, allow_slash=False)
    if not name or name in (".", ".."):
        problems.append("resolves to an empty file name")
    if problems:
        raise PathError([ConfigIssue(export or "export", field_name, f"{name!r} {p}") for p in problems])


def _resolve(config: ExportConfig, field_name: str, pattern: str, values: dict[str, Any]) -> str:
    try:
        return placeholders.render(pattern, values)
    except ValueError as exc:
        raise ConfigError(ConfigIssue(config.key, field_name, str(exc))) from None


def _split_name(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    return (stem, f".{ext}") if dot and stem else (name, "")


def _pattern_segments(pattern: str) -> list[tuple[str, str | None]]:
    """``pattern`` as (literal text, placeholder source or None) pairs; literals unescaped."""
    segments: list[tuple[str, str | None]] = []
    for literal, name, spec, _conversion in string.Formatter().parse(pattern):
        source = None if name is None else (f"{{{name}:{spec}}}" if spec else f"{{{name}}}")
        segments.append((literal, source))
    return segments


def _join_segments(segments: list[tuple[str, str | None]]) -> str:
    escape = str.maketrans({"{": "{{", "}": "}}"})
    return "".join(literal.translate(escape) + (source or "") for literal, source in segments)


def _split_pattern(pattern: str) -> tuple[str, str]:
    """Split a filename pattern before the extension: the last '.' in its literal text.

    A '.' inside a placeholder's spec (``{run_date:%Y.%m}``) is not an extension separator;
    an extension that is itself a placeholder (``.{ext}``) is kept whole.
    """
    segments = _pattern_segments(pattern)
    for index in range(len(segments) - 1, -1, -1):
        literal, source = segments[index]
        stem, dot, ext = literal.rpartition(".")
        if not dot:
            continue
        head = [*segments[:index], (stem, None)]
        tail = [(dot + ext, source), *segments[index + 1 :]]
        if not _join_segments(head):
            break  # a leading dot (".hidden") is not an extension
        return _join_segments(head), _join_segments(tail)
    return pattern, ""


def _without_part(pattern: str) -> str:
    """``pattern`` without its ``{part}`` placeholders (and one separator before each)."""
    segments: list[tuple[str, str | None]] = []
    for literal, source in _pattern_segments(pattern):
        if source is not None and (source == "{part}" or source.startswith("{part:")):
            segments.append((literal[:-1] if literal and literal[-1] in "_.-" else literal, None))
        else:
            segments.append((literal, source))
    return _join_segments(segments)


def build_output(config: ExportConfig, values: dict[str, Any], export_run_id: str) -> OutputPlan:
    """Resolve and check every output name of one export run."""
    directory = _resolve(config, "target_path", config.target_path, values).strip().strip("/")
    problems = check_path_text(directory, allow_slash=True)
    if problems:
        raise PathError([ConfigIssue(config.key, "target_path", f"{directory!r} {p}") for p in problems])
    directory = posixpath.normpath(directory) if directory else ""
    directory = "" if directory == "." else directory

    pattern = config.filename_pattern
    has_part = "part" in placeholders.names(pattern)
    filename = _resolve(config, "target_filename_pattern", pattern, {**values, "part": 1})
    _check_file_name(filename, "target_filename_pattern", config.key)
    if has_part:
        part_pattern = pattern
    else:
        stem, ext = _split_pattern(pattern)
        part_pattern = f"{stem}_part{{part:04d}}{ext}"

    codec = compression.get(config.codec, config.key)
    compressed = None
    if post_processed(config):
        if config.compressed_filename_pattern:
            compressed_pattern = config.compressed_filename_pattern
            compressed = _resolve(config, "compressed_filename_pattern", compressed_pattern, values)
        else:
            without_part = _without_part(pattern)
            stem, _ext = _split_name(_resolve(config, "target_filename_pattern", without_part, values))
            if codec.archive:
                compressed = f"{stem}.{codec.archive}"
            elif config.max_rows_per_file:
                compressed = f"{stem}.tar{codec.suffix}"
            else:
                compressed = f"{filename}{codec.suffix}"
        _check_file_name(compressed, "compressed_filename_pattern", config.key)

    trigger = None
    if config.trigger_file_pattern:
        trigger = _resolve(config, "trigger_file_pattern", config.trigger_file_pattern, values)
        _check_file_name(trigger, "trigger_file_pattern", config.key)
        if trigger in (filename, compressed):
            message = f"{trigger!r} is also the name of a data file; the trigger would overwrite it"
            raise PathError(ConfigIssue(config.key, "trigger_file_pattern", message))

    return OutputPlan(
        workspace=config.target_workspace,
        lakehouse=config.target_lakehouse,
        directory=directory,
        file_format=config.file_format,
        extension=config.extension,
        writer_options=dict(config.file_format_options),
        compression=codec.name,
        compression_level=config.compression_level,
        max_rows_per_file=config.max_rows_per_file,
        filename=filename,
        part_pattern=part_pattern,
        part_values=dict(values),
        compressed_filename=compressed,
        trigger_filename=trigger,
        staging_directory=f"{STAGING_FOLDER}/{export_run_id}",
    )


def build_plan(
    config: ExportConfig,
    context: RunContext,
    watermark: str | None = None,
    period_start: datetime | None = None,
    period_end: datetime | None = None,
    export_run_id: str | None = None,
    dialect: str | None = None,
    watermark_type: str | None = None,
) -> ExportPlan:
    """Build the plan of one export run (pure: reads no data).

    ``watermark`` is the last stored watermark (callers fall back to
    ``incremental_initial_watermark``); ``period_start``/``period_end`` come from running
    ``period_date_query`` beforehand. ``dialect`` (spark, tsql, postgres; default from the source
    type and platform) and ``watermark_type`` (the incremental column's Spark type, when known)
    shape the source SQL, built by :func:`fabgen_runtime.sql.build_source`.
    """
    from .sql import build_source

    export_run_id = export_run_id or str(uuid.uuid4())
    _check_file_name(export_run_id, "export_run_id", config.key)
    values = placeholder_values(config, context, export_run_id, watermark, period_start, period_end)
    output = build_output(config, values, export_run_id)
    return ExportPlan(
        config=config,
        context=context,
        export_run_id=export_run_id,
        watermark=watermark,
        period_start=period_start,
        period_end=period_end,
        output=output,
        source=build_source(config, values, watermark, period_start, period_end, dialect, watermark_type),
    )
