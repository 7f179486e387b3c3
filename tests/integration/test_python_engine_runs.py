"""Runs on the Python engine (no JVM): the run protocol end to end, and its kill matrix.

Each run is a child process that cannot import pyspark (``tests/support/python_child.py``):
ExportOrchestrator with a PythonExportLogger reads the source with delta-rs, writes the files,
publishes them through the shared protocol and keeps the same log and watermark tables (with
delta-rs). The kill matrix is ``test_run_protocol_kill``'s scenario and checks, on this engine:
a run SIGKILLed at every named point, then a retry of that execution and a next run, each
checked against the source table (no row lost, none in two published files, no trigger beside a
partial set, staging empty, log rows final, watermark at the highest exported id).
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import time
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from deltalake import DeltaTable
from fabgen_runtime.protocol.owners import current_manifest_path
from fabgen_runtime.protocol.store import LocalFileStore
from kill_checks import (
    DAY,
    GROUP,
    check_clean,
    check_incremental,
    check_settled,
    current_manifest,
    summary,
)
from kill_support import FABGEN, KILL_POINTS, full_export, inc_export, new_project, selected_points
from python_kill_support import (
    Killed,
    PythonKillProject,
    check_first_gz_run_logged,
    check_killed_run_recovers,
    check_next_day_exports_only_new_rows,
    gz_export,
    kill_at_each_point,
    parquet_export,
)

pytestmark = [pytest.mark.slow]


def project(tmp_path: Path, local_platform, exports, concurrency: int = 2) -> PythonKillProject:
    workspace = f"py_{uuid.uuid4().hex[:8]}"
    built = new_project(
        tmp_path / workspace,
        workspace,
        None,
        local_platform,
        [e(workspace) for e in exports],
        concurrency,
        kind=PythonKillProject,
    )
    assert isinstance(built, PythonKillProject)
    return built


def test_a_python_group_runs_without_a_jvm_and_keeps_the_state_tables(tmp_path, local_platform) -> None:
    p = project(tmp_path, local_platform, [gz_export, parquet_export])
    p.add_rows(1, 10)
    first = p.run_in_process()
    assert first["success"], summary(first)
    assert first["commits"] <= 6, first["commits"]  # create 2 tables, take, log, completions, store
    # the run's new log rows are one blind append; only their final states are a MERGE
    log_history = DeltaTable(p.state_path("log_resource_export")).history()
    assert [h["operation"] for h in reversed(log_history)] == ["CREATE TABLE", "WRITE", "MERGE"]
    gz_files = sorted(p.target("gz").glob("*.gz"))
    assert [f.name for f in gz_files] == [f"gz_{DAY}.csv.gz"]
    lines = gzip.decompress(gz_files[0].read_bytes()).decode().splitlines()
    assert lines[0] == "id,name" and [int(x.split(",")[0]) for x in lines[1:]] == list(range(1, 11))
    assert pq.read_table(p.target("pq") / f"pq_{DAY}.parquet").column("id").to_pylist() == list(range(1, 11))
    assert p.stored_watermark("gz") == "10"
    watermark_row = next(r for r in p.watermark_rows() if r["export_name"] == "gz")
    assert (watermark_row["watermark_type"], watermark_row["lease_owner"]) == ("bigint", None)
    assert watermark_row["exported_schema"] == '[["id","bigint"],["name","string"]]'  # Spark's type names
    check_first_gz_run_logged(p)
    check_clean(p, "after the first run")

    check_next_day_exports_only_new_rows(p)
    assert len(pq.read_table(p.target("pq") / "pq_20250602.parquet")) == 15


def test_a_lease_held_by_a_live_python_run_refuses_a_second_one(tmp_path, local_platform) -> None:
    p = project(tmp_path, local_platform, [inc_export])
    p.add_rows(1, 5)
    env = p.child_env(FABGEN_PAUSE_AT="after_staging@inc:8")
    holder = subprocess.Popen(
        p.child_args("2025-06-02", None, False),
        env=env,
        cwd=p.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not p.staging_files() and time.monotonic() < deadline:  # the holder has its lease and staging
        time.sleep(0.1)
    second = p.run_in_process()
    out, _ = holder.communicate(timeout=120)
    assert holder.returncode == 0, out[-2000:]
    refused = second["results"][0]
    assert (refused["status"], refused["error_type"]) == ("error", "LeaseHeld"), summary(second)
    check_incremental(p, "inc", p.source_ids(), "after the race")  # the holder exported every row once
    assert p.stored_watermark("inc") == "5"


def test_two_publishes_in_one_second_leave_one_current_manifest(tmp_path, local_platform) -> None:
    """A full export with fixed names (split in parts) published by two runs at the same instant,
    as a fast machine does within one second: the owner records, not ``published_at``, say which
    run's bytes are in place, and the newer manifest names the run it replaced."""
    p = project(tmp_path, local_platform, [inc_export, full_export])
    tie = "2026-12-07T15:36:49.000000+00:00"
    runs = []
    for last in (10, 20):
        p.add_rows(last - 9, last)
        result = p.run_in_process(FABGEN_TEST_PUBLISH_CLOCK=tie)
        assert result["success"], summary(result)
        runs.append(next(r["export_run_id"] for r in result["results"] if r["export_name"] == "full"))
    folder = p.files_dir(f"_fabgen_manifests/{GROUP}/full")
    naming = [json.loads(m.read_text()) for m in folder.glob("*.json")]
    assert sorted(m["export_run_id"] for m in naming) == sorted(runs)
    assert {m["published_at"] for m in naming} == {tie}  # a tie: no clock can tell them apart
    current = current_manifest(p, "full", f"full_{DAY}.done", "after two publishes in one instant")
    assert current["export_run_id"] == runs[1]
    files_root = str(p.files_dir())
    assert current_manifest_path(LocalFileStore(), files_root, f"{GROUP}/full", f"full_{DAY}.done") == (
        f"_fabgen_manifests/{GROUP}/full/{runs[1]}.json"
    )
    assert {(r["path"], r["export_run_id"]) for r in current["replaces"]} == {
        (f"{GROUP}/full/full_{DAY}_part0001.csv", runs[0]),
        (f"{GROUP}/full/full_{DAY}_part0002.csv", runs[0]),
        (f"{GROUP}/full/full_{DAY}.done", runs[0]),
    }
    check_settled(p, p.source_ids(), "after two publishes in one instant")  # checks every trigger's manifest

    p.add_rows(21, 25)
    assert p.run_in_process()["success"]
    newest = current_manifest(p, "full", f"full_{DAY}.done", "after a third run")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", newest["published_at"])
    assert newest["published_at"] > tie


