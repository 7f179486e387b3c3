"""The one SQL lexer behind the read-only check, placeholder contexts and table-name rewriting."""

from __future__ import annotations

import itertools

import pytest
from fabgen_runtime import sql
from fabgen_runtime.sql_lexer import POSTGRES, RULES, SPARK, TSQL, tokenize


def kinds(text: str, rules) -> list[tuple[str, str]]:
    return [(t.kind, t.text) for t in tokenize(text, rules) if t.kind not in ("space",)]


@pytest.mark.parametrize("rules", list(RULES.values()), ids=list(RULES))
@pytest.mark.parametrize(
    "text",
    [
        "SELECT 'a''b' AS x -- c\n FROM t /* d */",
        "'unterminated",
        "/* open",
        '"x" `y` [z]',
        "$$a$$ $t$b$t$ $1",
    ],
)
def test_tokens_cover_the_text_exactly(rules, text: str) -> None:
    tokens = tokenize(text, rules)
    assert "".join(t.text for t in tokens) == text
    assert all(a.end == b.start for a, b in itertools.pairwise(tokens))


def test_spark_strings_escape_with_backslashes_and_double_quotes_are_strings() -> None:
    assert kinds(r"'it\'s' " + '"x"' + " `a``b`", SPARK) == [
        ("string", r"'it\'s'"),
        ("string", '"x"'),
        ("name", "`a``b`"),
    ]
    assert tokenize("`a``b`", SPARK)[0].name == "a`b"


def test_tsql_names_in_brackets_and_quotes() -> None:
    assert kinds('SELECT [a]]b], "c" FROM @t', TSQL) == [
        ("word", "SELECT"),
        ("name", "[a]]b]"),
        ("symbol", ","),
        ("name", '"c"'),
        ("word", "FROM"),
        ("symbol", "@"),
        ("word", "t"),
    ]
    assert tokenize("[a]]b]", TSQL)[0].name == "a]b"


def test_postgres_dollar_quoted_literals_hide_what_they_hold() -> None:
    assert kinds("SELECT $q$ DROP; $q$, $$x$$, $1", POSTGRES) == [
        ("word", "SELECT"),
        ("string", "$q$ DROP; $q$"),
        ("symbol", ","),
        ("string", "$$x$$"),
        ("symbol", ","),
        ("symbol", "$"),
        ("number", "1"),
    ]


def test_a_placeholder_in_a_dollar_quoted_literal_counts_as_outside_a_string() -> None:
    # its value is escaped for '...' literals, which would not stop it ending a $$ literal
    postgres = sql.DIALECTS["postgres"]
    assert sql._placeholder_contexts("SELECT $$ {watermark} $$, '{run_date}'", postgres) == [
        ("watermark", False),
        ("run_date", True),
    ]
