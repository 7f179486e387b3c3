"""What the Python engine can run: :func:`check_config` lists what an export asks that it cannot honour.

``fabgen validate`` (and ``render`` / ``run``, which validate first) call it for every export of a
group whose ``engine`` is ``python``, so a config this engine would refuse is reported before any
file is written, naming the export, the field and the engine. It mirrors the refusals of
:func:`.read.read`, :mod:`.query` and :func:`.warehouse.read` (lakehouse tables and Spark SQL
queries, the latter translated by sqlglot and run by DuckDB: what cannot be translated is refused
here, naming the construct and its position, :func:`.query_text.translation_problems`; warehouse
tables and queries over ODBC) and the option and codec checks :func:`.write.write` makes before it
writes.

What depends on the environment rather than on the config (csv/json brotli at a level pyarrow's
stream cannot write where neither ``brotli`` nor ``brotlicffi`` is installed, a column type the
writer cannot encode; :mod:`.compressors`) is still refused at run time by the writer, before it
writes.

Importing this module imports neither pyspark nor pyarrow; :func:`check_config` imports the
engine's writer modules (pyarrow) to parse the writer options, and where pyarrow is not installed
(a generator-only install) checks the rest and logs that the options were not checked.
"""

from __future__ import annotations

import logging

from ... import compression, formats
from ...config import ExportConfig
from ...errors import CompressionError, ConfigError, ConfigIssue, FabgenError

log = logging.getLogger(__name__)
ENGINE = "python"
SOURCES = ("lakehouse", "warehouse")  # read by .read (delta-rs) and .warehouse (pyodbc)
_SUFFIX = f" (engine: {ENGINE})"


def _issue(config: ExportConfig, field: str, message: str) -> ConfigIssue:
    text = message if message.endswith(_SUFFIX) else f"{message}{_SUFFIX}"
    return ConfigIssue(config.key, field, text)


def _source_issues(config: ExportConfig) -> list[ConfigIssue]:
    issues = []
    if config.source_type not in SOURCES:
        issues.append(
            _issue(
                config,
                "source_type",
                f"reads lakehouse and warehouse tables only, not {config.source_type} sources",
            )
        )
    return issues


def sample_query(config: ExportConfig, field: str) -> str | None:
    """``field``'s query rendered with a made-up run's values (``{watermark}`` as ``0``); None when unset.

    Raises :class:`ConfigError` when the placeholders do not render (the pattern rules report it).
    """
    from ...config import sample_values
    from ...sql import dialect, render_query

    query = getattr(config, field)
    if not query:
        return None
    values = {**sample_values(config), "watermark": "0"}
    return render_query(query, values, dialect("spark"), config.key, field).strip()


def _query_issues(config: ExportConfig) -> list[ConfigIssue]:
    """A lakehouse query DuckDB cannot run as Spark runs it (:func:`.query_text.translation_problems`)."""
    if config.source_type != "lakehouse":
        return []
    from .query_text import translation_problems  # sqlglot: the generator's dependency

    issues = []
    for field in ("source_query", "period_date_query"):
        try:
            query = sample_query(config, field)
        except ConfigError:
            continue  # the placeholder rules report it
        if query is not None:
            issues += [_issue(config, field, problem) for problem in translation_problems(query)]
    return issues


def _message(exc: FabgenError, config: ExportConfig) -> str:
    """The error's text without the ``group/name:`` prefix ExportError adds (the issue names it)."""
    text = str(exc)
    prefix = f"{config.key}: "
    text = text[len(prefix) :] if text.startswith(prefix) else text
    return text.replace(" (python engine)", "")


def _format_issues(config: ExportConfig) -> list[ConfigIssue]:
    """The format, codec, level and writer options, checked as :func:`.write.write` checks them."""
    export = config.key
    try:
        fmt = formats.get(config.file_format, export)
    except FabgenError as exc:
        return [_issue(config, "file_format", _message(exc, config))]
    issues = []
    try:
        codec = compression.get(config.codec, export)
        if fmt.name == "parquet" and codec.parquet_name is None:
            raise CompressionError(f"{codec.name} does not apply to parquet", export)
        if fmt.name != "parquet" and not codec.text:
            raise CompressionError(f"{codec.name} applies to parquet only, not {fmt.name}", export)
        codec.level(config.compression_level, export)
    except FabgenError as exc:
        field = "compression_level" if "compression_level" in str(exc) else "compression"
        issues.append(_issue(config, field, _message(exc, config)))
    try:
        import pyarrow  # noqa: F401 - the writer's parsers below live in modules that import it
    except ImportError:
        # A generator-only install (no `local` extra) lacks pyarrow; the writer still refuses these
        # options before it writes.
        log.warning(
            "%s: file_format_options not checked for the python engine: pyarrow is not installed here",
            export,
        )
        return issues
    try:
        options = fmt.options(dict(config.file_format_options), export)
        if fmt.name == "parquet":
            from .parquet import parquet_options

            parquet_options(options)
        else:
            from .values import text_options

            text_options(fmt.name, options, export)
    except FabgenError as exc:
        issues.append(_issue(config, "file_format_options", _message(exc, config)))
    except ValueError as exc:  # a parquet size that is not a number (writer_options checks it first)
        issues.append(_issue(config, "file_format_options", str(exc)))
    return issues


def check_config(config: ExportConfig) -> list[ConfigIssue]:
    """Every field of ``config`` the Python engine cannot honour (empty when it can run it).

    Each issue names the export (``group/name``), the field, and ends with ``(engine: python)``.
    """
    return [*_source_issues(config), *_query_issues(config), *_format_issues(config)]
