"""One writer per export, watermarks that only move forward, and files fabgen must never destroy.

Real processes and real Delta commits: two ``fabgen run`` children race for one group's lease;
leases of other hosts are written by hand into ``log_resource_export_watermark``; a higher
watermark is stored by hand while a run is between publish and its watermark commit.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from kill_checks import GROUP, check_clean, check_incremental, summary
from kill_support import KillProject, finish, full_export, inc_export, new_project

pytestmark = [pytest.mark.jvm, pytest.mark.slow]

GHOST = dict(
    owner="ghost-host:4242:feedbeef", run="ghost-run-0001", execution="ghost-exec-0001", host="ghost-host"
)


def make(tmp_path: Path, spark: Any, local: Any, name: str, exports: list[dict[str, Any]]) -> KillProject:
    workspace = f"WS_LEASE_{name}".upper()
    built = new_project(tmp_path / name, workspace, spark, local, [e(workspace) for e in exports])
    built.replace_rows(1, 5)
    return built


def entry(result: dict[str, Any], export: str) -> dict[str, Any]:
    return next(r for r in result["results"] if r["export_name"] == export)


def ghost_lease(project: KillProject, export: str, expires_in_seconds: int) -> None:
    """Write another host's lease on ``export`` by hand, expiring ``expires_in_seconds`` from now."""
    sign = "+" if expires_in_seconds >= 0 else "-"
    project.sql_update_watermark_row(
        export,
        f"lease_owner = '{GHOST['owner']}', lease_run_id = '{GHOST['run']}', "
        f"lease_execution_id = '{GHOST['execution']}', lease_host = '{GHOST['host']}', lease_pid = 4242, "
        f"lease_expires_at = current_timestamp() {sign} make_interval(0, 0, 0, 0, 0, 0, "
        f"{abs(expires_in_seconds)})",
    )


def lease_owner(project: KillProject, export: str) -> str | None:
    row = next(r for r in project.watermark_rows() if r["export_name"] == export)
    return row.get("lease_owner")


# --------------------------------------------------------------------------- two processes


def test_two_processes_on_one_group_one_refuses_naming_the_lease(tmp_path, spark, local_platform) -> None:
    # Each run pauses 20 s after reading (FABGEN_PAUSE_AT), so whichever process takes the lease
    # first still holds it when the other asks for it.
    project = make(tmp_path, spark, local_platform, "race", [inc_export])
    paused = project.child_env(FABGEN_PAUSE_AT="after_read:20")
    first = project.start_child("--execution-id", "race-a", env=paused)
    second = project.start_child("--execution-id", "race-b", env=paused)
    outputs = [finish(p) for p in (first, second)]
    codes = [first.returncode, second.returncode]
    report = "\n".join(f"--- exit {c}\n{o[-2500:]}" for c, o in zip(codes, outputs, strict=True))
    assert sorted(codes) == [0, 1], f"expected one run to succeed and one to be refused:\n{report}"
    refused = outputs[codes.index(1)]
    winner = "race-a" if codes[0] == 0 else "race-b"
    assert "lease" in refused.lower(), f"the refused run does not mention the lease:\n{refused[-2500:]}"
    assert winner in refused, f"the refusal does not name the holder's execution {winner}:\n{refused[-2500:]}"
    check_incremental(project, "inc", [1, 2, 3, 4, 5], "after two concurrent runs")
    check_clean(project, "after two concurrent runs")


# --------------------------------------------------------------------------- leases by hand


def test_a_stale_lease_of_another_host_is_taken_over(tmp_path, spark, local_platform) -> None:
    project = make(tmp_path, spark, local_platform, "stale", [inc_export])
    assert project.run_in_process()["success"]
    project.add_rows(6, 8)
    ghost_lease(project, "inc", -600)
    result = project.run_in_process()
    assert result["success"], f"a lapsed lease was not taken over: {summary(result)}"
    check_incremental(project, "inc", list(range(1, 9)), "after taking over a stale lease")
    check_clean(project, "after taking over a stale lease")
    assert lease_owner(project, "inc") != GHOST["owner"]


def test_a_live_lease_of_another_host_is_refused_until_it_expires(
    tmp_path, spark, local_platform, monkeypatch
) -> None:
    monkeypatch.setenv("FABGEN_LEASE_SECONDS", "8")
    project = make(tmp_path, spark, local_platform, "live", [inc_export])
    assert project.run_in_process()["success"]
    before = project.data_files("inc")
    project.add_rows(6, 8)
    ghost_lease(project, "inc", 8)
    deadline = time.monotonic() + 8

    refused = project.run_in_process()
    error = entry(refused, "inc")["error"] or ""
    assert not refused["success"] and entry(refused, "inc")["status"] == "error", summary(refused)
    assert "lease" in error and GHOST["run"] in error and GHOST["execution"] in error, error
    assert project.data_files("inc") == before, "a refused run published files"
    assert project.stored_watermark("inc") == "5"
    assert lease_owner(project, "inc") == GHOST["owner"], "the refused run changed another run's lease"
    check_clean(project, "after a refused run")

    time.sleep(max(0.0, deadline - time.monotonic()) + 1)
    taken = project.run_in_process()
    assert taken["success"], f"the expired lease was not taken over: {summary(taken)}"
    check_incremental(project, "inc", list(range(1, 9)), "after the lease expired")


