"""Shared helpers for the export-config tests (test_config*.py): rows and issues."""

from __future__ import annotations

from typing import Any

import pytest
from fabgen_runtime.configs import parse_configs
from fabgen_runtime.errors import ConfigError, ConfigIssue

KEY = "sales/daily_orders"


def base(**changes: Any) -> dict[str, Any]:
    """A valid full-extract lakehouse row; ``changes`` override (value None removes the key)."""
    row: dict[str, Any] = {
        "export_group_name": "sales",
        "export_name": "daily_orders",
        "is_active": True,
        "execution_group": 1,
        "source_type": "lakehouse",
        "source_workspace": "DEV_WORKSPACE",
        "source_datastore": "lh_gold",
        "source_table": "orders",
        "target_workspace": "DEV_WORKSPACE",
        "target_lakehouse": "lh_exports",
        "target_path": "exports/sales/",
        "file_format": "csv",
    }
    row.update(changes)
    return {k: v for k, v in row.items() if v is not None}


def with_pattern(field: str, pattern: str) -> dict[str, Any]:
    """A valid row where ``field`` holds ``pattern`` (other fields set so the field applies)."""
    if field == "source_query":
        return base(source_table=None, source_query=pattern)
    if field == "period_date_query":
        return base(extract_type="period", period_filter_column="order_date", period_date_query=pattern)
    if field == "compressed_filename_pattern":
        return base(compression="zip", compressed_filename_pattern=pattern)
    return base(**{field: pattern})


def spec_events_row(**changes: Any) -> dict[str, Any]:
    """The spec's split-zip example (``events``, incremental, 1M rows per file, zipdeflate)."""
    return base(
        **{
            "export_name": "events",
            "extract_type": "incremental",
            "incremental_column": "event_timestamp",
            "target_path": "events/",
            "target_filename_pattern": "events_{run_date:%Y%m%d}.csv",
            "max_rows_per_file": 1000000,
            "compression": "zipdeflate",
            "compressed_filename_pattern": "events_{run_date:%Y%m%d}.zip",
            **changes,
        }
    )


def issues_of(*rows: dict[str, Any]) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as caught:
        parse_configs(rows)
    return caught.value.issues


def fails(row: dict[str, Any], field: str, *words: str, where: str = KEY) -> ConfigIssue:
    """Assert ``row`` is rejected with an issue naming the export and ``field`` (and ``words``)."""
    issues = issues_of(row)
    matching = [i for i in issues if i.where == where and i.field == field]
    assert matching, f"no issue on {field}; got {[str(i) for i in issues]}"
    text = " ".join(i.message for i in matching)
    for word in words:
        assert word in text, f"{word!r} not in {text!r}"
    # The one-line form names the export and the field.
    assert str(matching[0]).startswith(f"{where} {field}:")
    return matching[0]
