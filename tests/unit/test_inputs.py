"""``resolve_inputs``: the watermark and period one run starts from, shared by ``run`` and ``plan``."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_rows import base
from fabgen_runtime.configs import parse_config
from fabgen_runtime.errors import StateError
from fabgen_runtime.inputs import resolve_inputs
from fabgen_runtime.plan import RunContext
from fabgen_runtime.platform import LocalPlatform
from fabgen_runtime.state_model import StoredWatermark

CTX = RunContext.create("2025-12-12", "UTC", execution_id="exec-1")


def incremental(**changes):
    return parse_config(base(extract_type="incremental", incremental_column="modified_at", **changes))


def stored(column: str) -> StoredWatermark:
    return StoredWatermark("2025-12-01T00:00:00", column, "timestamp", None, "run-1")


def test_a_stored_watermark_wins_over_the_initial_one(tmp_path: Path) -> None:
    config = incremental(incremental_initial_watermark="2020-01-01")
    got = resolve_inputs(None, config, CTX, None, LocalPlatform(tmp_path), stored=stored("modified_at"))
    assert got == ("2025-12-01T00:00:00", "timestamp", None, None)
    first = resolve_inputs(None, config, CTX, None, LocalPlatform(tmp_path), stored=None)
    assert first == ("2020-01-01", None, None, None)


def test_a_watermark_stored_for_another_column_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StateError, match=r"is for column 'updated_at'.*log_resource_export_watermark"):
        resolve_inputs(None, incremental(), CTX, None, LocalPlatform(tmp_path), stored=stored("updated_at"))


def test_a_plan_may_leave_the_period_unresolved_without_spark(tmp_path: Path) -> None:
    config = parse_config(
        base(
            extract_type="period",
            period_filter_column="order_date",
            period_date_query="SELECT start_date, end_date FROM dbo.periods",
        )
    )
    local = LocalPlatform(tmp_path)
    assert resolve_inputs(None, config, CTX, None, local, period_query=False) == (None, None, None, None)
    with pytest.raises(StateError, match="needs a SparkSession"):
        resolve_inputs(None, config, CTX, None, local)
