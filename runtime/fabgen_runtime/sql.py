"""SQL text for the read path: quoting per dialect, auto-filters, and the :class:`SourcePlan`.

Three dialects:

* ``spark`` (lakehouse sources, Spark SQL): identifiers in backticks (`` ` `` doubled), string
  literals in single quotes with backslash escapes (Spark joins adjacent literals, so ``''`` is
  *not* an escape there), ``DATE '...'`` / ``TIMESTAMP '...'``.
* ``tsql`` (Fabric Warehouse): ``[brackets]`` (``]`` doubled), ``'...'`` with ``''`` doubling,
  ``CAST('...' AS date)`` / ``CAST('...' AS datetime2(6))``.
* ``postgres`` (the local warehouse stand-in): ``"double quotes"`` (``"`` doubled), ``'...'``
  with ``''`` doubling (standard_conforming_strings), ``DATE '...'`` / ``TIMESTAMP '...'``. Plain
  names are folded to lower case, as PostgreSQL folds unquoted names, so ``OrderDate`` in a config
  finds the column ``orderdate`` (Fabric Warehouse's default collation is case-insensitive too).

Auto-filters (table mode):

* incremental: ``col > <watermark> OR col IS NULL``. The literal is typed: a number compares as a
  number, an ISO date as a date, an ISO timestamp as a timestamp, anything else as an escaped
  string. The type comes from the stored watermark's column type when known, else from the text.
  The NULL rows are read only to be counted in the write's pass; the writer drops them.
* period: ``col >= <start> AND col < <end + 1 day>`` when the period ends on a date (midnight), so
  a timestamp column includes the whole last day (and a date column behaves exactly like
  ``BETWEEN``); ``col BETWEEN <start> AND <end>`` when the end carries a time of day.

Query mode only resolves placeholders, each value escaped for the string literal it sits in; a
``{watermark}`` outside a string literal must be a plain number or ISO date/time, so a stored
watermark can never leave its literal either way.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from . import placeholders, query_guard, sql_lexer
from .config import IDENTIFIER, ExportConfig
from .errors import ConfigError, ConfigIssue

NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ISO_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?$")
NUMERIC_TYPES = re.compile(
    r"^(tinyint|smallint|int|integer|bigint|long|short|byte|float|double|real|decimal|numeric)"
)


@dataclass(frozen=True)
class Dialect:
    """Quoting rules of one SQL dialect."""

    name: str
    ident_open: str
    ident_close: str
    backslash_strings: bool  # Spark: backslash escapes inside string literals
    date_format: str  # format of a date literal, {} is the quoted ISO text
    timestamp_format: str
    fold_lower: bool = False  # PostgreSQL: plain names resolve as unquoted names do (lower case)

    def quote_identifier(self, name: str) -> str:
        """``name`` as a quoted identifier (closing quote doubled)."""
        if "\x00" in name:
            raise ValueError("identifier contains a NUL character")
        if self.fold_lower and IDENTIFIER.match(name):
            name = name.lower()
        return f"{self.ident_open}{name.replace(self.ident_close, self.ident_close * 2)}{self.ident_close}"

    def qualified(self, *parts: str | None) -> str:
        """``a.b.c`` with each part quoted (``None`` parts skipped)."""
        return ".".join(self.quote_identifier(p) for p in parts if p)

    def escape(self, text: str) -> str:
        """The content of a string literal holding ``text`` (without the quotes)."""
        if "\x00" in text:
            raise ValueError("string contains a NUL character")
        if self.backslash_strings:
            return text.replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"')
        return text.replace("'", "''")

    def string(self, text: str) -> str:
        """A string literal."""
        return f"'{self.escape(text)}'"

    def date(self, value: date) -> str:
        """A typed date literal."""
        return self.date_format.format(self.string(value.strftime("%Y-%m-%d")))

    def timestamp(self, value: datetime) -> str:
        """A typed timestamp literal (microseconds kept)."""
        sep = "T" if self.name == "tsql" else " "
        return self.timestamp_format.format(self.string(value.isoformat(sep=sep, timespec="microseconds")))


DIALECTS: dict[str, Dialect] = {
    "spark": Dialect("spark", "`", "`", True, "DATE {}", "TIMESTAMP {}"),
    "tsql": Dialect("tsql", "[", "]", False, "CAST({} AS date)", "CAST({} AS datetime2(6))"),
    "postgres": Dialect("postgres", '"', '"', False, "DATE {}", "TIMESTAMP {}", fold_lower=True),
}


def dialect(name: str) -> Dialect:
    """The dialect called ``name`` (spark, tsql, postgres)."""
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(f"unknown SQL dialect {name!r} (known: {', '.join(DIALECTS)})") from None


def default_dialect(config: ExportConfig, platform: Any = None) -> str:
    """Spark SQL for lakehouses; the platform's warehouse dialect (tsql on Fabric, postgres locally)."""
    if config.source_type == "lakehouse":
        return "spark"
    from . import platform as platform_mod

    return (
        (platform or platform_mod.current())
        .warehouse(config.source_workspace, config.source_datastore)
        .dialect
    )


