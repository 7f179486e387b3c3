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
from dataclasses import dataclass

from ..config import IDENTIFIER

_RELATION = re.compile(r"UnresolvedRelation \[([^\]]*)\]")
_CTE = re.compile(r"^\s*(?:[:|+\- ]*)CTE \[([^\]]*)\]", re.MULTILINE)

# Words that can follow a table reference and are not an alias.
_NOT_ALIAS_WORDS = (
    "where join inner left right full cross outer semi anti natural on using group order having limit "
    "union except intersect minus window cluster distribute sort lateral pivot unpivot tablesample "
    "version timestamp for offset qualify with select from into values when then else end"
)
_NOT_ALIAS = frozenset(_NOT_ALIAS_WORDS.split(" "))


@dataclass(frozen=True)
class Token:
    """One token of a query."""

    kind: str  # ident | qident | dot | ws | other
    text: str
    start: int
    end: int

    @property
    def name(self) -> str:
        """The identifier's name (backticks removed, doubled backticks undone)."""
        return self.text[1:-1].replace("``", "`") if self.kind == "qident" else self.text


def tokenize(sql: str) -> list[Token]:
    """Split Spark SQL into identifiers, dots, white space/comments and everything else."""
    tokens: list[Token] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        start = i
        if ch in "'\"":
            i += 1
            while i < n and sql[i] != ch:
                i += 2 if sql[i] == "\\" else 1
            tokens.append(Token("other", sql[start : i + 1], start, min(i + 1, n)))
            i += 1
        elif ch == "`":
            i += 1
            while i < n and not (sql[i] == "`" and sql[i + 1 : i + 2] != "`"):
                i += 2 if sql[i] == "`" else 1
            tokens.append(Token("qident", sql[start : i + 1], start, min(i + 1, n)))
            i += 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end
            tokens.append(Token("ws", sql[start:i], start, i))
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
            tokens.append(Token("ws", sql[start:i], start, i))
        elif ch.isspace():
            while i < n and sql[i].isspace():
                i += 1
            tokens.append(Token("ws", sql[start:i], start, i))
        elif ch.isalpha() or ch == "_":
            while i < n and (sql[i].isalnum() or sql[i] == "_"):
                i += 1
            tokens.append(Token("ident", sql[start:i], start, i))
        elif ch.isdigit():
            while i < n and (sql[i].isalnum() or sql[i] in "._"):
                i += 1
            tokens.append(Token("other", sql[start:i], start, i))
        elif ch == ".":
            tokens.append(Token("dot", ".", i, i + 1))
            i += 1
        else:
            tokens.append(Token("other", ch, i, i + 1))
            i += 1
    return tokens


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
        if tokens[index].kind != "ws":
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
        if tok.kind not in ("ident", "qident"):
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
            if nxt is None or tokens[nxt].kind not in ("ident", "qident"):
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
                following.kind == "qident"
                or (following.kind == "ident" and following.text.lower() not in _NOT_ALIAS)
                or (following.kind == "ident" and following.text.lower() == "as")
            )
            alias = "" if has_alias else f" AS `{parts[-1].replace('`', '``')}`"
            out.append(sql[pos : tokens[j].start])
            out.append(f"`{view}`{alias}")
            pos = tokens[last].end
        i = last + 1
    out.append(sql[pos:])
    return "".join(out)
