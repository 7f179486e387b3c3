"""What ``file_format_options`` may hold, per format: the writer options fabgen passes to Spark.

:func:`problems` checks one row's options without Spark (``fabgen validate``), and
:meth:`fabgen_runtime.formats.FileFormat.options` runs the same check again before writing. Keys
compare case-insensitively, as Spark's do. The table is documented in ``docs/config.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Options fabgen sets itself: the user sets them through other config fields.
RESERVED = {
    "compression": "use the compression field",
    "codec": "use the compression field",
    "path": "use target_path and target_filename_pattern",
    "maxrecordsperfile": "use max_rows_per_file",
    "partitionby": "fabgen writes one file (or parts by max_rows_per_file)",
}
# Every encoding that represents all of Unicode without a byte order mark per stream (parts
# written in parallel are joined into one file, so a BOM per part would corrupt it), and that
# Spark 4's csv and json writers accept (Fabric Runtime 2.0 refuses UTF-32LE/UTF-32BE with
# INVALID_PARAMETER_VALUE.CHARSET; its only UTF-32 is plain UTF-32, which writes a BOM).
ENCODINGS = ("UTF-8", "UTF-16LE", "UTF-16BE")
LINE_SEPARATORS = ("\n", "\r\n", "\r")

Check = Callable[[str], str | None]  # value -> problem or None


def _boolean(value: str) -> str | None:
    return None if value.strip().lower() in ("true", "false") else "must be true or false"


def _char(value: str) -> str | None:
    return None if len(value) == 1 else "must be exactly one character"


def _char_or_empty(value: str) -> str | None:
    return None if len(value) <= 1 else "must be one character (or empty)"


def _not_empty(value: str) -> str | None:
    return None if value != "" else "must not be empty"


def _any(_value: str) -> str | None:
    return None


def _encoding(value: str) -> str | None:
    normal = value.strip().upper().replace("_", "-").replace("UTF8", "UTF-8")
    for name in ENCODINGS:
        if normal == name or normal == name.replace("-", ""):
            return None
    return (
        f"must be one of {', '.join(ENCODINGS)} (plain UTF-16/UTF-32 write a byte order mark per "
        "part; Spark 4 (Fabric Runtime 2.0) refuses UTF-32LE/UTF-32BE; other encodings cannot "
        "hold every character)"
    )


def _line_sep(value: str) -> str | None:
    if value in LINE_SEPARATORS:
        return None
    return "must be \\n, \\r\\n or \\r"


def timezone_problem(value: str) -> str | None:
    """Why ``value`` is not an IANA timezone name (None when it is)."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return "is not a known timezone (an IANA name such as Europe/Amsterdam, or UTC)"
    return None


def _positive_int(value: str) -> str | None:
    return None if value.strip().isdigit() and int(value) > 0 else "must be a whole number of 1 or more"


_TEXT_COMMON: dict[str, Check] = {
    "encoding": _encoding,
    "charset": _encoding,
    "lineSep": _line_sep,
    "dateFormat": _not_empty,
    "timestampFormat": _not_empty,
    "timestampNTZFormat": _not_empty,
    "timeZone": timezone_problem,
}
# format -> option (Spark's spelling) -> check of its value.
OPTIONS: dict[str, dict[str, Check]] = {
    "csv": {
        "header": _boolean,
        "sep": _not_empty,
        "delimiter": _not_empty,
        "quote": _char_or_empty,
        "escape": _char,
        "charToEscapeQuoteEscaping": _char,
        "escapeQuotes": _boolean,
        "quoteAll": _boolean,
        "nullValue": _any,
        "emptyValue": _any,
        "ignoreLeadingWhiteSpace": _boolean,
        "ignoreTrailingWhiteSpace": _boolean,
        **_TEXT_COMMON,
    },
    "json": {"ignoreNullFields": _boolean, **_TEXT_COMMON},
    "parquet": {
        "parquet.block.size": _positive_int,
        "parquet.page.size": _positive_int,
        "parquet.enable.dictionary": _boolean,
    },
}


def problems(file_format: str, options: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(option, problem)`` for every option ``file_format``'s writer does not accept as given."""
    table = OPTIONS.get(file_format)
    if table is None:
        return []
    by_lower = {name.lower(): (name, check) for name, check in table.items()}
    found: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for key, value in options.items():
        lower = key.lower()
        if lower in RESERVED:
            found.append((key, f"is set by fabgen ({RESERVED[lower]})"))
            continue
        if lower not in by_lower:
            known = ", ".join(sorted(table, key=str.lower))
            found.append((key, f"is not a {file_format} writer option fabgen supports (known: {known})"))
            continue
        check = by_lower[lower][1]
        if lower in seen:
            found.append((key, f"is given twice (also as {seen[lower]!r})"))
        seen[lower] = key
        problem = check(value)
        if problem:
            found.append((key, f"{value!r} {problem}" if value else problem))
    if {"sep", "delimiter"} <= set(seen):
        found.append(("delimiter", "sep and delimiter are the same option; set one"))
    if {"encoding", "charset"} <= set(seen):
        found.append(("charset", "encoding and charset are the same option; set one"))
    found += _combinations(file_format, {k.lower(): v for k, v in options.items()})
    return found


def _combinations(file_format: str, options: dict[str, str]) -> list[tuple[str, str]]:
    """Options fine alone that cannot be written together without changing values."""
    encoding = (options.get("encoding") or options.get("charset") or "UTF-8").upper().replace("_", "-")
    separator = options.get("linesep", "\n")
    if file_format == "csv" and separator in ("\r\n", "\r") and encoding not in ("UTF-8", "UTF8"):
        # Line breaks inside values survive a lineSep other than \n only through the text writer,
        # which writes UTF-8 (fabgen_runtime.engines.spark.exact_values).
        return [
            (
                "lineSep",
                f"{separator!r} needs encoding UTF-8 for csv (got {encoding}): "
                "line breaks inside values would be rewritten",
            )
        ]
    return []
