"""Lakehouses with and without schemas, on real Spark and Delta: ``Tables/<schema>/<table>`` and
``Tables/<table>`` (``lakehouses: {ws/lh: {schemas: false}}`` in fabgen.yaml, the runtime's item
catalog). Source tables in both layouts are read in table and query mode, a period query reads a
schema-less table, and the state tables of a schema-less config lakehouse live at ``Tables/<table>``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fabgen_runtime import ExportLogger, ExportOrchestrator, catalog, parse_configs
from run_support import csv_export_row, exported_ids

pytestmark = pytest.mark.jvm

WS = "WS_LAYOUT"


@pytest.fixture(scope="module")
def lake(spark, local_platform) -> Iterator[dict[str, Any]]:
    flat = {"schemas": False}
    catalog.configure({"lakehouses": {f"{WS}/lh_flat": flat, f"{WS}/cfg_flat": flat}})
    root = Path(local_platform.onelake_root) / WS
    tables = {name: root / f"{name}.Lakehouse" / "Tables" for name in ("lh_flat", "lh_nested")}
    orders = spark.sql(
        "SELECT id, id * 10 AS amount, date_add(DATE'2025-01-01', CAST(id AS INT)) AS d FROM range(1, 31)"
    )
    # The same table in both layouts (different rows, so a read of the wrong one shows).
    orders.where("id <= 12").write.format("delta").save(str(tables["lh_flat"] / "orders"))
    orders.where("id > 12").write.format("delta").save(str(tables["lh_nested"] / "dbo" / "orders"))
    periods = spark.sql("SELECT DATE'2025-01-03' AS start_date, DATE'2025-01-07' AS end_date")
    periods.write.format("delta").save(str(tables["lh_flat"] / "periods"))
    logger = ExportLogger({"workspace": WS, "lakehouse": "cfg_flat"}, spark=spark, platform=local_platform)
    yield {"root": root, "orchestrator": ExportOrchestrator(spark, logger, platform=local_platform)}
    catalog.configure(None)


def _row(name: str, lakehouse: str, **overrides: Any) -> dict[str, Any]:
    source = {
        "source_type": "lakehouse",
        "source_workspace": WS,
        "source_datastore": lakehouse,
        "source_table": "orders",
    }
    return csv_export_row("layouts", name, source, (WS, "lh_out"), **overrides)


def _run(lake: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    return lake["orchestrator"].process_exports(parse_configs(rows), str(uuid.uuid4()), run_date="2025-02-01")


def test_both_layouts_in_table_and_query_mode(lake) -> None:
    rows = [
        _row("flat_table", "lh_flat"),
        _row("flat_dbo_table", "lh_flat", source_schema="dbo"),
        _row("flat_query", "lh_flat", source_query="SELECT id FROM orders WHERE id > 2"),
        _row("flat_qualified", "lh_flat", source_query="SELECT o.id FROM dbo.orders o"),
        _row("nested_table", "lh_nested"),
        _row("nested_query", "lh_nested", source_query="SELECT id FROM dbo.orders WHERE id < 20"),
        _row(
            "flat_period",
            "lh_flat",
            extract_type="period",
            period_filter_column="d",
            period_date_query="SELECT start_date, end_date FROM periods",
        ),
    ]
    result = _run(lake, rows)
    assert result["success"], result
    by_name = {r["export_name"]: r for r in result["results"]}
    assert exported_ids(by_name["flat_table"]) == list(range(1, 13))
    assert exported_ids(by_name["flat_dbo_table"]) == list(range(1, 13))
    assert exported_ids(by_name["flat_query"]) == list(range(3, 13))
    assert exported_ids(by_name["flat_qualified"]) == list(range(1, 13))
    assert exported_ids(by_name["nested_table"]) == list(range(13, 31))
    assert exported_ids(by_name["nested_query"]) == list(range(13, 20))
    assert exported_ids(by_name["flat_period"]) == [2, 3, 4, 5, 6]  # d = 2025-01-03 .. 2025-01-07
    # The state tables of the schema-less config lakehouse: Tables/<table>, no dbo folder.
    tables = lake["root"] / "cfg_flat.Lakehouse" / "Tables"
    assert (tables / "log_resource_export" / "_delta_log").is_dir()
    assert not (tables / "dbo").exists()


def test_another_schema_in_a_lakehouse_without_schemas_is_a_clear_error(lake) -> None:
    rows = [_row("flat_sales", "lh_flat", source_schema="sales")]
    result = _run(lake, rows)
    entry = result["results"][0]
    assert entry["status"] == "error"
    assert "has no schemas" in (entry.get("error") or ""), entry
