"""Rows as text exactly as the Spark engine writes them: csv (univocity) and JSON Lines (Jackson).

Every function takes one ``pyarrow.RecordBatch`` and returns the encoded lines of all its rows
as one ``bytes`` (each line ends with the separator), so the writer streams batch by batch.
Columns are turned into text with ``pyarrow.compute`` where Arrow's text is already Spark's
(integers, booleans, dates, strings), and value by value where it is not:

* doubles/floats: Java's ``Double.toString`` / ``Float.toString`` (``1.0E7``, ``1.5E-4``,
  ``NaN``, ``Infinity``), including the exact-integer digits Java 17 prints for integral values
  (``1.23456792E8`` for the float32 123456792); other values from the shortest round-trip digits
  (Java 17's algorithm is not always shortest, JDK-4511638: rare values can differ in the last
  digits; both read back as the same number).
* decimals: plain notation with the column's scale (``0.000000000000000000``), as
  :mod:`fabgen_runtime.engines.spark.exact_values` makes Spark write them.
* timestamps: ``yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX`` in the ``timeZone`` option's zone (default
  UTC, the session time zone of the Spark engine), ``Z`` for a zero offset; timestamps without
  a zone ``yyyy-MM-dd'T'HH:mm:ss.SSSSSS``; dates ``yyyy-MM-dd``.

csv: a value is quoted when it holds the separator, the quote, ``\\r`` or ``\\n`` (quotes inside
doubled), or always with ``quoteAll``; an empty string is written as ``emptyValue`` (default
``""``), a NULL as ``nullValue`` (default nothing). JSON: fields in schema order, NULLs as
``null`` (dropped with ``ignoreNullFields=true``), strings escaped like Jackson (``\\u001F``
upper-case, non-ASCII raw), NaN/Infinity as quoted strings, binary as base64.

csv lines are joined by Arrow's csv writer (``pyarrow.csv``, no quoting of its own: it writes the
texts as they are) when no field of the batch holds a quote, the separator or a line break, and
element-wise otherwise; quoting, ``emptyValue`` and ``nullValue`` run only on batches that need them.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Context, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from ...errors import WriteError
from ...formats import ISO_DATE, ISO_TIMESTAMP, ISO_TIMESTAMP_NTZ
from .numbers import java_double

TEXT = pa.large_string()
_PAST_END = 1 << 30  # a slice start beyond any value's end: binary_replace_slice appends there
_DEFAULT_FORMATS = {
    "dateformat": ISO_DATE,
    "timestampformat": ISO_TIMESTAMP,
    "timestampntzformat": ISO_TIMESTAMP_NTZ,
}
_CSV_OPTIONS = {
    "header",
    "sep",
    "delimiter",
    "quote",
    "escape",
    "escapequotes",
    "quoteall",
    "nullvalue",
    "emptyvalue",
    "ignoreleadingwhitespace",
    "ignoretrailingwhitespace",
    "encoding",
    "charset",
    "linesep",
    "timezone",
    *_DEFAULT_FORMATS,
}
_JSON_OPTIONS = {"ignorenullfields", "encoding", "charset", "linesep", "timezone", *_DEFAULT_FORMATS}
_ENCODINGS = {
    "UTF-8": "utf-8",
    "UTF-16LE": "utf-16-le",
    "UTF-16BE": "utf-16-be",
}
# Jackson's escapes for control characters (everything else below 0x20 is \u00XX, upper-case hex).
_JSON_ESCAPES = {i: f"\\u{i:04X}" for i in range(32)} | {
    8: "\\b",
    9: "\\t",
    10: "\\n",
    12: "\\f",
    13: "\\r",
    ord('"'): '\\"',
    ord("\\"): "\\\\",
}
_SHORT_ESCAPES = (("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"), ("\b", "\\b"), ("\f", "\\f"))
_NEEDS_ESCAPE = '[\\\\"\\x00-\\x1f]'
_RARE_CONTROL = "[\\x00-\\x07\\x0b\\x0e-\\x1f]"  # control characters Jackson writes as \u00XX


@dataclass(frozen=True)
class TextOptions:
    """The merged writer options of one csv/json export, checked for what this engine honours."""

    sep: str = ","
    quote: str = '"'
    quote_all: bool = False
    null_value: str = ""
    empty_value: str = '""'
    header: bool = False
    line_sep: str = "\n"
    encoding: str = "utf-8"
    timezone: str = "UTC"
    ignore_null_fields: bool = False


def _flag(value: str) -> bool:
    return str(value).strip().lower() == "true"


def text_options(fmt: str, options: Mapping[str, str], export: str) -> TextOptions:
    """Parse ``options`` (defaults merged, as ``FileFormat.options`` returns them).

    Raises ``WriteError`` naming the export and option for a value this engine cannot honour yet
    (another date/time pattern, trimming, a different escape character), before anything is written.
    """
    lowered = {k.lower(): v for k, v in options.items()}
    allowed = _CSV_OPTIONS if fmt == "csv" else _JSON_OPTIONS

    def refuse(key: str, why: str) -> WriteError:
        original = next(k for k in options if k.lower() == key)
        return WriteError(
            f"file_format_options: {original}={options[original]!r}: {why} (python engine)", export
        )

    for key, value in lowered.items():
        if key not in allowed:
            raise refuse(key, "is not supported")
        if key in _DEFAULT_FORMATS and value != _DEFAULT_FORMATS[key]:
            raise refuse(key, f"only fabgen's default pattern {_DEFAULT_FORMATS[key]!r} is supported")
    if _flag(lowered.get("ignoreleadingwhitespace", "false")) or _flag(
        lowered.get("ignoretrailingwhitespace", "false")
    ):
        raise refuse(
            "ignoreleadingwhitespace" if "ignoreleadingwhitespace" in lowered else "ignoretrailingwhitespace",
            "trimming values is not supported",
        )
    quote = lowered.get("quote", '"')
    if "escape" in lowered and lowered["escape"] != quote:
        raise refuse("escape", "only an escape equal to the quote (quotes doubled) is supported")
    if not _flag(lowered.get("escapequotes", "true")):
        raise refuse("escapequotes", "only escapeQuotes=true is supported")
    encoding = (
        (lowered.get("encoding") or lowered.get("charset") or "UTF-8").strip().upper().replace("_", "-")
    )
    encoding = encoding if "-" in encoding else encoding.replace("UTF", "UTF-")
    if encoding not in _ENCODINGS:
        raise refuse("encoding" if "encoding" in lowered else "charset", "is not a supported encoding")
    return TextOptions(
        sep=lowered.get("sep", lowered.get("delimiter", ",")),
        quote=quote,
        quote_all=_flag(lowered.get("quoteall", "false")),
        null_value=lowered.get("nullvalue", ""),
        empty_value=lowered.get("emptyvalue", '""'),  # Spark writes "" whatever the quote is
        header=_flag(lowered.get("header", "false")),
        line_sep=lowered.get("linesep", "\n"),
        encoding=_ENCODINGS[encoding],
        timezone=lowered.get("timezone", "UTC"),
        ignore_null_fields=_flag(lowered.get("ignorenullfields", "false")),
    )


# --------------------------------------------------------------------------- numbers


def _per_value(array: pa.Array, convert: Callable[[Any], str]) -> pa.Array:
    return pa.array([None if v is None else convert(v) for v in array.to_pylist()], type=TEXT)


def _plain_decimals(array: pa.Array) -> pa.Array:
    text = pc.cast(array, TEXT)
    if not pc.any(pc.match_substring(text, "E")).as_py():
        return text
    scale = array.type.scale
    quantum = Decimal(1).scaleb(-scale)
    context = Context(prec=80)  # 38 digits and a scale of up to 38 (the default context keeps 28)
    return _per_value(array, lambda v: format(Decimal(v).quantize(quantum, context=context), "f"))


def _offset(moment: datetime) -> str:
    """Spark's ``XXX``: ``Z`` or ``+01:00`` (an offset's seconds, as in LMT ``+00:17:30``, are dropped)."""
    delta = moment.utcoffset() or timedelta(0)
    if not delta:
        return "Z"
    seconds = int(delta.total_seconds())
    sign, seconds = ("-", -seconds) if seconds < 0 else ("+", seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def _timestamps(array: pa.Array, timezone: str, export: str) -> pa.Array:
    # Arrow's cast prints "2024-01-02 03:04:05.000001" (always six fraction digits) and a "Z" for
    # UTC: only the separator differs from Spark's pattern (strftime is ~30x slower).
    # The text always ends " HH:MM:SS.ffffff": the separator is the 16th character from the end
    # (replacing that slice is ~3x faster than searching for the space).
    if array.type.tz is None:
        text = pc.cast(array.cast(pa.timestamp("us")), TEXT)
        return pc.binary_replace_slice(text, -16, -15, "T")
    if timezone.upper() in ("UTC", "Z", "ETC/UTC"):  # the UTC wall time (a zoned cast is ~25x slower)
        text = pc.cast(array.cast(pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us")), TEXT)
        text = pc.binary_replace_slice(text, -16, -15, "T")
        return pc.binary_replace_slice(text, _PAST_END, _PAST_END, "Z")  # appended
    zone = ZoneInfo(timezone)

    def render(value: datetime) -> str:
        try:
            local = value.astimezone(zone)
        except OverflowError:
            raise WriteError(f"{value} is before year 1 in timeZone {timezone}", export) from None
        return f"{local.year:04d}-{local:%m-%dT%H:%M:%S.%f}{_offset(local)}"

    return _per_value(array.cast(pa.timestamp("us", tz="UTC")), render)


def column_text(
    array: pa.Array, options: TextOptions, export: str, name: str, json: bool = False
) -> pa.Array:
    """One column as Spark's text for it (NULLs stay NULL); JSON strings are not quoted yet."""
    kind = array.type
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind) or pa.types.is_date(kind):
        return pc.cast(array, TEXT)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return pc.cast(array, TEXT)
    if pa.types.is_decimal(kind):
        return _plain_decimals(array)
    if pa.types.is_floating(kind):
        single = kind.bit_width == 32
        return _per_value(array, lambda v: java_double(v, single))
    if pa.types.is_timestamp(kind):
        return _timestamps(array, options.timezone, export)
    if json and (pa.types.is_binary(kind) or pa.types.is_large_binary(kind)):
        return _per_value(array, lambda v: base64.b64encode(v).decode("ascii"))
    raise WriteError(f"column {name!r} of type {kind} cannot be written by the python engine yet", export)


