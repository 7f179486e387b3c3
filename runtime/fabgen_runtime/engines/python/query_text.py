"""A lakehouse query's text through sqlglot: read-only, what it reads, and its DuckDB translation.

The third layer of :mod:`fabgen_runtime.query_guard` for lakehouse queries (``source_query`` and
``period_date_query``, Spark SQL), checked by ``fabgen validate`` for both engines and again by the
Python engine before it runs a query (:mod:`.query`):

* :func:`read_only_problems`: the text parses (sqlglot, ``read="spark"``) into exactly one query
  (``SELECT``, ``WITH ... SELECT``, set operations of them); no statement or clause that writes
  or changes state anywhere in it (:data:`_REFUSED_NODES`); no function that reads files or other
  databases (:data:`FILE_FUNCTIONS`, anywhere) and no other table function in ``FROM`` than the
  generators of :data:`TABLE_FUNCTIONS`; every table it reads is a table of the row's
  ``source_datastore`` (:func:`fabgen_runtime.query_guard.relation_problem`, the rule both engines
  apply at run time), so ``delta.`/path```, ``parquet.`...``` and ``FROM 'file.parquet'`` are refused.
* :func:`translation_problems` (``engine: python`` only): what DuckDB cannot run as Spark runs it,
  each naming the construct and its line:column: what sqlglot cannot translate
  (``UnsupportedError`` at ``ErrorLevel.RAISE``), a function DuckDB lacks (when DuckDB is
  installed: its ``duckdb_functions()``), time travel (``VERSION AS OF``), and a computed output
  column without a name (Spark and DuckDB name ``upper(s)`` differently).
* :func:`duckdb_sql`: the DuckDB text with every table replaced by the name it is registered
  under in DuckDB (aliased as the table, so ``orders.amount`` still resolves), and Spark's
  ``from_utc_timestamp`` / ``to_utc_timestamp`` translated for a session in UTC (sqlglot's own
  translation shifts the wrong way), ``date_add``/``date_sub``/``add_months`` kept dates.

sqlglot is the Python notebook kernel's (30.x) and a dependency of the generator; the runtime
imports it only here, under ``engines/python`` (Fabric's Spark runtimes lack it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from functools import cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, TokenError, UnsupportedError

from ... import query_guard

log = logging.getLogger(__name__)

Parts = tuple[str, ...]
HINT = "use engine: spark for this export"

# functions that read files, URLs or other databases (DuckDB's and Spark's), refused anywhere
_FILE_FUNCTION_NAMES = (
    "read_parquet parquet_scan read_csv read_csv_auto csv_scan sniff_csv read_json read_json_auto "
    "read_json_objects read_json_objects_auto read_ndjson read_ndjson_auto read_ndjson_objects "
    "read_text read_blob read_files read_xlsx glob delta_scan iceberg_scan iceberg_metadata "
    "iceberg_snapshots parquet_metadata parquet_schema parquet_file_metadata parquet_kv_metadata "
    "parquet_bloom_probe sqlite_scan sqlite_attach postgres_scan postgres_attach postgres_query "
    "mysql_scan mysql_query query query_table st_read httpfs load_extension getenv"
)
FILE_FUNCTIONS = frozenset(_FILE_FUNCTION_NAMES.split())
#: table functions a query may call in FROM: generators reading no storage
_TABLE_FUNCTION_NAMES = (
    "range explode explode_outer posexplode posexplode_outer inline inline_outer stack unnest"
)
TABLE_FUNCTIONS = frozenset(_TABLE_FUNCTION_NAMES.split())
# sqlglot nodes that are not part of a read-only query (looked up by name: versions differ).
_REFUSED_NODE_NAMES = (
    "Insert Update Delete Merge Create Drop Alter AlterColumn TruncateTable Command Set Use Cache "
    "Uncache Copy Pragma Transaction Commit Rollback LoadData Refresh Describe Show Analyze Grant "
    "Revoke Into Attach Detach Install Summarize Kill Declare Execute ExecuteSql"
)
_BASE: type = getattr(exp, "Expr", None) or exp.Expression  # sqlglot 30.x's base (older: Expression)
_REFUSED_NODES: tuple[type, ...] = tuple(
    node
    for node in (getattr(exp, name, None) for name in _REFUSED_NODE_NAMES.split())
    if isinstance(node, type) and issubclass(node, _BASE)
)
_NAMED_OUTPUTS = (exp.Alias, exp.Column, exp.Star)


class QueryTextError(ValueError):
    """The text is not one Spark SQL query sqlglot can parse."""


def parse(query: str) -> exp.Expr:
    """The one statement of ``query`` (Spark SQL); :class:`QueryTextError` otherwise."""
    try:
        statements = [s for s in sqlglot.parse(query, read="spark") if s is not None]
    except (ParseError, TokenError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise QueryTextError(f"is not Spark SQL sqlglot can parse: {first}") from None
    if len(statements) != 1:
        raise QueryTextError(f"must be one query, found {len(statements)} statements")
    return statements[0]


def _name(node: exp.Expr) -> str:
    """A function's name as written in Spark SQL, lower case (``read_parquet``, ``array_sort``)."""
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return type(node).__name__.lower()


