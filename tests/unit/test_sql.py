"""SQL quoting per dialect, typed auto-filters, query-mode rendering and table-name rewriting (no JVM)."""

from __future__ import annotations

from datetime import datetime

import pytest
from config_rows import base
from fabgen_runtime import sql
from fabgen_runtime.configs import parse_config
from fabgen_runtime.errors import ConfigError, SourceReadError
from fabgen_runtime.plan import RunContext, build_plan
from fabgen_runtime.sources import names, period_from_rows

SPARK, TSQL, PG = sql.DIALECTS["spark"], sql.DIALECTS["tsql"], sql.DIALECTS["postgres"]
HOSTILE = "x' OR '1'='1"
CTX = RunContext.create("2025-12-12", "UTC", "exec-1")


def row(**overrides):
    """A parsed lakehouse row ``g/e`` reading ``orders``; ``overrides`` change fields."""
    return parse_config(
        base(
            **{
                "export_group_name": "g",
                "export_name": "e",
                "source_workspace": "WS",
                "source_datastore": "lh_src",
                "target_workspace": "WS",
                "target_lakehouse": "lh_out",
                "target_path": "out",
                **overrides,
            }
        )
    )


def test_identifiers_are_quoted_per_dialect_with_the_closing_quote_doubled() -> None:
    assert SPARK.quote_identifier("a`b") == "`a``b`"
    assert TSQL.quote_identifier("a]b") == "[a]]b]"
    assert PG.quote_identifier('a"b') == '"a""b"'
    assert PG.quote_identifier("OrderDate") == '"orderdate"'  # folded like an unquoted name
    assert SPARK.qualified("dbo", "orders") == "`dbo`.`orders`"
    with pytest.raises(ValueError):
        SPARK.quote_identifier("a\x00b")


def test_string_literals_escape_for_each_dialect() -> None:
    assert SPARK.string(HOSTILE) == "'x\\' OR \\'1\\'=\\'1'"
    assert SPARK.string("a\\'b") == "'a\\\\\\'b'"  # backslash then quote: both escaped
    assert TSQL.string(HOSTILE) == "'x'' OR ''1''=''1'"
    assert PG.string(HOSTILE) == "'x'' OR ''1''=''1'"


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("42", "number"),
        ("-3.5", "number"),
        ("2025-01-31", "date"),
        ("2025-01-31T12:00:00.5", "timestamp"),
        ("2025-01-31 12:00", "timestamp"),
        ("abc", "string"),
        (HOSTILE, "string"),
        ("1e5", "number"),
    ],
)
def test_literal_kind_follows_the_text(value: str, kind: str) -> None:
    assert sql.literal_kind(value) == kind


def test_typed_literals_per_dialect() -> None:
    assert sql.typed_literal("42", SPARK) == "42"
    assert sql.typed_literal("2025-01-31", SPARK) == "DATE '2025-01-31'"
    assert sql.typed_literal("2025-01-31T12:00:00.5", SPARK) == "TIMESTAMP '2025-01-31 12:00:00.500000'"
    assert (
        sql.typed_literal("2025-01-31T12:00:00.5", TSQL)
        == "CAST('2025-01-31T12:00:00.500000' AS datetime2(6))"
    )
    assert sql.typed_literal("2025-01-31", TSQL) == "CAST('2025-01-31' AS date)"
    assert sql.typed_literal("2025-01-31 08:00:00", PG) == "TIMESTAMP '2025-01-31 08:00:00.000000'"
    # The stored column type wins over the text: a numeric-looking string column compares as a string.
    assert sql.typed_literal("0042", SPARK, "string") == "'0042'"
    assert sql.typed_literal("7", SPARK, "bigint") == "7"
    with pytest.raises(ValueError):
        sql.typed_literal(HOSTILE, SPARK, "bigint")
    with pytest.raises(ValueError):
        sql.typed_literal(HOSTILE, SPARK, "timestamp")


def test_period_ending_on_a_date_includes_the_whole_last_day() -> None:
    start, end = datetime(2025, 12, 1), datetime(2025, 12, 31)
    assert (
        sql.period_filter("ts", start, end, SPARK) == "`ts` >= DATE '2025-12-01' AND `ts` < DATE '2026-01-01'"
    )
    assert sql.period_filter("ts", start, end, TSQL) == (
        "[ts] >= CAST('2025-12-01' AS date) AND [ts] < CAST('2026-01-01' AS date)"
    )
    with_time = sql.period_filter("ts", start, datetime(2025, 12, 31, 23, 59, 59), PG)
    assert with_time == "\"ts\" BETWEEN DATE '2025-12-01' AND TIMESTAMP '2025-12-31 23:59:59.000000'"


def test_table_mode_builds_the_query_with_quoted_columns_and_filters() -> None:
    config = row(
        source_columns=["id", "amount", "modified"], extract_type="incremental", incremental_column="modified"
    )
    plan = build_plan(
        config, CTX, watermark="2025-01-01T10:00:00", dialect="spark", watermark_type="timestamp"
    )
    assert plan.source.query == (
        "SELECT `id`, `amount`, `modified` FROM `dbo`.`orders` "
        "WHERE (`modified` > TIMESTAMP '2025-01-01 10:00:00.000000' OR `modified` IS NULL)"
    )
    # NULLs are read to be counted in the write's pass, then dropped (metrics.kept_rows).
    assert plan.source.drops_null_incremental
    assert plan.source.query_from("`v1`").startswith("SELECT `id`, `amount`, `modified` FROM `v1` WHERE")
    first = build_plan(config, CTX, watermark=None, dialect="spark")
    assert first.source.query == "SELECT `id`, `amount`, `modified` FROM `dbo`.`orders`"
    assert not first.source.drops_null_incremental  # a first run without a watermark exports them


