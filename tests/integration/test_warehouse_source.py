"""The warehouse source against the local PostgreSQL warehouse: extract types, both query modes,
the partitioned JDBC read, period_date_query through a warehouse function, watermarks."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from fabgen_runtime import ExportLogger, ExportOrchestrator
from pg_support import pg_execute, recreate_database
from run_support import csv_export_row, exported_ids

pytestmark = [pytest.mark.jvm, pytest.mark.warehouse]

WS = "WS_WH"
WAREHOUSE = "wh_readtest"


def execute(sql: str) -> None:
    pg_execute(WAREHOUSE, sql)


@pytest.fixture(scope="module")
def wh(spark, local_platform, warehouse):
    recreate_database(WAREHOUSE)
    execute(
        """
        CREATE SCHEMA dbo;
        CREATE TABLE dbo.orders (id bigint PRIMARY KEY, amount numeric(18,2), order_date date,
                                 modified_at timestamp, note text);
        INSERT INTO dbo.orders
        SELECT g, g * 1.25, DATE '2025-01-01' + (g * 2), TIMESTAMP '2025-01-01' + g * INTERVAL '1 day',
               'note ' || g
        FROM generate_series(1, 40) g;
        CREATE FUNCTION dbo.fn_GetFiscalMonth(p date) RETURNS TABLE(start_date date, end_date date)
        LANGUAGE sql AS $$ SELECT date_trunc('month', p)::date,
                                  (date_trunc('month', p) + INTERVAL '1 month - 1 day')::date $$;
        CREATE FUNCTION dbo.fn_two_rows(p date) RETURNS TABLE(start_date date, end_date date)
        LANGUAGE sql AS $$ SELECT p, p UNION ALL SELECT p, p $$;
        """
    )
    os.environ["FABGEN_JDBC_PARTITIONS"] = "2"  # the table is never analysed: the read is partitioned
    logger = ExportLogger(f"{WS}/lh_cfg", spark=spark, platform=local_platform)
    yield {
        "orchestrator": ExportOrchestrator(spark, logger, max_concurrency=2, platform=local_platform),
        "logger": logger,
    }
    os.environ.pop("FABGEN_JDBC_PARTITIONS", None)


def cfg(name: str, **overrides: Any) -> dict[str, Any]:
    source = dict(
        source_type="warehouse",
        source_workspace=WS,
        source_datastore=WAREHOUSE,
        source_schema="dbo",
        source_table="orders",
    )
    return csv_export_row("wh", name, source, (WS, "lh_out"), **overrides)


ids = exported_ids


def test_every_extract_type_in_both_query_modes(wh) -> None:
    period_query = "SELECT start_date, end_date FROM dbo.fn_GetFiscalMonth('{run_date:%Y-%m-%d}')"
    configs = [
        cfg("t_full", source_columns=["id", "amount", "note"]),
        cfg(
            "t_incr",
            extract_type="incremental",
            incremental_column="modified_at",
            incremental_initial_watermark="2025-02-05T00:00:00",
        ),
        cfg(
            "t_period",
            extract_type="period",
            period_filter_column="modified_at",
            period_date_query=period_query,
        ),
        cfg("q_full", source_query="SELECT o.id, o.note FROM dbo.orders o WHERE o.id <= 5"),
        cfg(
            "q_incr",
            extract_type="incremental",
            incremental_column="id",
            incremental_initial_watermark="35",
            source_query="SELECT id, amount FROM dbo.orders WHERE id > {watermark}",
        ),
        cfg(
            "q_period",
            extract_type="period",
            period_date_query=period_query,
            source_query="SELECT id FROM dbo.orders WHERE order_date BETWEEN '{period_start_date:%Y-%m-%d}' "
            "AND '{period_end_date:%Y-%m-%d}'",
        ),
    ]
    result = wh["orchestrator"].process_exports(configs, str(uuid.uuid4()), run_date="2025-01-20")
    assert result["success"], result
    got = {r["export_name"]: r for r in result["results"]}
    assert ids(got["t_full"]) == list(range(1, 41))
    assert ids(got["t_incr"]) == list(range(36, 41))  # modified after 2025-02-05
    assert ids(got["t_period"]) == list(range(1, 31))  # modified in January, the 31st included
    assert ids(got["q_full"]) == [1, 2, 3, 4, 5]
    assert ids(got["q_incr"]) == [36, 37, 38, 39, 40]
    assert ids(got["q_period"]) == list(range(1, 16))  # order_date = Jan 1 + 2 * id, until Jan 31
    assert wh["logger"].get_watermark("wh", "q_incr").value == "40"
    stored = wh["logger"].get_watermark("wh", "t_incr")
    assert (stored.value, stored.type) == ("2025-02-10T00:00:00", "timestamp")


def test_incremental_runs_pick_up_appended_rows_once(wh) -> None:
    config = cfg("progress", extract_type="incremental", incremental_column="id")
    seen: list[int] = []
    for low, high in ((41, 46), (46, 48), (None, None)):
        result = wh["orchestrator"].process_exports([config], str(uuid.uuid4()), run_date="2025-01-20")
        assert result["success"], result
        seen += ids(result["results"][0])
        if low is not None:
            execute(
                f"INSERT INTO dbo.orders SELECT g, 1, DATE '2025-03-01', TIMESTAMP '2025-03-01', 'late' "
                f"FROM generate_series({low}, {high - 1}) g"
            )
    assert seen == list(range(1, 48))


def test_period_query_with_two_rows_is_a_clear_error(wh) -> None:
    config = cfg(
        "two_rows",
        extract_type="period",
        period_filter_column="order_date",
        period_date_query="SELECT * FROM dbo.fn_two_rows('{run_date:%Y-%m-%d}')",
    )
    result = wh["orchestrator"].process_exports([config], str(uuid.uuid4()), run_date="2025-01-20")
    only = result["results"][0]
    assert only["status"] == "error" and only["error_type"] == "SourceReadError"
    assert "exactly one row" in only["error"]
