"""Query mode is read-only, on real Spark + Delta and the local PostgreSQL warehouse.

Every hostile query is refused before it runs, and the tables it aims at keep every row (counted
before and after). Both layers are tested on their own: the static check (validate and the plan)
and Spark's parsed plan (which sees what a text check could miss).
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from fabgen_runtime import ExportLogger, ExportOrchestrator, platform, query_guard
from fabgen_runtime.engines.spark import query_plan
from fabgen_runtime.errors import ConfigError, QueryRefusedError
from pg_support import pg_connect, recreate_database
from run_support import csv_export_row, exported_ids

pytestmark = pytest.mark.jvm

WS = "WS_GUARD"
SRC = "lh_guard"
OTHER = "lh_other"


@pytest.fixture(scope="module")
def env(spark, local_platform, tmp_path_factory):
    """orders (10 rows) in WS_GUARD/lh_guard, secrets in another lakehouse, a Delta table outside OneLake."""
    outside = str(tmp_path_factory.mktemp("outside") / "victim")
    rows = spark.sql("SELECT id, CAST(id AS STRING) AS note FROM range(1, 11)")
    rows.write.format("delta").save(platform.table_uri(local_platform, WS, SRC, "dbo", "orders"))
    rows.write.format("delta").save(platform.table_uri(local_platform, WS, OTHER, "dbo", "secrets"))
    rows.write.format("delta").save(outside)
    rows.write.format("parquet").save(outside + "_parquet")
    logger = ExportLogger({"workspace": WS, "lakehouse": "lh_cfg"}, spark=spark, platform=local_platform)
    return {"spark": spark, "platform": local_platform, "logger": logger, "outside": outside}


def counts(env: dict[str, Any]) -> dict[str, int]:
    spark, plat = env["spark"], env["platform"]
    paths = {
        "orders": platform.table_uri(plat, WS, SRC, "dbo", "orders"),
        "secrets": platform.table_uri(plat, WS, OTHER, "dbo", "secrets"),
        "outside": env["outside"],
    }
    return {name: spark.read.format("delta").load(path).count() for name, path in paths.items()}


def cfg(name: str, query: str) -> dict[str, Any]:
    source = dict(source_type="lakehouse", source_workspace=WS, source_datastore=SRC)
    return csv_export_row("guard", name, source, (WS, "lh_guard_out"), source_query=query)


def run(env: dict[str, Any], *rows: dict[str, Any]) -> dict[str, Any]:
    orchestrator = ExportOrchestrator(env["spark"], env["logger"], platform=env["platform"])
    return orchestrator.process_exports(list(rows), str(uuid.uuid4()), run_date="2025-01-15")


def hostile(outside: str) -> list[str]:
    return [
        f"DELETE FROM delta.`{outside}` WHERE id > 0",
        "DELETE FROM dbo.orders WHERE id > 0",
        "INSERT INTO dbo.orders SELECT id, note FROM dbo.orders",
        "INSERT OVERWRITE TABLE dbo.orders SELECT * FROM dbo.orders LIMIT 1",
        "UPDATE dbo.orders SET note = 'x'",
        "MERGE INTO dbo.orders t USING dbo.orders s ON t.id = s.id WHEN MATCHED THEN DELETE",
        "DROP TABLE dbo.orders",
        f"CREATE TABLE pwned USING delta LOCATION '{outside}_new' AS SELECT * FROM dbo.orders",
        "SELECT * FROM dbo.orders; DELETE FROM dbo.orders",
        "TRUNCATE TABLE dbo.orders",
        "SET spark.sql.ansi.enabled=false",
    ]


def test_hostile_queries_are_refused_by_validate_and_the_run_and_change_nothing(env) -> None:
    before = counts(env)
    for query in hostile(env["outside"]):
        with pytest.raises(ConfigError) as caught:
            run(env, cfg("hostile", query))
        issue = caught.value.issues[0]
        assert (issue.where, issue.field) == ("guard/hostile", "source_query"), query
    assert counts(env) == before == {"orders": 10, "secrets": 10, "outside": 10}


def test_spark_plan_refuses_every_command_on_its_own(env) -> None:
    """The second layer alone: Spark's parsed plan refuses what the static check also refuses."""
    before = counts(env)
    for query in hostile(env["outside"]):
        if ";" in query:
            continue  # Spark's parser refuses several statements itself (a parse error)
        with pytest.raises(QueryRefusedError, match="read-only"):
            query_plan.spark_relations(env["spark"], query, "guard/x")
    with pytest.raises(QueryRefusedError, match="not valid Spark SQL"):
        query_plan.spark_relations(env["spark"], "SELECT 1; DELETE FROM dbo.orders", "guard/x")
    with pytest.raises(QueryRefusedError, match="read-only"):
        query_plan.spark_relations(env["spark"], "SELECT * FROM IDENTIFIER('dbo.orders')", "guard/x")
    assert counts(env) == before