def test_hostile_stored_watermark_stays_a_literal_in_table_mode() -> None:
    config = row(extract_type="incremental", incremental_column="modified")
    for name, dialect in sql.DIALECTS.items():
        plan = build_plan(config, CTX, watermark=HOSTILE, dialect=name)
        column = dialect.quote_identifier("modified")
        assert plan.source.filters == (f"{column} > {dialect.string(HOSTILE)} OR {column} IS NULL",)
    with pytest.raises(ConfigError, match="not an ISO timestamp"):
        build_plan(config, CTX, watermark=HOSTILE, dialect="spark", watermark_type="timestamp")


def test_incremental_column_must_be_among_source_columns() -> None:
    config = row(source_columns=["id"], extract_type="incremental", incremental_column="modified")
    with pytest.raises(ConfigError, match="must include incremental_column"):
        build_plan(config, CTX, dialect="spark")


def test_query_mode_escapes_values_inside_literals_and_refuses_bare_hostile_values() -> None:
    config = row(
        source_table=None,
        extract_type="incremental",
        incremental_column="modified",
        source_query="SELECT * FROM dbo.t WHERE modified > '{watermark}' -- {run_date:%Y}",
    )
    plan = build_plan(config, CTX, watermark=HOSTILE, dialect="spark")
    assert plan.source.query == "SELECT * FROM dbo.t WHERE modified > 'x\\' OR \\'1\\'=\\'1' -- 2025"
    tsql = build_plan(config, CTX, watermark=HOSTILE, dialect="tsql")
    assert tsql.source.query == "SELECT * FROM dbo.t WHERE modified > 'x'' OR ''1''=''1' -- 2025"

    bare = row(
        source_table=None,
        extract_type="incremental",
        incremental_column="id",
        source_query="SELECT * FROM dbo.t WHERE id > {watermark}",
    )
    assert build_plan(bare, CTX, watermark="41", dialect="postgres").source.query.endswith("id > 41")
    with pytest.raises(ConfigError, match="outside a quoted string literal"):
        build_plan(bare, CTX, watermark="1 OR 1=1", dialect="postgres")
    in_comment = row(
        source_table=None,
        extract_type="incremental",
        incremental_column="id",
        source_query="SELECT * FROM dbo.t -- {watermark}\nWHERE 1=1",
    )
    with pytest.raises(ConfigError):
        build_plan(in_comment, CTX, watermark="x\nOR 1=1", dialect="spark")


def test_placeholder_contexts_track_quotes_escapes_and_comments() -> None:
    contexts = sql._placeholder_contexts("'{a}' \"{b}\" `{c}` '\\'{d}' /* '{e}' */ {f} 'it''s {g}'", SPARK)
    assert contexts == [
        ("a", True),
        ("b", True),
        ("c", False),
        ("d", True),
        ("e", False),
        ("f", False),
        ("g", True),
    ]
    assert sql._placeholder_contexts("'it''s {x}' \"{y}\"", PG) == [("x", True), ("y", False)]


def test_relations_and_ctes_from_sparks_unresolved_plan() -> None:
    tree = (
        "CTE [x]\n:  +- 'SubqueryAlias x\n:     +- 'UnresolvedRelation [dbo, orders], [], false\n"
        "+- 'Project [*]\n   +- 'Join Inner\n      :- 'UnresolvedRelation [x], [], false\n"
        "      +- 'UnresolvedRelation [lh_gold, dbo, customers], [], false\n"
    )
    relations, ctes = names.relations_from_tree(tree)
    assert relations == [("dbo", "orders"), ("x",), ("lh_gold", "dbo", "customers")]
    assert ctes == {"x"}


def test_rewrite_replaces_table_names_outside_literals_and_keeps_aliases() -> None:
    query = (
        "SELECT orders.id, 'dbo.orders' AS s FROM dbo.orders JOIN lh.dbo.customers c ON c.id = orders.cid "
        "JOIN events e ON 1 = 1 -- dbo.orders\nWHERE o.dbo.orders IS NULL"
    )
    views = {("dbo", "orders"): "v1", ("lh", "dbo", "customers"): "v2", ("events",): "v3"}
    assert names.rewrite(query, views) == (
        "SELECT orders.id, 'dbo.orders' AS s FROM `v1` AS `orders` JOIN `v2` c ON c.id = orders.cid "
        "JOIN `v3` e ON 1 = 1 -- dbo.orders\nWHERE o.dbo.orders IS NULL"
    )
    # A bare name is only a table right after FROM/JOIN.
    assert names.rewrite("SELECT events FROM events WHERE x", {("events",): "v"}) == (
        "SELECT events FROM `v` AS `events` WHERE x"
    )


def test_period_rows_must_be_exactly_one_with_both_columns() -> None:
    assert period_from_rows([{"START_DATE": "2025-12-01", "end_date": datetime(2025, 12, 31)}], "g/e") == (
        datetime(2025, 12, 1),
        datetime(2025, 12, 31),
    )
    for rows, match in (
        ([], "no rows"),
        ([{"start_date": "2025-01-01", "end_date": "2025-01-02"}] * 2, "more than one row"),
        ([{"start": "2025-01-01", "end_date": "2025-01-02"}], "missing start_date"),
        ([{"start_date": None, "end_date": "2025-01-02"}], "NULL start_date"),
        ([{"start_date": "soon", "end_date": "2025-01-02"}], "not a date"),
        ([{"start_date": "2025-02-01", "end_date": "2025-01-02"}], "before start_date"),
    ):
        with pytest.raises(SourceReadError, match=match):
            period_from_rows(rows, "g/e")