# --------------------------------------------------------------------------- watermark CAS


def test_the_watermark_never_moves_backwards(tmp_path, spark, local_platform) -> None:
    from fabgen.project import load_project
    from fabgen_runtime import ExportLogger, ExportOrchestrator

    project = make(tmp_path, spark, local_platform, "cas", [inc_export])
    assert project.run_in_process()["success"]
    project.add_rows(6, 8)
    stored_by_hand: list[str] = []

    def on_event(event: Any) -> None:  # between publish and the group-end watermark commit
        if event.stage == "published" and not stored_by_hand:
            project.sql_update_watermark_row("inc", "watermark_value = '999', updated_by_run_id = 'by-hand'")
            stored_by_hand.append(event.export)

    loaded = load_project(project.root)
    logger = ExportLogger(loaded.settings.config_lakehouse, spark=spark, platform=local_platform)
    orchestrator = ExportOrchestrator(spark, logger, 2, platform=local_platform, on_event=on_event)
    result = orchestrator.process_exports(loaded.select(GROUP, None), "cas-run", run_date="2025-06-01")
    assert stored_by_hand, "the run never reported its publish"
    assert project.stored_watermark("inc") == "999", (
        "the watermark moved backwards over a higher stored value"
    )
    inc = entry(result, "inc")
    assert inc["status"] == "error", f"the refused compare-and-set was not reported: {summary(result)}"
    assert "watermark" in (inc["error"] or ""), inc["error"]
    ids = sorted(i for f in project.data_files("inc").values() for i in f)
    assert ids == list(range(1, 9)), "the published rows are not each in exactly one file"


# --------------------------------------------------------------------------- never destroy rows


def test_a_foreign_file_at_a_resolved_name_is_left_untouched(tmp_path, spark, local_platform) -> None:
    project = make(tmp_path, spark, local_platform, "foreign", [lambda ws: full_export(ws, max_rows=None)])
    foreign = project.target("full") / "full_20250601.csv"
    foreign.parent.mkdir(parents=True)
    content = b"id,name\n1,not written by fabgen\n"
    foreign.write_bytes(content)

    result = project.run_in_process()
    full = entry(result, "full")
    assert full["status"] == "error", f"a foreign file was replaced: {summary(result)}"
    assert "full_20250601.csv" in (full["error"] or ""), full["error"]
    assert foreign.read_bytes() == content, "the foreign file changed"
    assert sorted(p.name for p in foreign.parent.iterdir()) == ["full_20250601.csv"]
    check_clean(project, "after refusing a foreign file")


def test_a_zero_row_run_keeps_the_earlier_non_empty_file(tmp_path, spark, local_platform) -> None:
    project = make(tmp_path, spark, local_platform, "empty", [lambda ws: full_export(ws, max_rows=None)])
    assert project.run_in_process()["success"]
    published = project.target("full") / "full_20250601.csv"
    content = published.read_bytes()
    assert project.data_files("full") == {"full_20250601.csv": [1, 2, 3, 4, 5]}

    project.replace_rows(1, 0)
    result = project.run_in_process()
    full = entry(result, "full")
    assert full["status"] == "warning", summary(result)
    assert "kept" in (full["error"] or "").lower(), full["error"]
    assert published.read_bytes() == content, "a 0-row run replaced a file holding data rows"
    assert project.triggers("full") == ["full_20250601.done"]
    check_clean(project, "after a 0-row run")


def test_an_incremental_name_that_would_replace_an_earlier_run_refuses_before_writing(
    tmp_path, spark, local_platform
) -> None:
    def daily(workspace: str) -> dict[str, Any]:
        return inc_export(
            workspace,
            target_filename_pattern="daily_{run_date:%Y%m%d}.csv",
            trigger_file_pattern="daily_{run_date:%Y%m%d}.done",
        )

    project = make(tmp_path, spark, local_platform, "daily", [daily])
    first = project.run_in_process()
    assert first["success"], summary(first)
    first_run = entry(first, "inc")["export_run_id"]
    published = project.target("inc") / "daily_20250601.csv"
    content = published.read_bytes()

    project.add_rows(6, 8)
    second = project.run_in_process()
    inc = entry(second, "inc")
    error = inc["error"] or ""
    assert inc["status"] == "error", f"the earlier run's rows were replaced: {summary(second)}"
    assert first_run[:8] in error and inc["export_run_id"][:8] in error, f"both runs not named: {error}"
    assert "{run_id}" in error or "{timestamp}" in error, error
    assert published.read_bytes() == content, "the earlier run's file changed"
    assert project.stored_watermark("inc") == "5"
    check_clean(project, "after refusing to replace an earlier run's file")
