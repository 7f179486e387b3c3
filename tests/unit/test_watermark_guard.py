"""The lost-watermark rule (issue #24 item 4): which stored watermarks a run stores again, and which it
leaves alone (``fabgen_runtime.watermark_guard.lost_watermarks``, pure)."""

from __future__ import annotations

from datetime import datetime

import pytest
from config_rows import base
from fabgen_runtime.configs import parse_config
from fabgen_runtime.watermark_guard import lost_watermarks

KEY = ("sales", "daily_orders")
CONFIG = parse_config(
    base(extract_type="incremental", incremental_column="id", target_filename_pattern="o_{run_id}.csv")
)


def success(run: str, value: str, hour: int) -> dict:
    return {
        "export_group_name": KEY[0],
        "export_name": KEY[1],
        "export_run_id": run,
        "master_execution_id": f"exec-{run}",
        "new_watermark_value": value,
        "completed_at": datetime(2025, 6, 1, hour),
    }


HISTORY = [success("r1", "10", 1), success("r2", "20", 2)]


def stored(value: str | None, by: str | None) -> dict:
    return {KEY: {"watermark_value": value, "updated_by_run_id": by, "watermark_type": "bigint"}}


def test_a_value_stored_by_an_earlier_successful_run_is_stored_again() -> None:
    [write] = lost_watermarks([CONFIG], stored("10", "r1"), HISTORY)
    assert (write.key, write.value, write.expected, write.run_id) == (KEY, "20", "10", "r2")
    assert (write.column, write.type, write.execution_id) == ("id", "bigint", "exec-r2")


def test_a_lost_first_watermark_is_stored_again() -> None:
    [write] = lost_watermarks([CONFIG], stored(None, None), [success("r1", "10", 1)])
    assert (write.value, write.expected) == ("10", None)


@pytest.mark.parametrize(
    ("row", "why"),
    [
        (stored("20", "r2"), "the latest run's value"),
        (stored("5", "by hand"), "set by a run the log does not know (set_watermark)"),
        (stored("30", "r3"), "stored by a run newer than the latest success it read"),
    ],
)
def test_a_watermark_that_is_not_behind_is_left_alone(row: dict, why: str) -> None:
    history = [*HISTORY, success("r3", "30", 3)] if "newer" in why else HISTORY
    assert lost_watermarks([CONFIG], row, history) == [], why


def test_full_exports_are_not_looked_at() -> None:
    full = parse_config(base())
    assert lost_watermarks([full], stored("10", "r1"), HISTORY) == []
