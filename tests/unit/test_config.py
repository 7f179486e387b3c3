"""The export row model: defaults, coercion, types, round trip (rules: test_config_rules.py)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from config_rows import KEY, base, fails, spec_events_row
from fabgen_runtime.config import (
    COLUMNS,
    DEFAULT_FILENAME_PATTERN,
    REQUIRED,
    ExportConfig,
)
from fabgen_runtime.configs import parse_config, parse_configs

# --------------------------------------------------------------------------- valid rows and defaults


def test_base_row_is_valid_with_defaults() -> None:
    cfg = parse_config(base())
    assert cfg.key == KEY
    assert cfg.extract_type == "full"
    assert cfg.schema == "dbo"  # lakehouse default
    assert cfg.source_schema is None
    assert cfg.filename_pattern == DEFAULT_FILENAME_PATTERN == "{export_name}_{timestamp}.{ext}"
    assert cfg.codec == "none"
    assert cfg.extension == "csv"
    assert cfg.file_format_options == {}
    assert cfg.compression_level is None and cfg.max_rows_per_file is None


def test_parquet_defaults_to_snappy() -> None:
    cfg = parse_config(base(file_format="parquet"))
    assert cfg.codec == "snappy"
    assert cfg.compression is None
    assert cfg.extension == "parquet"


def test_warehouse_schema_has_no_default() -> None:
    cfg = parse_config(base(source_type="warehouse", source_datastore="wh_sales", source_schema="sales"))
    assert cfg.schema == "sales"


def test_values_are_coerced() -> None:
    cfg = parse_config(
        base(
            is_active="False",
            execution_group="2",
            source_columns=["order_id", "amount"],
            file_format_options={"header": True, "sep": "|", "nullValue": 10},
            extract_type="incremental",
            incremental_column="modified_at",
            incremental_initial_watermark=date(2024, 1, 1),  # YAML reads unquoted dates as dates
        )
    )
    assert cfg.is_active is False
    assert cfg.execution_group == 2
    assert cfg.source_columns == ("order_id", "amount")
    assert cfg.file_format_options == {"header": "true", "sep": "|", "nullValue": "10"}
    assert cfg.incremental_initial_watermark == "2024-01-01"
    stamp = parse_config(
        base(
            extract_type="incremental",
            incremental_column="modified_at",
            incremental_initial_watermark=datetime(2024, 1, 1, 6, 30),
        )
    )
    assert stamp.incremental_initial_watermark == "2024-01-01T06:30:00"


def test_blank_strings_mean_unset() -> None:
    cfg = parse_config(base(compression="", source_schema="  ", description=""))
    assert cfg.compression is None and cfg.source_schema is None and cfg.description is None


def test_target_path_may_be_the_root_of_files() -> None:
    assert parse_config(base(target_path="")).target_path == ""


def test_to_row_round_trips() -> None:
    cfg = parse_config(
        base(
            source_columns=["order_id", "amount"],
            file_format_options={"header": "true"},
            compression="gzip",
            compression_level=6,
            max_rows_per_file=1000,
            trigger_file_pattern="orders_{run_date:%Y%m%d}.done",
            target_filename_pattern="orders_{run_date:%Y%m%d}.csv",
            description="Daily orders",
        )
    )
    row = cfg.to_row()
    assert list(row) == list(COLUMNS)
    assert row["source_columns"] == ["order_id", "amount"]
    assert isinstance(row["file_format_options"], dict)
    assert parse_config(row) == cfg
    # Defaults are explicit in the row and survive the trip too.
    plain = parse_config(base())
    assert plain.to_row()["extract_type"] == "full"
    assert parse_config(plain.to_row()) == plain


def test_required_columns_match_the_spec() -> None:
    assert set(REQUIRED) == {
        "export_group_name",
        "export_name",
        "is_active",
        "execution_group",
        "source_type",
        "source_workspace",
        "source_datastore",
        "target_workspace",
        "target_lakehouse",
        "target_path",
        "file_format",
    }
    assert len(COLUMNS) == 29  # the spec's 28 plus on_schema_change


def test_every_spec_example_row_is_valid() -> None:
    fiscal = {
        "export_group_name": "finance",
        "export_name": "fiscal_transactions",
        "is_active": True,
        "execution_group": 1,
        "source_type": "warehouse",
        "source_workspace": "PROD_WORKSPACE",
        "source_datastore": "wh_finance",
        "source_schema": "dbo",
        "source_table": "transactions",
        "extract_type": "period",
        "period_filter_column": "transaction_date",
        "period_date_query": "SELECT start_date, end_date FROM dbo.fn_GetFiscalMonth('{run_date:%Y-%m-%d}')",
        "target_workspace": "PROD_WORKSPACE",
        "target_lakehouse": "lh_exports",
        "target_path": "finance/fiscal_transactions/{run_date:%Y}/",
        "target_filename_pattern": "transactions_{period_start_date:%Y%m%d}_{period_end_date:%Y%m%d}.csv",
        "file_format": "csv",
        "file_format_options": {"header": "true", "sep": "|"},
        "compression": "zipdeflate",
        "compressed_filename_pattern": "A0_TRANS_{period_start_date:%Y%m%d}.zip",
        "trigger_file_pattern": "A0_TRANS_{period_start_date:%Y%m%d}.done",
    }
    events = spec_events_row(export_group_name="analytics")
    query = base(
        export_name="joined",
        source_table=None,
        source_type="warehouse",
        source_datastore="wh_analytics",
        source_schema="dbo",
        extract_type="period",
        source_query=(
            "SELECT * FROM orders WHERE order_date BETWEEN '{period_start_date:%Y-%m-%d}' "
            "AND '{period_end_date:%Y-%m-%d}'"
        ),
        period_date_query="SELECT start_date, end_date FROM dbo.fn_GetFiscalPeriod('{run_date:%Y-%m-%d}')",
        target_path="exports/{run_date:%Y}/{run_date:%m}/",
        trigger_file_pattern="A0_ORDERS_{process_date:%Y%m%d%H%M%S}.done",
    )
    configs = parse_configs([fiscal, events, query])
    assert [c.key for c in configs] == ["finance/fiscal_transactions", "analytics/events", "sales/joined"]


# --------------------------------------------------------------------------- frozen model and field types


def test_export_config_is_frozen() -> None:
    cfg = parse_config(base())
    with pytest.raises(AttributeError):
        cfg.export_name = "x"  # type: ignore[misc]
    assert isinstance(cfg, ExportConfig)


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("is_active", "yes", ["true or false", "'yes'"]),
        ("is_active", 1, ["true or false"]),
        ("execution_group", "x", ["whole number", "'x'"]),
        ("execution_group", 1.5, ["whole number"]),
        ("execution_group", True, ["whole number"]),
        ("compression_level", "high", ["whole number"]),
        ("max_rows_per_file", [1], ["whole number"]),
        ("source_columns", "id,name", ["list of column names"]),
        ("source_columns", ["id", 3], ["list of strings"]),
        ("file_format_options", "header=true", ["mapping"]),
        ("file_format_options", {"header": ["x"]}, ["'header' must be a string"]),
        ("source_table", 42, ["must be a string"]),
        ("incremental_initial_watermark", True, ["must be a string"]),
    ],
)
def test_type_errors(field: str, value: Any, words: list[str]) -> None:
    fails(base(**{field: value}), field, *words)
