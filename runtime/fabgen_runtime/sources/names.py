"""Table names in a Spark SQL query: find the relations it reads and point them at pinned views.

A lakehouse ``source_query`` (and ``period_date_query``) names tables as ``schema.table``,
``lakehouse.schema.table`` or a bare ``table`` (in the export's schema). Spark's own parser lists
the relations (:func:`relations_from_tree` reads its unresolved plan), and :func:`rewrite` replaces
each occurrence in the text, outside string literals, comments and quoted names, with a temporary
view over the Delta table at a pinned version. A reference without an alias keeps its table name as
alias (``dbo.orders`` becomes ``fabgen_v AS orders``), so ``orders.amount`` still resolves. Bare
names are only replaced right after ``FROM`` or ``JOIN``; qualify tables in comma joins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .. import sql_lexer
from ..config import IDENTIFIER
from ..sql_lexer import Token

_RELATION = re.compile(r"UnresolvedRelation \[([^\]]*)\]")
_CTE = re.compile(r"^\s*(?:[:|+\- ]*)CTE \[([^\]]*)\]", re.MULTILINE)

# Words that can follow a table reference and are not an alias.
_NOT_ALIAS_WORDS = (
    "where join inner left right full cross outer semi anti natural on using group order having limit "
    "union except intersect minus window cluster distribute sort lateral pivot unpivot tablesample "
    "version timestamp for offset qualify with select from into values when then else end"
)
_NOT_ALIAS = frozenset(_NOT_ALIAS_WORDS.split(" "))


def tokenize(sql: str) -> list[Token]:
    """Spark SQL as tokens (:mod:`fabgen_runtime.sql_lexer` with Spark's rules)."""
    return sql_lexer.tokenize(sql, sql_lexer.SPARK)


_GAP = ("space", "comment")  # what may stand between the parts of a dotted name


def relations_from_tree(tree: str) -> tuple[list[tuple[str, ...]], set[str]]:
    """Relations (name parts) and CTE names from Spark's unresolved plan ``treeString()``."""
    relations: list[tuple[str, ...]] = []
    for match in _RELATION.finditer(tree):
        parts = tuple(p.strip() for p in match.group(1).split(","))
        if parts not in relations:
            relations.append(parts)
    ctes = {name.strip().lower() for m in _CTE.finditer(tree) for name in m.group(1).split(",")}
    return relations, ctes


def plain(parts: tuple[str, ...]) -> bool:
    """True when every part is a plain identifier (letters, digits, underscore)."""
    return all(IDENTIFIER.match(p) for p in parts)


def _next(tokens: list[Token], index: int, step: int) -> int | None:
    """Index of the nearest token before (step -1) or after (+1) ``index`` that is not white space."""
    index += step
    while 0 <= index < len(tokens):
        if tokens[index].kind not in _GAP:
            return index
        index += step
    return None


def _significant(tokens: list[Token], index: int, step: int) -> Token | None:
    found = _next(tokens, index, step)
    return None if found is None else tokens[found]


def rewrite(sql: str, views: Mapping[tuple[str, ...], str]) -> str:
    """Replace each reference to a relation in ``views`` (keys lower-case name parts) with its view.

    Multi-part names are replaced wherever they appear as a whole dotted name; one-part names only
    after ``FROM`` or ``JOIN``. A reference without an alias gets its last name part as alias.
    """
    tokens = tokenize(sql)
    out: list[str] = []
    pos = 0
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.kind not in ("word", "name"):
            i += 1
            continue
        before = _significant(tokens, i, -1)
        if before is not None and before.kind == "dot":
            i += 1
            continue
        # Collect the dotted name starting here (white space around dots allowed).
        parts, j, last = [tok.name], i, i
        while True:
            dot = _next(tokens, last, 1)
            if dot is None or tokens[dot].kind != "dot":
                break
            nxt = _next(tokens, dot, 1)
            if nxt is None or tokens[nxt].kind not in ("word", "name"):
                break
            last = nxt
            parts.append(tokens[nxt].name)
        key = tuple(p.lower() for p in parts)
        view = views.get(key)
        if view and len(parts) == 1:
            prev = before.text.lower() if before is not None else ""
            view = view if prev in ("from", "join") else None
        if view:
            following = _significant(tokens, last, 1)
            has_alias = following is not None and (
                following.kind == "name"
                or (following.kind == "word" and following.text.lower() not in _NOT_ALIAS)
                or (following.kind == "word" and following.text.lower() == "as")
            )
            alias = "" if has_alias else f" AS `{parts[-1].replace('`', '``')}`"
            out.append(sql[pos : tokens[j].start])
            out.append(f"`{view}`{alias}")
            pos = tokens[last].end
        i = last + 1
    out.append(sql[pos:])
    return "".join(out)
