"""Runs killed before they staged anything (issue #24 items 1 and 7), through ``fabgen run`` on the
Python engine (no JVM): SIGKILLed right after taking their leases (``after_lease``: no log row yet)
or right after their first log commit (``after_log``: rows ``running``, no staging folder).

A retry must never invent a run date (it takes the date from the execution's log rows, or refuses
naming ``--run-date`` when there are none), and its header shows the date it uses; a run left
``running`` with nothing staged is closed as ``error`` ("abandoned") by the next plain run and by
``fabgen recover``, not only by a retry of its execution.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from kill_checks import check_clean, check_incremental
from kill_support import FABGEN, inc_export
from python_kill_support import PythonKillProject, cli_project, fabgen_cli

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not FABGEN.exists(), reason="needs the fabgen CLI (not in the Python-notebook venv)"),
]
DAY = "2025-03-05"


def project(tmp_path: Path, local_platform) -> PythonKillProject:
    workspace = f"early_{uuid.uuid4().hex[:8]}"
    return cli_project(tmp_path, workspace, local_platform, [inc_export(workspace)])


fabgen = fabgen_cli


def test_a_retry_of_an_execution_killed_before_its_first_log_commit_needs_the_run_date(
    tmp_path, local_platform
) -> None:
    p = project(tmp_path, local_platform)
    p.add_rows(1, 10)
    killed = fabgen(p, "run", "--run-date", DAY, "--execution-id", "early", kill_at="after_lease")
    assert killed.returncode == -9, killed.stdout + killed.stderr
    assert p.log_rows() == []

    refused = fabgen(p, "run", "--retry", "--execution-id", "early")
    output = refused.stdout + refused.stderr
    assert refused.returncode == 2, output  # bad input: the run date is missing, nothing ran
    assert "--run-date" in output and "execution early has no log rows" in output, output
    assert p.data_files("inc") == {} and p.log_rows() == []

    retried = fabgen(p, "run", "--retry", "--execution-id", "early", "--run-date", DAY)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert f"run date {DAY}, UTC" in retried.stdout, retried.stdout
    assert {str(r["run_date"])[:10] for r in p.log_rows()} == {DAY}
    check_incremental(p, "inc", p.source_ids(), "after the retry with --run-date")
    check_clean(p, "after the retry with --run-date")


def test_a_retry_takes_the_run_date_from_the_log_and_says_so(tmp_path, local_platform) -> None:
    p = project(tmp_path, local_platform)
    p.add_rows(1, 10)
    killed = fabgen(p, "run", "--run-date", DAY, "--execution-id", "logged", kill_at="after_log")
    assert killed.returncode == -9, killed.stdout + killed.stderr
    assert [(r["export_state"], str(r["run_date"])[:10]) for r in p.log_rows()] == [("running", DAY)]

    retried = fabgen(p, "run", "--retry", "--execution-id", "logged")
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert f"run date {DAY} (from the log of the retried execution), UTC" in retried.stdout, retried.stdout
    assert {str(r["run_date"])[:10] for r in p.log_rows()} == {DAY}  # never today
    check_incremental(p, "inc", p.source_ids(), "after the retry")
    check_clean(p, "after the retry")


def test_a_plain_run_header_names_todays_date() -> None:
    """Without --run-date the header shows the date itself, not the word 'today' alone."""
    from fabgen.local_run import resolved_run_date

    day, origin = resolved_run_date(None, None, False, "x", "UTC")
    assert len(day) == 10 and day[4] == "-" and origin == " (today)"
    assert resolved_run_date(None, DAY, True, "x", "UTC") == (DAY, "")


@pytest.mark.parametrize("then", ["next run", "fabgen recover"])
def test_a_run_killed_after_its_first_log_commit_is_closed_as_abandoned(
    tmp_path, local_platform, then
) -> None:
    """Killed with its row ``running`` and nothing staged yet: the next plain run (another execution)
    or ``fabgen recover`` closes the row as ``error``, not only a retry of its execution."""
    p = project(tmp_path, local_platform)
    p.add_rows(1, 10)
    killed = fabgen(p, "run", "--run-date", DAY, "--execution-id", "gone", kill_at="after_log")
    assert killed.returncode == -9, killed.stdout + killed.stderr
    assert [r["export_state"] for r in p.log_rows()] == ["running"]
    assert p.staging_files(), "the killed run's staging folder (run.json) is written before its log row"

    if then == "next run":
        done = fabgen(p, "run", "--run-date", DAY, "--execution-id", "next")
    else:
        done = fabgen(p, "recover")
    assert done.returncode == 0, done.stdout + done.stderr
    gone = [r for r in p.log_rows() if r["master_execution_id"] == "gone"]
    assert [(r["export_state"], r["error_type"]) for r in gone] == [("error", "Abandoned")], gone
    assert "abandoned" in str(gone[0]["error_message"])
    if then == "fabgen recover":
        assert p.data_files("inc") == {}  # recover publishes nothing of a run that staged nothing
        assert fabgen(p, "run", "--run-date", DAY).returncode == 0
    check_incremental(p, "inc", p.source_ids(), f"after the {then}")
    check_clean(p, f"after the {then}")