# --------------------------------------------------------------------------- csv


# Characters of every non-string column's text (numbers, NaN/Infinity, dates, timestamps, booleans).
_NON_STRING_TEXT = frozenset("0123456789+-.:TZEaNInfityrueals")


def _csv_field(text: pa.Array, options: TextOptions, string: bool = True) -> pa.Array:
    """Quote (when needed), then ``emptyValue`` for empty strings and ``nullValue`` for NULLs.

    Each step runs only when the batch holds a value it changes (checked on the text's bytes):
    non-string text is never empty and holds no csv special character unless one is a digit,
    letter or sign of it (``_NON_STRING_TEXT``).
    """
    q = options.quote
    empty = (
        pc.fill_null(pc.equal(pc.binary_length(text), 0), False)
        if string and len(text) and _shortest(text) == 0
        else None
    )
    if q and options.quote_all:  # every field quoted, NULLs (as nullValue) too
        text = pc.fill_null(text, pa.scalar(options.null_value, TEXT))
    special = (options.sep, q, "\r", "\n")
    plain = not options.quote_all and (
        not (set("".join(special)) & _NON_STRING_TEXT) if not string else not _holds_any(text, special)
    )
    if q and not plain:
        quoted = pc.binary_join_element_wise(
            pa.scalar(q, TEXT), pc.replace_substring(text, q, q + q), pa.scalar(q, TEXT), pa.scalar("", TEXT)
        )
        if options.quote_all:
            text = quoted
        else:
            pattern = "|".join(re.escape(c) for c in special)
            text = pc.if_else(pc.match_substring_regex(text, pattern), quoted, text)
    if empty is not None:
        text = pc.if_else(empty, pa.scalar(options.empty_value, TEXT), text)
    return pc.fill_null(text, pa.scalar(options.null_value, TEXT)) if text.null_count else text