def test_spark_plan_lists_relations_and_ctes(env) -> None:
    relations, ctes = query_plan.spark_relations(
        env["spark"],
        "WITH recent AS (SELECT * FROM dbo.orders WHERE id > (SELECT max(id) - 3 FROM lh_guard.dbo.orders)) "
        "SELECT r.id FROM recent r JOIN orders o ON r.id = o.id",
        "guard/x",
    )
    assert sorted(relations) == [("dbo", "orders"), ("lh_guard", "dbo", "orders"), ("orders",), ("recent",)]
    assert ctes == {"recent"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELECT * FROM delta.`{outside}`", "reads the path delta.`"),
        ("SELECT * FROM parquet.`{outside}_parquet`", "reads the path parquet.`"),
        ("SELECT * FROM json.`/etc/passwd`", "reads the path json.`/etc/passwd`"),
        ("SELECT o.id FROM dbo.orders o WHERE o.id IN (SELECT id FROM delta.`{outside}`)", "reads the path"),
        ("SELECT * FROM read_files('{outside}_parquet', format => 'parquet')", "read_files(...)"),
        ("WITH s AS (SELECT * FROM lh_other.dbo.secrets) SELECT * FROM s", "outside the source lakehouse"),
    ],
)
def test_reads_outside_the_source_lakehouse_are_refused_by_validate(env, query: str, message: str) -> None:
    """What the run would refuse on Spark's plan (check_relations), validate refuses on the text."""
    before = counts(env)
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        run(env, cfg("outside", query.format(outside=env["outside"])))
    issue = caught.value.issues[0]
    assert (issue.where, issue.field) == ("guard/outside", "source_query"), query
    assert counts(env) == before


@pytest.mark.parametrize(("query", "message"), [("SELECT * FROM not_a_table", "no table 'not_a_table'")])
def test_reads_outside_the_source_lakehouse_fail_the_export(env, query: str, message: str) -> None:
    before = counts(env)
    result = run(env, cfg("outside", query.format(outside=env["outside"])))
    outcome = result["results"][0]
    assert outcome["status"] == "error" and message in outcome["error"], outcome
    assert outcome["files_created"] == 0
    assert counts(env) == before


def test_a_plain_query_still_runs(env) -> None:
    result = run(env, cfg("fine", "WITH o AS (SELECT * FROM dbo.orders) SELECT id FROM o WHERE id <= 3"))
    assert result["success"], result
    assert exported_ids(result["results"][0]) == [1, 2, 3]


# --------------------------------------------------------------------------- warehouse (PostgreSQL)


@pytest.mark.warehouse
def test_warehouse_sessions_are_read_only(env, warehouse) -> None:
    """A function that deletes passes any text check; the read-only session stops it."""
    database = "wh_guard"
    recreate_database(database)
    with pg_connect(database) as conn, conn.cursor() as cur:
        cur.execute(
            "CREATE SCHEMA dbo; CREATE TABLE dbo.orders AS SELECT g AS id FROM generate_series(1, 10) g;"
            "CREATE FUNCTION dbo.sneaky() RETURNS SETOF bigint LANGUAGE sql AS "
            "$$ DELETE FROM dbo.orders RETURNING id $$;"
        )

    def rows() -> int:
        with pg_connect(database) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM dbo.orders")
            return cur.fetchone()[0]

    source = dict(
        source_type="warehouse", source_workspace=WS, source_datastore=database, source_schema="dbo"
    )
    sneaky = "SELECT * FROM dbo.sneaky()"
    row = csv_export_row("guard", "wh_sneaky", source, (WS, "lh_guard_out"), source_query=sneaky)
    result = run(env, row)
    outcome = result["results"][0]
    assert outcome["status"] == "error" and outcome["files_created"] == 0, outcome
    assert rows() == 10
    # The reason, from the reader the source uses: PostgreSQL refuses the DELETE inside the function.
    from fabgen_runtime.engines.spark import warehouse as wh_source

    conn = env["platform"].warehouse(WS, database)
    reader = wh_source._jdbc(env["spark"], conn).option("query", "SELECT * FROM dbo.sneaky()")
    with pytest.raises(Exception, match="read-only transaction"):
        reader.load().collect()
    assert rows() == 10
    for query in (
        "DELETE FROM dbo.orders",
        "SELECT 1; DELETE FROM dbo.orders",
        "WITH d AS (DELETE FROM dbo.orders RETURNING id) SELECT * FROM d",
        "SELECT id INTO dbo.copy FROM dbo.orders",
    ):
        with pytest.raises(ConfigError, match="source_query"):
            run(env, {**row, "source_query": query})
    assert rows() == 10
    fine = run(env, {**row, "source_query": "SELECT id FROM dbo.orders WHERE id <= 2"})
    assert fine["success"] and exported_ids(fine["results"][0]) == [1, 2]


def test_paths_stay_out_of_the_source(tmp_path: Path) -> None:
    """check_relations alone (no JVM): names, paths and lakehouses."""
    query_guard.check_relations([("dbo", "orders"), ("lh_guard", "dbo", "x"), ("t",)], "lh_guard", "g/x")
    refused = [("delta", "/x"), ("a", "b", "c", "d"), ("lh_other", "dbo", "x"), ("parquet", str(tmp_path))]
    for parts in refused:
        with pytest.raises(QueryRefusedError):
            query_guard.check_relations([parts], "lh_guard", "g/x")