def position(query: str, node: exp.Expr, word: str | None = None) -> str:
    """``line L, column C`` of ``node`` in ``query`` (its first token named ``word``), or ""."""
    meta = node.meta if isinstance(node.meta, dict) else {}
    if isinstance(meta.get("start"), int):
        start = int(meta["start"])
        return f"line {query.count(chr(10), 0, start) + 1}, column {start - query.rfind(chr(10), 0, start)}"
    wanted = (word or _name(node)).lower()
    try:
        tokens = sqlglot.tokenize(query, read="spark")
    except TokenError:
        return ""
    for token in tokens:
        if token.text.lower() == wanted:
            return f"line {token.line}, column {token.col - len(token.text) + 1}"
    return ""


def _at(query: str, node: exp.Expr, word: str | None = None) -> str:
    where = position(query, node, word)
    return f" at {where}" if where else ""


def cte_names(tree: exp.Expr) -> set[str]:
    """The names of the query's common table expressions (lower case)."""
    return {str(cte.alias).lower() for cte in tree.find_all(exp.CTE) if cte.alias}


def table_parts(table: exp.Table) -> Parts | None:
    """A table reference's name parts (``("dbo", "orders")``); None for a table function."""
    if isinstance(table.this, exp.Dot):  # four or more parts: a.b.c.d
        dotted = [p.name for p in table.this.flatten()] if hasattr(table.this, "flatten") else []
        head = [table.args[k].name for k in ("catalog", "db") if table.args.get(k)]
        return tuple(head + dotted) if dotted else (*head, table.this.sql())
    if not isinstance(table.this, exp.Identifier):
        return None
    return tuple(p.name for p in table.parts)


def _table_function(table: exp.Table) -> exp.Expr | None:
    """The function a ``FROM`` item calls (``read_parquet('x')``, ``range(3)``); None for a table."""
    return table.this if isinstance(table.this, exp.Func) else None


def _start(table: exp.Table) -> int:
    """Where a table reference starts in the text (its last name part's offset; unknown: last)."""
    meta = table.this.meta if isinstance(table.this, exp.Identifier) else {}
    start = meta.get("start") if isinstance(meta, dict) else None
    return start if isinstance(start, int) else 1 << 62


def relations(tree: exp.Expr) -> list[Parts]:
    """The tables ``tree`` reads, as name parts in the order they are written (CTE names left out)."""
    ctes = cte_names(tree)
    found: list[Parts] = []
    for table in sorted(tree.find_all(exp.Table), key=_start):
        parts = table_parts(table)
        if parts is None or (len(parts) == 1 and parts[0].lower() in ctes):
            continue
        if parts not in found:
            found.append(parts)
    return found


def read_only_problems(query: str, lakehouse: str | None) -> list[str]:
    """Why ``query`` is not one read-only Spark SQL query of tables of ``lakehouse``; [] when it is."""
    try:
        tree = parse(query)
    except QueryTextError as exc:
        return [str(exc)]
    problems: list[str] = []
    if not isinstance(tree, exp.Query):
        problems.append(f"must be a SELECT query (WITH allowed), not {tree.key.upper()}")
    for node in tree.walk():
        if isinstance(node, _REFUSED_NODES):
            problems.append(f"is read-only: {node.key.upper()}{_at(query, node, node.key)} is not allowed")
    for node in tree.find_all(exp.Func):
        name = _name(node)
        if name in FILE_FUNCTIONS:
            problems.append(f"reads files with {name}(...){_at(query, node)}: name a table of the lakehouse")
    for table in tree.find_all(exp.Table):
        function = _table_function(table)
        if function is not None:
            name = _name(function)
            if name not in FILE_FUNCTIONS and name not in TABLE_FUNCTIONS:
                problems.append(
                    f"calls the table function {name}(...){_at(query, function)}: "
                    "a query reads tables of its lakehouse"
                )
    problems += [p for p in (query_guard.relation_problem(r, lakehouse) for r in relations(tree)) if p]
    return list(dict.fromkeys(problems))