# --------------------------------------------------------------------------- typed literals


def parse_timestamp(text: str) -> datetime:
    """An ISO timestamp (``T`` or space, up to nanoseconds; fraction truncated to microseconds)."""
    main, _, frac = text.replace("T", " ").partition(".")
    value = datetime.fromisoformat(main)
    return value.replace(microsecond=int((frac + "000000")[:6])) if frac else value


def literal_kind(value: str, column_type: str | None = None) -> str:
    """``number``, ``date``, ``timestamp`` or ``string``: how a watermark compares.

    ``column_type`` is the Spark type of the column (``bigint``, ``decimal(18,2)``, ``timestamp``,
    ``date``, ``string``...) when known; otherwise the kind follows from the text.
    """
    text = value.strip()
    if column_type:
        kind = column_type.lower()
        if kind.startswith("timestamp"):
            return "timestamp"
        if kind == "date":
            return "date"
        if NUMERIC_TYPES.match(kind):
            return "number"
        return "string"
    if NUMBER.match(text):
        return "number"
    if ISO_DATE.match(text):
        return "date"
    if ISO_TIMESTAMP.match(text):
        return "timestamp"
    return "string"


def typed_literal(value: str, d: Dialect, column_type: str | None = None, where: str = "watermark") -> str:
    """``value`` as a literal of its kind in dialect ``d`` (raises ``ValueError`` on a mismatch)."""
    kind = literal_kind(value, column_type)
    text = value.strip()
    if kind == "number":
        if not NUMBER.match(text):
            raise ValueError(f"{where} {value!r} is not a number but the column is {column_type}")
        return text
    if kind == "date":
        if ISO_DATE.match(text):
            return d.date(date.fromisoformat(text))
        if ISO_TIMESTAMP.match(text):
            return d.timestamp(parse_timestamp(text))
        raise ValueError(f"{where} {value!r} is not an ISO date (YYYY-MM-DD) but the column is a date")
    if kind == "timestamp":
        if ISO_TIMESTAMP.match(text):
            return d.timestamp(parse_timestamp(text))
        if ISO_DATE.match(text):
            return d.timestamp(datetime.fromisoformat(text))
        raise ValueError(f"{where} {value!r} is not an ISO timestamp but the column is a timestamp")
    return d.string(value)


def date_or_timestamp(value: datetime, d: Dialect) -> str:
    """A date literal at midnight, a timestamp literal otherwise."""
    if value.time() == datetime.min.time():
        return d.date(value.date())
    return d.timestamp(value)


def incremental_filter(column: str, watermark: str, d: Dialect, column_type: str | None = None) -> str:
    """``column > watermark`` with a typed literal."""
    return f"{d.quote_identifier(column)} > {typed_literal(watermark, d, column_type)}"


def period_filter(column: str, start: datetime, end: datetime, d: Dialect) -> str:
    """The period condition. An end at midnight means that whole day: ``col >= start AND col < end+1d``."""
    col = d.quote_identifier(column)
    if end.time() == datetime.min.time():
        return (
            f"{col} >= {date_or_timestamp(start, d)} AND {col} < {d.date((end + timedelta(days=1)).date())}"
        )
    return f"{col} BETWEEN {date_or_timestamp(start, d)} AND {d.timestamp(end)}"


# --------------------------------------------------------------------------- query mode


_SENTINEL = "\ue000"  # stands for a placeholder while the query is lexed (private use: not in SQL)


