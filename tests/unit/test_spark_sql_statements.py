"""The Spark SQL of lakehouse sources parses with sqlglot's ``spark`` dialect.

Table reads and source queries, before and after the per-run views replace the tables; the checks
are in tsql_support.py (docs/runtimes.md, "Warehouse statements").
"""

from __future__ import annotations

from typing import Any

import pytest
from config_rows import base
from fabgen_runtime import sql
from fabgen_runtime.configs import parse_config
from fabgen_runtime.plan import build_plan
from fabgen_runtime.sources import names
from tsql_support import CTX, EXPORTS, assert_spark_sql


def lh_config(**overrides: Any) -> Any:
    return parse_config(
        base(
            **{
                "source_workspace": "WS",
                "source_datastore": "lh_src",
                "source_table": None if "source_query" in overrides else "orders",
                **overrides,
            }
        )
    )


@pytest.mark.parametrize("export", [e for e in EXPORTS if not e.startswith("query")])
def test_lakehouse_table_reads_are_spark_sql(export: str) -> None:
    fields, inputs = EXPORTS[export]
    if "period_date_query" in fields:  # Spark SQL there
        fields = {**fields, "period_date_query": "SELECT MIN(d) AS start_date, MAX(d) AS end_date FROM cal"}
    plan = build_plan(lh_config(**fields), CTX, dialect="spark", **inputs)
    assert plan.source.dialect == "spark"
    assert_spark_sql(plan.source.query)
    assert_spark_sql(plan.source.query_from("`fabgen_e_1`"))  # what LakehouseSource.read runs


def test_lakehouse_queries_are_spark_sql_after_the_views_replace_the_tables() -> None:
    query = (
        "SELECT o.id, c.name FROM dbo.orders o JOIN lh_src.dbo.customers AS c ON c.id = o.customer_id "
        "WHERE o.order_date = DATE '{run_date:%Y-%m-%d}' AND c.note <> 'it\\'s'"
    )
    plan = build_plan(lh_config(source_query=query), CTX, dialect="spark")
    mapping = {("dbo", "orders"): "fabgen_p_1", ("lh_src", "dbo", "customers"): "fabgen_p_2"}
    rewritten = names.rewrite(plan.source.query, mapping)
    assert "fabgen_p_1" in rewritten and "fabgen_p_2" in rewritten
    for statement in (plan.source.query, rewritten):
        assert_spark_sql(statement)
    period = sql.render_control_query(
        "SELECT MIN(d) AS start_date, MAX(d) AS end_date FROM dbo.calendar WHERE y = {run_date:%Y}",
        {"run_date": CTX.run_date},
        "spark",
        "g/e",
        "period_date_query",
    )
    assert_spark_sql(names.rewrite(period, {("dbo", "calendar"): "fabgen_period_3"}))