# --------------------------------------------------------------------------- translation (python engine)


def _unsupported(node: exp.Expr) -> str | None:
    """sqlglot's reason it cannot write ``node`` for DuckDB, None when it can."""
    try:
        node.sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as exc:
        return str(exc).strip() or "not supported"
    return None


@cache
def duckdb_functions() -> frozenset[str] | None:
    """The function names DuckDB knows (lower case); None where DuckDB is not installed."""
    try:
        import duckdb
    except ImportError:
        log.warning("DuckDB is not installed here: function names of lakehouse queries not checked")
        return None
    with duckdb.connect() as con:
        rows = con.execute("SELECT DISTINCT lower(function_name) FROM duckdb_functions()").fetchall()
    return frozenset(str(row[0]) for row in rows)


def _output_columns(tree: exp.Expr) -> list[exp.Expr]:
    """The projections that name the result's columns (a set operation's first SELECT)."""
    while isinstance(tree, exp.SetOperation):
        tree = tree.left
    if isinstance(tree, exp.Subquery):
        return _output_columns(tree.this)
    return list(tree.expressions) if isinstance(tree, exp.Select) else []


def translation_problems(query: str) -> list[str]:
    """What of ``query`` DuckDB cannot run as Spark does, each with its position; [] when all can."""
    try:
        tree = parse(query)
    except QueryTextError as exc:
        return [str(exc)]
    problems: list[str] = []
    for node in tree.walk():
        if isinstance(node, exp.Func) and not isinstance(node, exp.Anonymous):
            reason = _unsupported(node)
            if reason and not any(isinstance(c, exp.Func) and _unsupported(c) for c in _children(node)):
                problems.append(f"{_name(node)}(...){_at(query, node)} has no DuckDB translation: {reason}")
        if isinstance(node, exp.Table) and (node.args.get("version") or node.args.get("when")):
            problems.append(f"reads {node.sql(dialect='spark')}{_at(query, node)}: time travel")
    known = duckdb_functions()
    for node in tree.find_all(exp.Anonymous):
        name = str(node.name).lower()
        if known is not None and name not in known:
            problems.append(f"{name}(...){_at(query, node)} is a function DuckDB does not have")
    for column in _output_columns(tree):
        if not isinstance(column, _NAMED_OUTPUTS):
            text = column.sql(dialect="spark")
            problems.append(
                f"the result column {text[:60]}{_at(query, column, _first_word(column))} has no name "
                "(Spark and DuckDB name it differently): give it one with AS"
            )
    if not problems:
        reason = _unsupported(tree)
        if reason:
            problems.append(f"has no DuckDB translation: {reason}")
    return [f"{p}; {HINT}" for p in dict.fromkeys(problems)]


def _children(node: exp.Expr) -> Iterator[exp.Expr]:
    walked = node.walk()
    next(walked)  # the node itself
    yield from walked


def _first_word(node: exp.Expr) -> str:
    text = node.sql(dialect="spark")
    return text.split("(", 1)[0].split(" ", 1)[0] or text


# --------------------------------------------------------------------------- DuckDB text


def _timestamptz() -> exp.DataType:
    return exp.DataType.build("TIMESTAMPTZ")


def _from_utc(value: exp.Expr, zone: exp.Expr) -> exp.Expr:
    """Spark's ``from_utc_timestamp(ts, zone)`` in DuckDB (session time zone UTC): the zone's wall
    time of the instant, as an instant read in UTC."""
    wall = exp.AtTimeZone(this=exp.Cast(this=value, to=_timestamptz()), zone=zone)
    return exp.Cast(this=wall, to=_timestamptz())


def _to_utc(value: exp.Expr, zone: exp.Expr) -> exp.Expr:
    """Spark's ``to_utc_timestamp(ts, zone)``: the UTC wall time of ``ts`` read as the zone's wall time."""
    utc_wall = exp.Cast(this=value, to=exp.DataType.build("TIMESTAMP"))
    return exp.Cast(this=exp.AtTimeZone(this=utc_wall, zone=zone), to=_timestamptz())