def _placeholder_contexts(query: str, d: Dialect) -> list[tuple[str, bool]]:
    """Each placeholder of ``query`` in order, with True when it sits inside a string literal.

    PostgreSQL's ``$tag$`` literals are deliberately not strings here: a value escaped for a
    quoted literal could end a dollar-quoted one, so a placeholder there counts as outside.
    """
    rules = sql_lexer.LexRules(
        backslash_strings=d.backslash_strings,
        name_quotes={d.ident_open: d.ident_close, **({} if d.backslash_strings else {'"': '"'})},
    )
    pieces, names = [], []
    for literal, name, _spec, _conv in string.Formatter().parse(query):
        pieces.append(literal)
        if name is not None:
            pieces.append(_SENTINEL)
            names.append(name)
    text = "".join(pieces)
    inside = [
        token.kind == "string"
        for token in sql_lexer.tokenize(text, rules)
        for _ in range(token.text.count(_SENTINEL))
    ]
    return list(zip(names, inside, strict=True))


def render_query(
    query: str, values: Mapping[str, Any], d: Dialect, export: str = "", field_name: str = "source_query"
) -> str:
    """Resolve the placeholders of a user query safely for dialect ``d``.

    Every value is escaped for a string literal of the dialect. A ``{watermark}`` that is not
    inside a string literal must be a number or an ISO date/time (it cannot then carry a quote).
    """
    try:
        contexts = _placeholder_contexts(query, d)
    except ValueError as exc:
        raise ConfigError(ConfigIssue(export or "export", field_name, str(exc))) from None
    watermark = values.get("watermark")
    for name, quoted in contexts:
        if name == "watermark" and not quoted and watermark not in (None, ""):
            text = str(watermark).strip()
            if not (NUMBER.match(text) or ISO_DATE.match(text) or ISO_TIMESTAMP.match(text)):
                raise ConfigError(
                    ConfigIssue(
                        export or "export",
                        field_name,
                        f"'{{watermark}}' is outside a quoted string literal and the watermark {watermark!r} "
                        "is not a number or an ISO date/time: write '{watermark}' in quotes",
                    )
                )
    try:
        return placeholders.render(query, values, escape=d.escape)
    except ValueError as exc:
        raise ConfigError(ConfigIssue(export or "export", field_name, str(exc))) from None


# --------------------------------------------------------------------------- the source plan


@dataclass(frozen=True)
class SourcePlan:
    """What to read for one export run, in the source's dialect (pure data, printed by ``fabgen plan``)."""

    source_type: str  # lakehouse | warehouse
    dialect: str  # spark | tsql | postgres
    mode: str  # table | query
    workspace: str
    datastore: str
    schema: str | None
    table: str | None
    query: str  # the SQL text that is run (table mode: against qualified_table)
    qualified_table: str | None = None  # quoted schema.table (table mode)
    select_list: str = "*"
    filters: tuple[str, ...] = ()
    incremental_column: str | None = None
    watermark: str | None = None
    watermark_type: str | None = None
    period: tuple[datetime, datetime] | None = None
    notes: tuple[str, ...] = field(default=())
    # Table mode with an incremental filter: NULLs are read too (``OR col IS NULL``), counted in
    # the write's pass and dropped before the writer (see fabgen_runtime.staged.null_warning).
    drops_null_incremental: bool = False

    @property
    def where(self) -> str:
        """The conditions joined with AND ("" when none)."""
        return " AND ".join(f"({f})" for f in self.filters)

    def query_from(self, relation: str) -> str:
        """Table mode: the query reading from ``relation`` (a view name or quoted table) instead."""
        if self.mode != "table":
            return self.query
        sql = f"SELECT {self.select_list} FROM {relation}"
        return f"{sql} WHERE {self.where}" if self.filters else sql


def _issue(config: ExportConfig, field_name: str, message: str) -> ConfigError:
    return ConfigError(ConfigIssue(config.key, field_name, message))


