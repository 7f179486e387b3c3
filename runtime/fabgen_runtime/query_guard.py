"""Query mode is read-only: a ``source_query`` / ``period_date_query`` is one query, never a command.

Two layers:

* :func:`static_problems` (no JVM; run by ``fabgen validate`` on the pattern and again when each
  run's plan is built on the rendered text): exactly one statement, starting with ``SELECT`` or
  ``WITH``, and none of the words that write, run code or read files outside the source
  (:data:`FORBIDDEN_WORDS`) outside string literals, comments and quoted names. A lakehouse
  (Spark SQL) query also reads only tables: the names after ``FROM``, ``JOIN``, a comma of a
  ``FROM`` list or ``TABLE`` (:func:`static_relations`) must pass :func:`relation_problem`, and
  it calls no file reader (:data:`FILE_FUNCTIONS`) and no ``IDENTIFIER(...)`` in place of a table.
* :func:`fabgen_runtime.engines.spark.query_plan.spark_relations` (lakehouse, at run time, before
  anything executes): Spark's own parser turns the query into its unresolved logical plan; any
  node that is a command (``org.apache.spark.sql.catalyst.plans.logical.Command``), a parsed
  statement (``INSERT``), an ``IDENTIFIER(...)`` table reference or ``EXECUTE IMMEDIATE`` is
  refused, and the tables the plan reads are returned as name parts. :func:`check_relations`
  then refuses them by the same :func:`relation_problem` as the static check: path-based
  (``delta.`/path```, ``parquet.`...```) and other non-plain names, and tables of lakehouses
  other than the row's ``source_datastore``.

Warehouses add a run-time layer in the connection: locally (PostgreSQL) every JDBC session opens
read-only (:data:`POSTGRES_READ_ONLY_OPTIONS`), and Spark's JDBC reader runs the query as a derived table.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from . import sql_lexer
from .errors import ConfigError, ConfigIssue, QueryRefusedError

# Words refused anywhere in a query (outside literals, comments and quoted names): statements
# that write or change state (also as PostgreSQL data-modifying CTEs and SELECT ... INTO), and
# functions that run arbitrary code or read files or other servers.
_WRITE_WORDS = (
    "insert update delete merge upsert into drop create alter truncate grant revoke exec execute call copy"
)
_SPARK_WORDS = "reflect java_method try_reflect"
_POSTGRES_WORDS = (
    "pg_read_file pg_read_binary_file pg_ls_dir pg_stat_file lo_import lo_export dblink dblink_exec "
    "pg_terminate_backend pg_cancel_backend set_config"
)
_TSQL_WORDS = "openrowset openquery opendatasource xp_cmdshell sp_executesql"
FORBIDDEN_WORDS: dict[str, frozenset[str]] = {
    "spark": frozenset((_WRITE_WORDS + " " + _SPARK_WORDS).split()),
    "postgres": frozenset((_WRITE_WORDS + " " + _POSTGRES_WORDS).split()),
    "tsql": frozenset((_WRITE_WORDS + " " + _TSQL_WORDS).split()),
    # validate does not know which warehouse dialect will run the query: both lists apply.
    "warehouse": frozenset(f"{_WRITE_WORDS} {_POSTGRES_WORDS} {_TSQL_WORDS}".split()),
}
QUERY_STARTS = ("select", "with")
# Spark JDBC options for PostgreSQL: the driver's ``options`` startup parameter makes every
# transaction of the session read-only (also the schema probe Spark runs before reading), and
# ``sessionInitStatement`` sets it again, as a statement, before each partition's read.
POSTGRES_READ_ONLY_OPTIONS = {
    "options": "-c default_transaction_read_only=on",
    "sessionInitStatement": "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
}

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Spark's file data sources (``<source>.`<path>``` reads files) and what marks a name as a path.
_FILE_SOURCE_NAMES = "delta parquet csv json text orc avro xml binaryfile image libsvm"
_FILE_SOURCES = frozenset(_FILE_SOURCE_NAMES.split())
_PATHLIKE = re.compile(r"[/\\:]")
# Table functions that read files rather than tables (read_files: Databricks SQL's file reader),
# refused wherever they are called.
FILE_FUNCTIONS = frozenset({"read_files"})
# Words of a Spark query after which (at the same parenthesis depth) no more tables of the FROM
# list follow; a FROM counts only where the same depth had a SELECT (``EXTRACT(YEAR FROM d)`` does not).
_FROM_LIST_END_WORDS = (
    "where group having order limit offset union except intersect minus window qualify cluster "
    "distribute sort pivot unpivot"
)
_FROM_LIST_ENDS = frozenset(_FROM_LIST_END_WORDS.split())
# What may stand before ``TABLE t`` (a query of one table): an opening parenthesis or a set operator.
_BEFORE_TABLE_WORDS = "( union except intersect minus all distinct"
_BEFORE_TABLE = frozenset(_BEFORE_TABLE_WORDS.split())


# --------------------------------------------------------------------------- static (no JVM)


def _words(sql: str, dialect: str) -> Iterator[tuple[str, str]]:
    """``(kind, text)`` tokens outside literals, comments and quoted names: ``word``, ``;``, ``(``, other."""
    for token in sql_lexer.tokenize(sql, sql_lexer.RULES.get(dialect, sql_lexer.SPARK)):
        if token.kind == "string":
            yield "literal", ""
        elif token.kind == "name":
            yield "name", ""
        elif token.kind == "word":
            yield "word", token.text.lower()
        elif token.kind in ("number", "dot", "symbol"):
            yield token.text, token.text


def static_problems(query: str, dialect: str, lakehouse: str | None = None) -> list[str]:
    """Why ``query`` is not one read-only query in ``dialect``; [] when it is.

    ``dialect`` is spark, postgres, tsql, or warehouse (either warehouse dialect: validate's view).
    A spark query must also read only tables (:func:`read_problems`); with ``lakehouse`` (the row's
    ``source_datastore``) three-part names must name it.
    """
    statements: list[list[tuple[str, str]]] = [[]]
    previous = ""
    forbidden = FORBIDDEN_WORDS.get(dialect, FORBIDDEN_WORDS["spark"])
    found: list[str] = []
    for kind, text in _words(query, dialect):
        if kind == ";":
            statements.append([])
            continue
        statements[-1].append((kind, text))
        if kind == "word" and text in forbidden and previous != "." and text not in found:
            found.append(text)
        previous = kind
    statements = [s for s in statements if s]
    problems = []
    if len(statements) > 1:
        problems.append(f"must be one query, found {len(statements)} statements (separated by ';')")
    if statements:
        first = next((text for kind, text in statements[0] if kind != "("), "")
        if first not in QUERY_STARTS:
            problems.append(f"must be a query starting with SELECT or WITH, not {first.upper() or 'this'}")
    else:
        problems.append("holds no query")
    if found:
        words = ", ".join(w.upper() for w in found)
        problems.append(
            f"is read-only: {words} is not allowed in an export query (quote a column of that name)"
        )
    if dialect == "spark":
        problems += [p for p in read_problems(query, lakehouse) if p not in problems]
    return problems


def check_static(query: str, dialect: str, export: str, field: str, lakehouse: str | None = None) -> None:
    """Raise ``ConfigError`` naming ``export`` and ``field`` when ``query`` is not one read-only query
    (of tables of ``lakehouse``, for a lakehouse source)."""
    problems = static_problems(query, dialect, lakehouse)
    if problems:
        raise ConfigError([ConfigIssue(export, field, problem) for problem in problems])


# --------------------------------------------------------------------------- what a Spark query reads


def _label(parts: tuple[str, ...]) -> str:
    """Name parts as Spark SQL text (a part that is not a plain identifier in backquotes)."""
    return ".".join(p if _PLAIN.match(p) else "`" + p.replace("`", "``") + "`" for p in parts)


def _name_a_table(lakehouse: str | None) -> str:
    qualified = f"{lakehouse or '<source_datastore>'}.schema.table"
    where = f" {lakehouse}" if lakehouse else ""
    return f"name a table of the source lakehouse{where} (table, schema.table or {qualified})"


def relation_problem(parts: tuple[str, ...], lakehouse: str | None) -> str | None:
    """Why a lakehouse query may not read the table reference ``parts``; None when it may.

    The one rule for a relation, applied by ``fabgen validate`` (:func:`static_problems`) and by the
    run on Spark's parsed plan (:func:`check_relations`). Without ``lakehouse`` a three-part name is
    not judged.
    """
    label = _label(parts)
    plain = all(_PLAIN.match(p) for p in parts)
    if len(parts) == 2 and not plain and (parts[0].lower() in _FILE_SOURCES or _PATHLIKE.search(parts[1])):
        # Spark reads <data source>.`<path>` as files (delta, parquet, csv, json, text, orc, binaryFile...).
        return f"reads the path {label} (a file path, not a table): {_name_a_table(lakehouse)}"
    if len(parts) > 3:
        return f"reads {label}, a name of {len(parts)} parts: {_name_a_table(lakehouse)}"
    if not plain:
        return f"reads {label}, not a table name of plain identifiers: {_name_a_table(lakehouse)}"
    if lakehouse is not None and len(parts) == 3 and parts[0].lower() != lakehouse.lower():
        return (
            f"reads the table {label}, outside the source lakehouse {lakehouse!r} "
            "(a query reads only its row's source_datastore)"
        )
    return None


@dataclass
class _Depth:
    """What a scan of a Spark query knows about one parenthesis depth."""

    first: bool = True  # no token seen yet at this depth
    select: bool = False  # a SELECT seen: FROM here starts a FROM list
    from_list: bool = False  # inside a FROM list: a comma here starts another table


def static_relations(query: str) -> tuple[list[tuple[str, ...]], list[str], list[str]]:
    """What a Spark query reads, from its text: table names, file functions called, IDENTIFIER tables.

    Tables are the dotted names (parts unquoted) right after ``FROM``, ``JOIN``, a comma of a FROM
    list, ``TABLE`` (after ``(`` or a set operator) or an opening parenthesis in their place, outside
    string literals, comments and quoted names. A name followed by ``(`` is a table function.
    """
    tokens = [t for t in sql_lexer.tokenize(query, sql_lexer.SPARK) if t.kind not in ("space", "comment")]
    relations: list[tuple[str, ...]] = []
    functions: list[str] = []
    identifiers: list[str] = []
    depths = [_Depth()]
    expect = False  # a table reference may come next
    i = 0
    while i < len(tokens):
        tok, depth = tokens[i], depths[-1]
        prev = tokens[i - 1] if i else None
        first, depth.first = depth.first, False
        keyword = tok.text.lower() if tok.kind == "word" and (prev is None or prev.kind != "dot") else ""
        if tok.text == "(":
            depths.append(_Depth())  # keeps ``expect``: FROM (dbo.t) / FROM (SELECT ...)
        elif tok.text == ")":
            if len(depths) > 1:
                depths.pop()
            expect = False
        elif tok.text == ",":
            expect = depth.from_list
        elif keyword == "select":
            depth.select, depth.from_list, expect = True, False, False
        elif keyword == "from":
            depth.from_list = expect = depth.select or first
        elif keyword == "join" or (
            keyword == "table" and (prev is None or prev.text.lower() in _BEFORE_TABLE)
        ):
            expect = True
        elif keyword == "lateral":
            if tokens[i + 1 : i + 2] and tokens[i + 1].text.lower() == "view":
                depth.from_list = expect = False  # LATERAL VIEW f(...) t AS a, b: no tables after it
        elif keyword in _FROM_LIST_ENDS:
            depth.from_list = expect = False
        elif tok.kind in ("word", "name"):
            parts, end = _dotted(tokens, i)
            if tokens[end : end + 1] and tokens[end].text == "(":  # a function call
                if parts[-1].lower() in FILE_FUNCTIONS:
                    functions.append(parts[-1].lower())
                elif expect and parts[-1].lower() == "identifier":
                    identifiers.append(_label(parts))
            elif expect and parts not in relations:
                relations.append(parts)
            expect, i = False, end
            continue
        else:
            expect = False
        i += 1
    return relations, functions, identifiers


def _dotted(tokens: list[sql_lexer.Token], start: int) -> tuple[tuple[str, ...], int]:
    """The dotted name starting at ``tokens[start]`` (parts unquoted) and the index after it."""
    parts = [tokens[start].name]
    i = start + 1
    while i + 1 < len(tokens) and tokens[i].kind == "dot" and tokens[i + 1].kind in ("word", "name"):
        parts.append(tokens[i + 1].name)
        i += 2
    return tuple(parts), i


def read_problems(query: str, lakehouse: str | None = None) -> list[str]:
    """Why a lakehouse (Spark SQL) query reads something other than tables of its lakehouse; [] when not."""
    relations, functions, identifiers = static_relations(query)
    problems = [p for p in (relation_problem(parts, lakehouse) for parts in relations) if p]
    problems += [
        f"reads files with {name}(...) (a file reader, not a table): {_name_a_table(lakehouse)}"
        for name in dict.fromkeys(functions)
    ]
    problems += [
        f"names a table with {name}(...), which the run refuses: write the table's name"
        for name in dict.fromkeys(identifiers)
    ]
    return list(dict.fromkeys(problems))


def check_relations(relations: list[tuple[str, ...]], lakehouse: str, export: str) -> None:
    """Refuse path-based and non-plain table names, and tables of lakehouses other than ``lakehouse``.

    The rule is :func:`relation_problem`, the one ``fabgen validate`` applies to the query's text.
    """
    for parts in relations:
        problem = relation_problem(parts, lakehouse)
        if problem:
            raise QueryRefusedError(f"the query {problem}", export)
