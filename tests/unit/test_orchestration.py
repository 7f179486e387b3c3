"""Scheduling, retry selection, the result dict, batched log commits and CLI helpers (no JVM)."""

from __future__ import annotations

import pytest
from config_rows import base
from fabgen.local_run import run_dates
from fabgen_runtime.commits import is_conflict, retry_conflicts
from fabgen_runtime.configs import parse_configs
from fabgen_runtime.errors import ConfigError, PlatformError
from fabgen_runtime.export import ExportResult
from fabgen_runtime.scheduling import schedule, select_for_retry, summarize
from fabgen_runtime.state_model import LakehouseLocation
from fabgen_runtime.summary import summary_table


def configs(*specs: tuple[str, int]):
    """Rows of group ``g``, one per ``(export_name, execution_group)``."""
    return parse_configs(
        [base(export_group_name="g", export_name=name, execution_group=group) for name, group in specs]
    )


def test_groups_run_in_ascending_order_and_can_be_filtered() -> None:
    plan = schedule(configs(("c", 3), ("a", 1), ("b", 3), ("d", 2)))
    assert [(g, [c.export_name for c in cs]) for g, cs in plan] == [(1, ["a"]), (2, ["d"]), (3, ["b", "c"])]
    assert [g for g, _ in schedule(configs(("a", 1), ("b", 2)), execution_group=2)] == [2]


def test_retry_selects_error_pending_and_running_only() -> None:
    items = configs(("ok", 1), ("warn", 1), ("bad", 1), ("crashed", 2), ("queued", 2), ("new", 2))
    latest = {
        ("g", "ok"): {"export_state": "success"},
        ("g", "warn"): {"export_state": "warning"},
        ("g", "bad"): {"export_state": "error"},
        ("g", "crashed"): {"export_state": "running"},
        ("g", "queued"): {"export_state": "pending"},
    }
    assert [c.export_name for c in select_for_retry(items, latest)] == ["bad", "crashed", "queued"]
    # An execution that logged nothing never started: its retry runs everything.
    assert len(select_for_retry(items, {})) == len(items)


def test_result_dict_has_the_spec_keys_and_counts() -> None:
    results = [
        ExportResult("g", "a", "success", rows_exported=3, files_created=1, total_bytes=10, file_paths=["p"]),
        ExportResult("g", "b", "warning"),
        ExportResult("g", "c", "error", error="boom"),
        ExportResult("g", "d", "skipped", error="not run"),
    ]
    out = summarize(results)
    assert {
        k: out[k] for k in ("success", "total_exports", "successful", "failed", "warnings", "skipped")
    } == {
        "success": False,
        "total_exports": 4,
        "successful": 2,
        "failed": 1,
        "warnings": 1,
        "skipped": 1,
    }
    first = out["results"][0]
    for key in (
        "export_name",
        "export_group_name",
        "status",
        "rows_exported",
        "files_created",
        "total_bytes",
        "file_paths",
        "error",
        "duration",
    ):
        assert key in first
    assert first["file_paths"] == ["p"] and first["rows_exported"] == 3
    assert summarize(results[:2])["success"] is True


def test_conflicts_are_retried_and_other_errors_are_not() -> None:
    calls = {"n": 0}

    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise RuntimeError("io.delta.exceptions.ConcurrentAppendException: Files were added")
        return "ok"

    assert retry_conflicts(flaky, "test", base=0.001) == "ok" and calls["n"] == 3
    assert is_conflict(RuntimeError("[DELTA_CONCURRENT_APPEND] ..."))
    with pytest.raises(ValueError):
        retry_conflicts(lambda: (_ for _ in ()).throw(ValueError("bad")), "test", base=0.001)


def test_config_lakehouse_forms() -> None:
    expected = LakehouseLocation("WS", "lh_config")
    assert LakehouseLocation.of({"workspace": "WS", "lakehouse": "lh_config"}) == expected
    assert LakehouseLocation.of("WS/lh_config") == expected

    class Ref:
        workspace, lakehouse = "WS", "lh_config"

    assert LakehouseLocation.of(Ref()) == expected
    with pytest.raises(PlatformError):
        LakehouseLocation.of({"lakehouse": "lh_config"})


def test_backfill_dates_and_summary_table() -> None:
    assert run_dates(None, "2025-01-30", "2025-02-02") == [
        "2025-01-30",
        "2025-01-31",
        "2025-02-01",
        "2025-02-02",
    ]
    assert run_dates("2025-01-01", None, None) == ["2025-01-01"]
    for args in (
        ("2025-01-01", "2025-01-01", "2025-01-02"),
        (None, "2025-01-02", None),
        (None, "2025-01-02", "2025-01-01"),
    ):
        with pytest.raises(ConfigError):
            run_dates(*args)
    table = summary_table(summarize([ExportResult("g", "a", "success", rows_exported=12, duration=1.26)]))
    assert table[0].split() == ["export", "state", "rows", "files", "bytes", "seconds"]
    assert table[2].split() == ["g/a", "success", "12", "0", "0", "1.3"]
    warned = ExportResult(
        "g", "b", "warning", rows_exported=3, error="2 row(s) with a NULL incremental_column"
    )
    table = summary_table(summarize([ExportResult("g", "a", "success"), warned]))
    assert table[3].split()[:2] == ["g/b", "warning"]
    assert table[4:] == ["warning: g/b: 2 row(s) with a NULL incremental_column"]
    failed = ExportResult(
        "g", "c", "error", error="g/c: cannot read lakehouse table dbo.x"
    )  # FabgenError text
    other = ExportResult("g", "d", "error", error="OSError: g/c: disk full")  # not its own prefix: kept
    table = summary_table(summarize([failed, other]))
    assert table[4:] == [
        "error: g/c: cannot read lakehouse table dbo.x",
        "error: g/d: OSError: g/c: disk full",
    ]