def _shortest(text: pa.Array) -> int:
    """The length in bytes of the shortest non-NULL value (1 when every value is NULL)."""
    low = pc.min(pc.binary_length(text)).as_py()
    return 1 if low is None else int(low)


def _text_bytes(text: pa.Array) -> bytes:
    """The UTF-8 bytes of every value of ``text`` (a string / large_string array) back to back."""
    _validity, offsets, data = text.buffers()
    if data is None or not len(text):
        return b""
    bounds = memoryview(offsets).cast("q" if pa.types.is_large_string(text.type) else "i")
    start, end = bounds[text.offset], bounds[text.offset + len(text)]
    return bytes(data[start:end].to_pybytes())


def _holds_any(text: pa.Array, needles: tuple[str, ...]) -> bool:
    """Whether any value of ``text`` contains one of ``needles`` (a byte search: UTF-8 never
    matches a character inside another one)."""
    data = _text_bytes(text)
    return any(n.encode("utf-8") in data for n in needles if n)


def _is_string(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def csv_header(names: list[str], options: TextOptions) -> bytes:
    """The header line (column names quoted by the same rules as values)."""
    fields = [_csv_field(pa.array([n], TEXT), options)[0].as_py() for n in names]
    return (options.sep.join(fields) + options.line_sep).encode(options.encoding)


def csv_lines(batch: pa.RecordBatch, options: TextOptions, export: str) -> bytes:
    """The batch's rows as csv lines."""
    fields = [
        _csv_field(column_text(column, options, export, name), options, _is_string(column.type))
        for name, column in zip(batch.schema.names, batch.columns, strict=True)
    ]
    return _join_lines(fields, options.sep, options)


def _join_lines(fields: list[pa.Array], sep: str, options: TextOptions) -> bytes:
    """Each row's fields joined by ``sep`` and ended by the line separator, as encoded bytes."""
    if not fields or not len(fields[0]):
        return b""
    write_options = _arrow_write_options(sep, options.line_sep) if options.encoding == "utf-8" else None
    if write_options is not None:
        try:
            return _arrow_lines(fields, write_options)
        except pa.ArrowInvalid:  # a field holds a quote, the separator or a line break: joined below
            pass
    ended = pc.binary_join_element_wise(fields[-1], pa.scalar(options.line_sep, TEXT), pa.scalar("", TEXT))
    line = (
        pc.binary_join_element_wise(*fields[:-1], ended, pa.scalar(sep, TEXT)) if len(fields) > 1 else ended
    )
    return _encoded(line, options)


@functools.lru_cache(maxsize=8)
def _arrow_write_options(sep: str, line_sep: str) -> pa_csv.WriteOptions | None:
    """Arrow's csv writer options for these separators, or None where it cannot write them: a
    separator of more than one character, or a line separator other than ``\n`` on a pyarrow
    without ``eol`` (22, Fabric's python3.12 kernel: its ``WriteOptions`` has no ``eol``)."""
    if len(sep) != 1:
        return None
    try:
        return pa_csv.WriteOptions(include_header=False, delimiter=sep, eol=line_sep, quoting_style="none")
    except TypeError:  # no eol: Arrow ends lines with "\n"
        if line_sep != "\n":
            return None
        return pa_csv.WriteOptions(include_header=False, delimiter=sep, quoting_style="none")


def _arrow_lines(fields: list[pa.Array], write_options: pa_csv.WriteOptions) -> bytes:
    """The same lines written by Arrow's csv writer (faster than joining element-wise). Without
    quoting it writes each text as it is, and raises ``ArrowInvalid`` rather than write a field
    holding ``"``, the separator or a line break (the caller then joins element-wise). NULLs are
    ``nullValue`` text by then."""
    table = pa.Table.from_arrays(fields, names=[str(i) for i in range(len(fields))])
    sink = pa.BufferOutputStream()
    pa_csv.write_csv(table, sink, write_options)
    return bytes(sink.getvalue().to_pybytes())


def _encoded(lines: pa.Array, options: TextOptions) -> bytes:
    return _concat(lines).encode(options.encoding) if options.encoding != "utf-8" else _concat_bytes(lines)


def _concat_bytes(lines: pa.Array) -> bytes:
    """Every string of ``lines`` joined, straight from the Arrow data buffer (UTF-8)."""
    lines = lines.cast(TEXT)
    if isinstance(lines, pa.ChunkedArray):
        return b"".join(_concat_bytes(chunk) for chunk in lines.chunks)
    return _text_bytes(lines)


def _concat(lines: pa.Array) -> str:
    return _concat_bytes(lines).decode("utf-8")


# --------------------------------------------------------------------------- json


def _quoted(text: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(pa.scalar('"', TEXT), text, pa.scalar('"', TEXT), pa.scalar("", TEXT))


def _json_string(text: pa.Array) -> pa.Array:
    if not pc.any(pc.match_substring_regex(text, _NEEDS_ESCAPE)).as_py():
        return _quoted(text)
    if pc.any(pc.match_substring_regex(text, _RARE_CONTROL)).as_py():
        escaped = _per_value(text, lambda v: v.translate(_JSON_ESCAPES))
    else:  # backslash first, then the quote and the short escapes, all vectorised
        escaped = text
        for char, escape in (("\\", "\\\\"), ('"', '\\"'), *_SHORT_ESCAPES):
            escaped = pc.replace_substring(escaped, char, escape)
    return _quoted(escaped)


def json_key(name: str) -> str:
    """A field name as Jackson writes it, with its colon."""
    return '"' + name.translate(_JSON_ESCAPES) + '":'


def _json_value(column: pa.Array, options: TextOptions, export: str, name: str) -> pa.Array:
    kind = column.type
    text = column_text(column, options, export, name, json=True)
    if pa.types.is_floating(kind):
        special = pc.is_in(text, pa.array(["NaN", "Infinity", "-Infinity"], TEXT))
        return pc.if_else(special, _json_string(text), text)
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind) or pa.types.is_decimal(kind):
        return text
    if _is_string(kind):
        return _json_string(text)
    return _quoted(text)  # dates, timestamps, base64: nothing to escape


def json_lines(batch: pa.RecordBatch, options: TextOptions, export: str) -> bytes:
    """The batch's rows as JSON Lines."""
    pieces = []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        value = _json_value(column, options, export, name)
        if not options.ignore_null_fields:
            value = pc.fill_null(value, pa.scalar("null", TEXT))
        pieces.append(
            pc.binary_join_element_wise(pa.scalar(json_key(name), TEXT), value, pa.scalar("", TEXT))
        )
    if not batch.num_rows:
        return b""
    body = pc.binary_join_element_wise(*pieces, pa.scalar(",", TEXT), null_handling="skip")
    end = pa.scalar("}" + options.line_sep, TEXT)
    return _encoded(
        pc.binary_join_element_wise(pa.scalar("{", TEXT), body, end, pa.scalar("", TEXT)), options
    )
