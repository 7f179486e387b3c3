"""One SQL lexer for every dialect fabgen reads: strings, quoted names, comments, words, symbols.

Three readers of SQL text share it: :mod:`fabgen_runtime.query_guard` (is a query one read-only
statement), :func:`fabgen_runtime.sql.render_query` (is a placeholder inside a string literal) and
:mod:`fabgen_runtime.sources.names` (where table names stand, to point them at pinned views).
Only the lexing rules differ by dialect (:class:`LexRules`); an unterminated string, quoted name or
comment runs to the end of the text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LexRules:
    """How one dialect quotes and comments."""

    backslash_strings: bool  # Spark: backslash escapes inside literals, and "..." is a string too
    name_quotes: Mapping[str, str] = field(default_factory=dict)  # opening -> closing quote of names
    dollar_strings: bool = False  # PostgreSQL $tag$ ... $tag$ literals
    word_chars: str = "_"  # characters besides letters and digits that continue a word


SPARK = LexRules(backslash_strings=True, name_quotes={"`": "`"})
POSTGRES = LexRules(backslash_strings=False, name_quotes={'"': '"'}, dollar_strings=True, word_chars="_$")
TSQL = LexRules(backslash_strings=False, name_quotes={'"': '"', "[": "]"}, word_chars="_$#@")
#: ``fabgen validate``'s view of a warehouse query whose dialect is not known yet: either one
WAREHOUSE = LexRules(
    backslash_strings=False, name_quotes={'"': '"', "[": "]"}, dollar_strings=True, word_chars="_$#@"
)
RULES = {"spark": SPARK, "postgres": POSTGRES, "tsql": TSQL, "warehouse": WAREHOUSE}


@dataclass(frozen=True)
class Token:
    """One token: ``kind`` is string, name (a quoted name), word, number, dot, space, comment or symbol."""

    kind: str
    text: str
    start: int
    end: int

    @property
    def name(self) -> str:
        """A word, or a quoted name without its quotes (doubled closing quotes undone)."""
        if self.kind != "name":
            return self.text
        close = self.text[-1]
        return self.text[1:-1].replace(close * 2, close)


def tokenize(sql: str, rules: LexRules) -> list[Token]:
    """Split ``sql`` into tokens under ``rules`` (every character belongs to exactly one token)."""
    tokens: list[Token] = []
    i, n = 0, len(sql)
    while i < n:
        kind, end = _token_at(sql, i, rules)
        tokens.append(Token(kind, sql[i:end], i, end))
        i = end
    return tokens


def _token_at(sql: str, i: int, rules: LexRules) -> tuple[str, int]:
    """The kind of the token starting at ``i`` and where it ends."""
    ch, n = sql[i], len(sql)
    if ch == "'" or (ch == '"' and rules.backslash_strings):
        return "string", _quoted_end(sql, i, ch, rules.backslash_strings)
    if ch in rules.name_quotes:
        return "name", _quoted_end(sql, i, rules.name_quotes[ch], False)
    if sql.startswith("--", i):
        end = sql.find("\n", i)
        return "comment", n if end < 0 else end
    if sql.startswith("/*", i):
        end = sql.find("*/", i + 2)
        return "comment", n if end < 0 else end + 2
    if ch == "$" and rules.dollar_strings:
        tag_end = _dollar_tag_end(sql, i)
        if tag_end is not None:
            tag = sql[i:tag_end]
            end = sql.find(tag, tag_end)
            return "string", n if end < 0 else end + len(tag)
    if ch.isalpha() or ch == "_":
        return "word", _run_end(sql, i, lambda c: c.isalnum() or c in rules.word_chars)
    if ch.isdigit():
        return "number", _run_end(sql, i, lambda c: c.isalnum() or c in "._")
    if ch.isspace():
        return "space", _run_end(sql, i, str.isspace)
    return ("dot" if ch == "." else "symbol"), i + 1


def _quoted_end(sql: str, i: int, close: str, backslash: bool) -> int:
    """Index after the quoted text opening at ``i`` (a doubled closing quote stays inside)."""
    j, n = i + 1, len(sql)
    while j < n:
        if backslash and sql[j] == "\\":
            j += 2
            continue
        if sql[j] == close:
            if not backslash and sql[j + 1 : j + 2] == close:
                j += 2
                continue
            return j + 1
        j += 1
    return n


def _dollar_tag_end(sql: str, i: int) -> int | None:
    """End of a ``$tag$`` opening at ``i`` (tag: empty or an identifier), else None."""
    j = i + 1
    if j < len(sql) and (sql[j].isalpha() or sql[j] == "_"):
        j = _run_end(sql, j, lambda c: c.isalnum() or c == "_")
    return j + 1 if sql[j : j + 1] == "$" else None


def _run_end(sql: str, i: int, keep: Callable[[str], bool]) -> int:
    j, n = i, len(sql)
    while j < n and keep(sql[j]):
        j += 1
    return j
