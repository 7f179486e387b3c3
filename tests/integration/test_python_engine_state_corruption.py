"""A damaged state table (issue #24 item 6), through ``fabgen run`` on the Python engine (no JVM).

After a first run, the newest commit file of ``log_resource_export`` or
``log_resource_export_watermark`` is cut in the middle of its JSON, overwritten with garbage bytes
or emptied (0 bytes: delta-rs reads it as a commit of no actions). The next ``fabgen run`` must
stop with one ``Error:`` line naming the table and the commit file, exit 1, publish nothing and
commit nothing to either table; ``--debug`` adds the traceback. ``fabgen status`` refuses the same
way.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
from kill_checks import RUN_DATE
from kill_support import FABGEN, inc_export
from python_kill_support import PythonKillProject, cli_project, fabgen_cli

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not FABGEN.exists(), reason="needs the fabgen CLI (not in the Python-notebook venv)"),
]
LOG_TABLE = "log_resource_export"
WATERMARK_TABLE = "log_resource_export_watermark"
GARBAGE = b"\x00\xff\xfe not a commit \x8f\x01" * 16

DAMAGE = {
    "truncated": lambda data: data[: len(data) // 2],
    "garbage": lambda data: GARBAGE,
    "empty": lambda data: b"",
}


def project(tmp_path: Path, local_platform) -> PythonKillProject:
    """One incremental export on the Python engine, run once over ids 1-5; ids 6-10 added since."""
    workspace = f"damaged_{uuid.uuid4().hex[:8]}"
    p = cli_project(tmp_path, workspace, local_platform, [inc_export(workspace)])
    p.add_rows(1, 5)
    first = fabgen(p, "run")
    assert first.returncode == 0, first.stdout + first.stderr
    p.add_rows(6, 10)
    return p


def fabgen(p: PythonKillProject, command: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """``fabgen [extra] <command> -p <project> -g kill`` (``run``: for the fixed run date)."""
    return fabgen_cli(p, command, *(["--run-date", RUN_DATE] if command == "run" else []), before=extra)


def commit_files(p: PythonKillProject, table: str) -> dict[str, bytes]:
    log = Path(p.state_path(table), "_delta_log")
    return {f.name: f.read_bytes() for f in sorted(log.iterdir()) if f.is_file()}


def damage_newest_commit(p: PythonKillProject, table: str, kind: str) -> Path:
    """Damage the table's newest commit file (``kind`` of :data:`DAMAGE`); returns its path."""
    newest = sorted(Path(p.state_path(table), "_delta_log").glob("*.json"))[-1]
    newest.write_bytes(DAMAGE[kind](newest.read_bytes()))
    return newest


def published(p: PythonKillProject) -> dict[str, bytes]:
    """Every file under the target lakehouse's ``Files/`` (data, triggers, manifests, staging)."""
    root = p.files_dir()
    return {str(f.relative_to(root)): f.read_bytes() for f in sorted(root.rglob("*")) if f.is_file()}


CASES = [(LOG_TABLE, kind) for kind in DAMAGE] + [(WATERMARK_TABLE, "empty"), (WATERMARK_TABLE, "truncated")]


@pytest.mark.parametrize(("table", "kind"), CASES, ids=[f"{t}-{k}" for t, k in CASES])
def test_a_damaged_state_table_stops_the_run_with_one_error_naming_the_table_and_the_file(
    tmp_path: Path, local_platform, table: str, kind: str
) -> None:
    p = project(tmp_path, local_platform)
    damaged = damage_newest_commit(p, table, kind)
    files, state = published(p), {t: commit_files(p, t) for t in (LOG_TABLE, WATERMARK_TABLE)}

    run = fabgen(p, "run")
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    errors = [line for line in run.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, output
    assert f"state table {table} " in errors[0] and str(damaged) in errors[0], errors[0]
    assert {"empty": "is empty (0 bytes)", "truncated": "is not valid JSON", "garbage": "is not UTF-8"}[
        kind
    ] in errors[0]
    assert "Traceback" not in output and "<unknown>" not in output, output  # nor delta-rs's Rust backtrace

    debug = fabgen(p, "run", "--debug")
    assert debug.returncode == 1, debug.stdout + debug.stderr
    assert "Traceback (most recent call last)" in debug.stderr and "StateTableError" in debug.stderr
    assert str(damaged) in debug.stderr

    assert published(p) == files  # no data file, trigger, manifest or staged file
    assert {t: commit_files(p, t) for t in (LOG_TABLE, WATERMARK_TABLE)} == state  # no commit, no lease


def test_status_names_the_damaged_commit_file_too(tmp_path: Path, local_platform) -> None:
    p = project(tmp_path, local_platform)
    damaged = damage_newest_commit(p, LOG_TABLE, "truncated")
    status = fabgen(p, "status")
    assert status.returncode == 1, status.stdout + status.stderr
    assert str(damaged) in status.stderr and "Traceback" not in status.stderr, status.stderr