def build_source(
    config: ExportConfig,
    values: Mapping[str, Any],
    watermark: str | None = None,
    period_start: datetime | None = None,
    period_end: datetime | None = None,
    dialect_name: str | None = None,
    watermark_type: str | None = None,
) -> SourcePlan:
    """The :class:`SourcePlan` of one export run (reads no data).

    ``values`` are the run's placeholder values (for query mode); ``watermark_type`` is the
    Spark type of the incremental column when the stored watermark recorded it.
    """
    d = dialect(dialect_name or default_dialect(config))
    common: dict[str, Any] = dict(
        source_type=config.source_type,
        dialect=d.name,
        workspace=config.source_workspace,
        datastore=config.source_datastore,
        schema=config.schema,
        table=config.source_table,
        incremental_column=config.incremental_column,
        watermark=watermark,
        watermark_type=watermark_type,
        period=(period_start, period_end) if period_start and period_end else None,
    )
    if config.source_query:
        query = render_query(config.source_query, values, d, config.key)
        lakehouse = config.source_datastore if config.source_type == "lakehouse" else None
        query_guard.check_static(query, d.name, config.key, "source_query", lakehouse)
        return SourcePlan(mode="query", query=query.strip(), **common)

    for name, value in (("source_schema", config.schema), ("source_table", config.source_table)):
        if value is None or not IDENTIFIER.match(value):
            raise _issue(config, name, f"{value!r} is not a plain identifier")
    columns = config.source_columns
    if (
        columns
        and config.incremental_column
        and config.incremental_column.lower() not in {c.lower() for c in columns}
    ):
        raise _issue(
            config,
            "source_columns",
            f"must include incremental_column {config.incremental_column!r} "
            "(its maximum over the exported rows becomes the next watermark)",
        )
    select_list = ", ".join(d.quote_identifier(c) for c in columns) if columns else "*"
    filters: list[str] = []
    drops_null = False
    if config.extract_type == "incremental" and watermark not in (None, ""):
        column = config.incremental_column or ""
        try:
            newer = incremental_filter(column, str(watermark), d, watermark_type)
        except ValueError as exc:
            raise _issue(config, "incremental_column", str(exc)) from None
        filters.append(f"{newer} OR {d.quote_identifier(column)} IS NULL")
        drops_null = True
    if config.extract_type == "period":
        if period_start is None or period_end is None:
            raise _issue(
                config, "period_date_query", "the period dates are not known (run period_date_query first)"
            )
        if period_end < period_start:
            raise _issue(
                config,
                "period_date_query",
                f"returned end_date {period_end} before start_date {period_start}",
            )
        filters.append(period_filter(config.period_filter_column or "", period_start, period_end, d))
    qualified = d.qualified(config.schema, config.source_table)
    plan = SourcePlan(
        mode="table",
        query="",
        qualified_table=qualified,
        select_list=select_list,
        filters=tuple(filters),
        drops_null_incremental=drops_null,
        **common,
    )
    return replace(plan, query=plan.query_from(qualified))


def split_with(query: str, dialect_name: str) -> tuple[str, str]:
    """``(ctes, select)``: a ``WITH`` query cut before its main ``SELECT``; else ``("", query)``.

    T-SQL allows no ``WITH`` inside a derived table, yet Spark's JDBC reader sends a query as one
    (``SELECT * FROM (<query>) ...``) and the Python engine does the same: the CTEs go in front
    instead (Spark's ``prepareQuery``). The main ``SELECT`` is the first ``SELECT`` word outside
    parentheses, string literals, quoted names and comments after the ``WITH``; ``ctes`` keeps every
    character before it (a trailing comment's line break too), so ``ctes + select == query``.
    """
    rules = sql_lexer.RULES.get(dialect_name, sql_lexer.SPARK)
    tokens = [t for t in sql_lexer.tokenize(query, rules) if t.kind not in ("space", "comment")]
    if not tokens or tokens[0].kind != "word" or tokens[0].text.lower() != "with":
        return "", query
    depth = 0
    for token in tokens[1:]:
        if token.text == "(":
            depth += 1
        elif token.text == ")":
            depth -= 1
        elif depth == 0 and token.kind == "word" and token.text.lower() == "select":
            return query[: token.start], query[token.start :]
    return "", query


def render_control_query(
    query: str, values: Mapping[str, Any], dialect_name: str, export: str, field_name: str
) -> str:
    """A control query (``period_date_query``) with its placeholders resolved safely."""
    rendered = render_query(query, values, dialect(dialect_name), export, field_name).strip()
    query_guard.check_static(rendered, dialect_name, export, field_name)
    return rendered