def _spark_zone_functions(node: exp.Expr) -> exp.Expr:
    """sqlglot parses Spark's ``from_utc_timestamp`` as AtTimeZone over a cast and
    ``to_utc_timestamp`` as FromTimeZone; both are rewritten with their Spark meaning."""
    if isinstance(node, exp.AtTimeZone):
        inner = node.this
        value = inner.this if isinstance(inner, exp.Cast) else inner
        return _from_utc(value, node.args["zone"])
    if isinstance(node, exp.FromTimeZone):
        inner = node.this
        value = inner.this if isinstance(inner, exp.Cast) else inner
        return _to_utc(value, node.args["zone"])
    return node


_DATE_ARITHMETIC: tuple[type[exp.Expr], ...] = tuple(
    node
    for node in (getattr(exp, name, None) for name in ("TsOrDsAdd", "AddMonths"))
    if isinstance(node, type)
)


def _dates_stay_dates(tree: exp.Expr) -> None:
    """Spark's ``date_add``/``date_sub``/``add_months`` return a date; sqlglot writes them as
    ``date + INTERVAL``, a timestamp in DuckDB: cast back to DATE (in place)."""
    found: list[exp.Expr] = list(tree.find_all(*_DATE_ARITHMETIC))
    for node in found:
        node.replace(exp.Cast(this=node.copy(), to=exp.DataType.build("DATE")))


def duckdb_sql(tree: exp.Expr, names: Mapping[int, str], materialize: bool = False) -> str:
    """``tree`` as DuckDB SQL, each table reference ``t`` (by ``id(t)``) read from ``names[id(t)]``.

    A reference without an alias keeps its table name as alias. ``materialize`` marks every CTE
    ``MATERIALIZED`` (a source that can be scanned once must not be read by an inlined CTE twice).
    Raises ``UnsupportedError`` for what sqlglot cannot translate.
    """
    copy = tree.copy()
    originals = list(tree.find_all(exp.Table))
    copies = list(copy.find_all(exp.Table))
    for original, table in zip(originals, copies, strict=True):
        name = names.get(id(original))
        if name is None:
            continue
        alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(table.name))
        replacement = exp.Table(this=exp.to_identifier(name, quoted=True), alias=alias)
        table.replace(replacement)
    if materialize:
        for cte in copy.find_all(exp.CTE):
            cte.set("materialized", True)
    _dates_stay_dates(copy)
    copy = copy.transform(_spark_zone_functions)
    return copy.sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)


def needed_columns(tree: exp.Expr, columns_of: Mapping[Parts, list[str]]) -> dict[Parts, list[str]] | None:
    """The columns of each table (keys: lower-case name parts) the query reads; None when unknown.

    sqlglot qualifies every column against the tables' columns (stars expanded) on a copy in which
    each table is renamed to one canonical name; when it cannot (a column it cannot place), the
    caller reads every column.
    """
    from sqlglot.optimizer.qualify import qualify

    copy = tree.copy()
    ctes = cte_names(tree)
    canonical: dict[Parts, str] = {}
    for table in list(copy.find_all(exp.Table)):
        parts = table_parts(table)
        key = tuple(p.lower() for p in parts) if parts else None
        if key is None or key not in columns_of or (len(key) == 1 and key[0] in ctes):
            continue
        name = canonical.setdefault(key, f"fabgen_t{len(canonical)}")
        alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(table.name))
        table.replace(exp.Table(this=exp.to_identifier(name), alias=alias))
    schema: dict[str, object] = {
        name: {c: "STRING" for c in columns_of[key]} for key, name in canonical.items()
    }
    try:
        qualified = qualify(copy, schema=dict(schema), dialect="spark")
    except Exception as exc:  # sqlglot raises OptimizeError and others: every column is read then
        log.info("the query's columns are not pruned (every column is read): %s", exc)
        return None
    key_of = {name: key for key, name in canonical.items()}
    by_alias: dict[str, Parts] = {}
    for table in qualified.find_all(exp.Table):
        key = key_of.get(table.name.lower())
        if key is not None:
            by_alias[table.alias_or_name.lower()] = key
    used: dict[Parts, set[str]] = {key: set() for key in canonical}
    for column in qualified.find_all(exp.Column):
        owner = by_alias.get(column.table.lower()) if column.table else None
        if owner is not None:
            used[owner].add(column.name.lower())
    return {key: [c for c in columns_of[key] if c.lower() in names] for key, names in used.items()}
