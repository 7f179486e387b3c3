"""Values leave exactly as stored: what fabgen changes in the DataFrame before Spark's text writers.

Spark's own writers alter two kinds of values, so :func:`prepare` works around them in the same
single pass (a ``select`` on top of the source, nothing read twice):

* csv with a ``lineSep`` other than ``\\n``: Spark's csv writer rewrites every line break *inside*
  a quoted value into the separator (``new\\nline`` became ``new\\r\\nline``). Rows are formatted
  with ``to_csv`` (same options, default separator, which leaves values untouched) and written
  by the text writer with the row separator. ``encoding`` other than UTF-8 cannot go this way
  (the text writer writes UTF-8); ``fabgen validate`` refuses that combination.
* decimals: Spark writes ``BigDecimal.toString`` (``0E-18`` for a zero of scale 18) in csv and
  json, which is scientific only for a scale above 6; only such top-level columns are rewritten.
  In csv they become text (:func:`plain_text`: plain notation, scale kept). In json they must
  stay numbers: rows are formatted with ``to_json`` with each such column renamed to a marker
  and turned into plain text, the marker's quoted value is then unquoted, and the line is
  written through the csv writer as one unquoted column (so ``encoding`` and ``lineSep`` still
  apply; JSON text holds no raw line breaks or control characters).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

# Options of the csv writer that only carries whole, already formatted lines.
_LINE_WRITER = {
    "sep": "\u0001",  # never raw in JSON text (control characters are escaped)
    "quote": "",  # no quoting at all (Spark uses \u0000, never raw in JSON text either)
    "escapeQuotes": "false",
    "quoteAll": "false",
    "ignoreLeadingWhiteSpace": "false",
    "ignoreTrailingWhiteSpace": "false",
    "header": "false",
}
_MARKER = "__fabgen_decimal_{}__"
_WRITER_ONLY = ("linesep", "encoding", "charset", "header")


@dataclass(frozen=True)
class Prepared:
    """The DataFrame to write, and the Spark format and options to write it with."""

    df: DataFrame
    spark_format: str
    options: dict[str, str]


def _get(options: Mapping[str, str], *names: str) -> str | None:
    wanted = {n.lower() for n in names}
    return next((v for k, v in options.items() if k.lower() in wanted), None)


def is_utf8(options: Mapping[str, str]) -> bool:
    """True when the options write UTF-8 (the default)."""
    encoding = _get(options, "encoding", "charset")
    return encoding is None or encoding.strip().upper().replace("_", "-") in ("UTF-8", "UTF8")


def line_sep(options: Mapping[str, str]) -> str:
    """The row separator the options ask for (Spark's default ``\\n``)."""
    return _get(options, "lineSep") or "\n"


def prepare(df: DataFrame, fmt: str, options: Mapping[str, str], keep: tuple[str, ...] = ()) -> Prepared:
    """``df`` ready for the writer of format ``fmt`` with the user's merged ``options``.

    ``keep`` names columns that are not data (the split writer's part number): they stay as they
    are, outside the formatted line.
    """
    from pyspark.sql import types as T

    data = [f for f in df.schema.fields if f.name not in keep]
    # BigDecimal.toString turns scientific only when scale > 6 + (digits of the unscaled value - 1):
    # never for a scale up to 6, so those columns keep Spark's own (faster) path.
    decimals = [f.name for f in data if isinstance(f.dataType, T.DecimalType) and f.dataType.scale > 6]
    if fmt == "csv":
        df = _plain_decimals(df, decimals)
        if line_sep(options) != "\n" and is_utf8(options):
            return _csv_lines(df, [f.name for f in data], options, keep)
        return Prepared(df, "csv", dict(options))
    if fmt == "json" and decimals:
        return _json_lines(df, [f.name for f in data], decimals, options, keep)
    return Prepared(df, fmt, dict(options))


def _col(name: str) -> Column:
    from pyspark.sql import functions as F

    return F.col(f"`{name.replace('`', '``')}`")


def plain_text(df: DataFrame, name: str) -> Column:
    """Decimal column ``name`` as text in plain notation with its scale (``0.000000000000000000``).

    Spark 4 casts decimals to plain text; Spark 3.5's cast gives ``BigDecimal.toString``
    (``0E-18``), so there the text comes from ``format_number`` (``java.text.DecimalFormat`` on
    the exact ``BigDecimal``, US locale, the column's own scale: no rounding) without its
    grouping commas.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    column = _col(name)
    if int(df.sparkSession.version.split(".")[0]) >= 4:
        return column.cast("string")
    data_type = df.schema[name].dataType
    scale = data_type.scale if isinstance(data_type, T.DecimalType) else 0
    return F.regexp_replace(F.format_number(column, scale), ",", "")


def _plain_decimals(df: DataFrame, decimals: list[str]) -> DataFrame:
    if not decimals:
        return df
    names = [f.name for f in df.schema.fields]
    return df.select(*[plain_text(df, n).alias(n) if n in decimals else _col(n) for n in names])


def _csv_lines(
    df: DataFrame, columns: list[str], options: Mapping[str, str], keep: tuple[str, ...]
) -> Prepared:
    from pyspark.sql import functions as F

    row_options = {k: v for k, v in options.items() if k.lower() not in _WRITER_ONLY}
    line = F.to_csv(F.struct(*[_col(c) for c in columns]), row_options).alias("value")
    text_options = {"lineSep": line_sep(options)}
    return Prepared(df.select(line, *[_col(k) for k in keep]), "text", text_options)


def _json_lines(
    df: DataFrame, columns: list[str], decimals: list[str], options: Mapping[str, str], keep: tuple[str, ...]
) -> Prepared:
    import json

    from pyspark.sql import functions as F

    markers = {name: _MARKER.format(i) for i, name in enumerate(decimals)}
    fields = [plain_text(df, c).alias(markers[c]) if c in markers else _col(c) for c in columns]
    row_options = {k: v for k, v in options.items() if k.lower() not in _WRITER_ONLY}
    line = F.to_json(F.struct(*fields), row_options)
    for name, marker in markers.items():
        # The key as Jackson writes it, escaped for a Java regex replacement.
        key = json.dumps(name, ensure_ascii=False).replace("\\", "\\\\").replace("$", "\\$")
        line = F.regexp_replace(line, f'"{marker}":"([^"]*)"', f"{key}:$1")
        line = F.regexp_replace(line, f'"{marker}":null', f"{key}:null")
    writer_options = {**_LINE_WRITER, "lineSep": line_sep(options)}
    encoding = _get(options, "encoding", "charset")
    if encoding:
        writer_options["encoding"] = encoding
    return Prepared(df.select(line.alias("value"), *[_col(k) for k in keep]), "csv", writer_options)