@pytest.fixture(scope="module")
def killed(request, tmp_path_factory, local_platform) -> dict[str, Killed]:
    return kill_at_each_point(
        lambda point: project(tmp_path_factory.mktemp(point), local_platform, [inc_export, full_export]),
        selected_points(request),
    )


@pytest.mark.parametrize(("point", "export"), KILL_POINTS, ids=[f"{p}@{e}" for p, e in KILL_POINTS])
def test_a_python_run_killed_at_a_point_is_finished_by_its_retry_and_the_next_run(
    killed, point: str, export: str
) -> None:
    check_killed_run_recovers(killed[point], point, export)


def test_an_export_whose_recovery_cannot_finish_is_not_run_until_fabgen_recover_can(
    tmp_path, local_platform
) -> None:
    """A run killed after setting ``full``'s published files aside; before its retry, someone else
    writes a file where one of them was. Recovery must not overwrite it nor drop the set-aside
    file: the retry fails ``full`` with RecoveryFailed (not run, staging kept) and runs ``inc``;
    once the file is moved away, the next retry finishes the publish and every row is settled."""
    p = project(tmp_path, local_platform, [inc_export, full_export])
    p.add_rows(1, 10)
    assert p.run_in_process()["success"]
    first_part = sorted(p.data_files("full"))[0]
    p.add_rows(11, 20)
    killed = p.run_child("--execution-id", "blocked", kill_at="after_aside@full")
    assert killed.returncode == -9, killed.tail()
    intruder = p.target("full") / first_part
    assert not intruder.exists()
    intruder.write_text("someone else's file\n")
    set_aside = [f for f in p.staging_files() if "/replaced/" in f]  # full's published files, moved aside
    assert set_aside, p.staging_files()

    retry = p.run_child("--execution-id", "blocked", "--retry")
    result = json.loads(retry.output.strip().splitlines()[-1])
    by_name = {r["export_name"]: r for r in result["results"]}
    assert not result["success"], summary(result)
    assert by_name["full"]["error_type"] == "RecoveryFailed", summary(result)
    assert "fabgen recover" in by_name["full"]["error"] and "staging is kept" in by_name["full"]["error"]
    assert "recovery failed" in retry.output  # logged as an error, not dropped
    assert intruder.read_text() == "someone else's file\n"  # never overwritten
    assert set(set_aside) <= set(p.staging_files())  # the published files set aside are kept
    check_incremental(p, "inc", p.source_ids(), "after the blocked retry")  # the other export ran
    blocked = [r for r in p.log_rows() if r["error_type"] == "RecoveryFailed"]
    assert [(r["export_name"], r["export_state"]) for r in blocked] == [("full", "error")]

    # `fabgen recover` while the foreign file is there, and after: where the CLI is installed (the
    # Python-notebook compat venv has the runtime only; there the retry below recovers by itself)
    cli = FABGEN.exists()
    if cli:
        stuck = _fabgen_recover(p)
        assert stuck.returncode == 1, stuck.stdout + stuck.stderr
        assert "full" in stuck.stdout and "staging is kept" in stuck.stdout, stuck.stdout
        assert intruder.read_text() == "someone else's file\n"

    intruder.unlink()  # the user moves the foreign file away: recovery can now finish the publish
    if cli:
        done = _fabgen_recover(p)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "publish finished" in done.stdout, done.stdout
    again = p.run_in_process(execution_id="blocked", retry=True)
    assert again["success"], summary(again)
    check_settled(p, p.source_ids(), "after fabgen recover and a retry")


def _fabgen_recover(p: PythonKillProject) -> subprocess.CompletedProcess[str]:
    """``fabgen recover`` of the project's group on the Python engine (no JVM)."""
    settings = yaml.safe_load((p.root / "fabgen.yaml").read_text())
    settings["defaults"]["engine"] = "python"
    (p.root / "fabgen.yaml").write_text(yaml.safe_dump(settings))
    command = [str(FABGEN), "recover", "-p", str(p.root), "-g", GROUP]
    return subprocess.run(command, env=p.child_env(), capture_output=True, text=True, check=False)
