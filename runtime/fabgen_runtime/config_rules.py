"""Rules on an export row beyond its structure, checked by ``fabgen validate`` without any data.

:func:`check` is called by :func:`fabgen_runtime.configs.parse_configs` for every row, after the
rules of ``config.py``: query mode is read-only (:mod:`fabgen_runtime.query_guard`), writer
options are ones the writer accepts (:mod:`fabgen_runtime.writer_options`), and the output names
of a sample run stay distinct (trigger vs data, one name per part) and fit OneLake's limits.
:func:`warnings` lists what is allowed but risky.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from . import placeholders, query_guard, writer_options
from .errors import ConfigError, ConfigIssue

if TYPE_CHECKING:
    from .config import ExportConfig
    from .plan import OutputPlan

Issue = Callable[[str, str], None]
SCHEMA_POLICIES = ("fail", "warn", "allow")  # on_schema_change (fabgen_runtime.schema_drift)

# OneLake stores files as ADLS Gen2 blobs: a blob name (here "<lakehouse>.Lakehouse/Files/<path>")
# is at most 1,024 characters and, with the hierarchical namespace, each path segment at most 255
# (https://learn.microsoft.com/rest/api/storageservices/naming-and-referencing-containers--blobs--and-metadata).
MAX_SEGMENT = 255
MAX_PATH = 1024
SAMPLE_RUN_ID = "0123abcd-4567-89ef-0123-456789abcdef"  # as long as a real export run id
# Part numbers rendered to find names that collide: the first parts and each change of digit count.
SAMPLE_PARTS = (*range(1, 13), 99, 100, 101, 999, 1000, 1001, 9999, 10000, 10001)


def check(cfg: ExportConfig, issue: Issue) -> None:
    """Report every problem of ``cfg`` found by these rules through ``issue(field, message)``."""
    _check_queries(cfg, issue)
    if cfg.on_schema_change is not None and cfg.on_schema_change not in SCHEMA_POLICIES:
        issue(
            "on_schema_change",
            f"must be one of {', '.join(SCHEMA_POLICIES)}, got {cfg.on_schema_change!r}",
        )
    for key, problem in writer_options.problems(cfg.file_format, cfg.file_format_options):
        issue("file_format_options", f"{key} {problem}")
    _check_names(cfg, issue)


def warnings(cfg: ExportConfig) -> list[ConfigIssue]:
    """Allowed but risky settings of ``cfg`` (``fabgen validate`` prints them; they do not fail)."""
    found = []
    if cfg.extract_type == "incremental":
        fields = {"target_filename_pattern": cfg.filename_pattern}
        if cfg.compressed_filename_pattern:
            fields["compressed_filename_pattern"] = cfg.compressed_filename_pattern
        for name, pattern in fields.items():
            if not placeholders.names(pattern) & {"run_id", "timestamp"}:
                found.append(
                    ConfigIssue(
                        cfg.key,
                        name,
                        f"{pattern!r} has neither {{run_id}} nor {{timestamp}}: a second incremental run "
                        "for the same date would need the same name, which would replace rows a consumer "
                        "may not have read (the run refuses to)",
                    )
                )
    return found


def _check_queries(cfg: ExportConfig, issue: Issue) -> None:
    # A lakehouse query reads tables of its source_datastore only: the rule the run applies to
    # Spark's parsed plan (query_guard.relation_problem), here on the text.
    lakehouse = cfg.source_type == "lakehouse"
    dialect, datastore = ("spark", cfg.source_datastore) if lakehouse else ("warehouse", None)
    for name in ("source_query", "period_date_query"):
        query = getattr(cfg, name)
        if query is None:
            continue
        for problem in query_guard.static_problems(query, dialect, lakehouse=datastore):
            issue(name, problem)


def _sample_output(cfg: ExportConfig, issue: Issue) -> OutputPlan | None:
    """The output names of a sample run, or None when the patterns themselves are broken."""
    from . import compression, formats
    from .config import EXTRACT_TYPES, sample_values
    from .plan import build_output

    if (
        not formats.known(cfg.file_format)
        or not compression.known(cfg.codec)
        or cfg.extract_type not in EXTRACT_TYPES
    ):
        return None  # the structure rules report these

    values = {**sample_values(cfg), "run_id": SAMPLE_RUN_ID[:8]}
    values.pop("part", None)
    try:
        return build_output(cfg, values, SAMPLE_RUN_ID)
    except ConfigError as exc:  # the pattern rules report the rest; the trigger clash is only seen here
        for found in exc.issues:
            if found.field == "trigger_file_pattern" and "also the name of a data file" in found.message:
                issue(found.field, f"renders like {found.message}")
        return None


def _check_names(cfg: ExportConfig, issue: Issue) -> None:
    output = _sample_output(cfg, issue)
    if output is None:
        return
    names: dict[str, list[str]] = {"target_filename_pattern": [output.filename]}
    if "part" in placeholders.names(cfg.filename_pattern) or cfg.max_rows_per_file:
        parts = {n: output.part_filename(n) for n in SAMPLE_PARTS}
        clash = _first_clash(parts)
        if clash:
            (a, b), name = clash, parts[clash[0]]
            issue(
                "target_filename_pattern",
                f"parts {a} and {b} are both named {name!r}: split files need distinct names "
                "(use {part} or a spec such as {part:04d})",
            )
        names["target_filename_pattern"] += list(parts.values())
    if output.compressed_filename:
        names["compressed_filename_pattern"] = [output.compressed_filename]
    if output.trigger_filename:
        data = {name for group in names.values() for name in group}
        if output.trigger_filename in data:
            message = f"renders like {output.trigger_filename!r}, which is also the name of a data file"
            issue("trigger_file_pattern", message)
        names["trigger_file_pattern"] = [output.trigger_filename]
    _check_lengths(cfg, output, names, issue)


def _first_clash(parts: dict[int, str]) -> tuple[int, int] | None:
    seen: dict[str, int] = {}
    for number, name in parts.items():
        if name in seen:
            return seen[name], number
        seen[name] = number
    return None


def _check_lengths(cfg: ExportConfig, output: OutputPlan, names: dict[str, list[str]], issue: Issue) -> None:
    for segment in [s for s in output.directory.split("/") if len(s) > MAX_SEGMENT][:1]:
        issue("target_path", f"has a folder name of {len(segment)} characters (OneLake allows {MAX_SEGMENT})")
    folder = f"{cfg.target_lakehouse}.Lakehouse/Files/{output.directory}".rstrip("/")
    for field_name, rendered in names.items():
        longest = max(rendered, key=len)
        if len(longest) > MAX_SEGMENT:
            issue(
                field_name,
                f"renders a file name of {len(longest)} characters ({longest[:40]!r}...); "
                f"OneLake allows {MAX_SEGMENT}",
            )
        elif len(f"{folder}/{longest}") > MAX_PATH:
            issue(
                field_name,
                f"renders a path of {len(folder) + 1 + len(longest)} characters; OneLake allows {MAX_PATH}",
            )
