"""Runs whose own bookkeeping was lost under them (issue #24 items 3 and 4), on the Python engine (no JVM).

A split incremental export is SIGKILLed after two of its four parts were renamed into place, then its
journal disappears. Without the journal the run must not be taken as "never published" (the next run
would export those rows again): its ``run.json`` lists the planned moves, so recovery sees that files
left staging and refuses (``RecoveryFailed``, staging kept, watermark unmoved) until someone looks.
And when the watermark table loses the commit that stored a run's watermark, the next run stores the
log's value again (with a warning) rather than exporting those rows twice.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from kill_checks import GROUP, check_clean, duplicates, summary
from kill_support import inc_export, new_project
from python_kill_support import PythonKillProject

pytestmark = [pytest.mark.slow]


def project(tmp_path: Path, local_platform) -> PythonKillProject:
    workspace = f"lost_{uuid.uuid4().hex[:8]}"
    split = inc_export(workspace, max_rows_per_file=3)  # 10 rows: four parts
    built = new_project(
        tmp_path / workspace, workspace, None, local_platform, [split], 1, kind=PythonKillProject
    )
    assert isinstance(built, PythonKillProject)
    return built


def check_split_published_once(p: PythonKillProject, when: str, parts: int | None = 4) -> None:
    """Every source id in exactly one published part, the parts with one trigger, the watermark at the top."""
    files = p.data_files("inc")
    assert not duplicates(files), f"{when}: ids in two files: {duplicates(files)}"
    assert sorted(i for ids in files.values() for i in ids) == p.source_ids(), f"{when}: {files}"
    if parts is not None:
        assert len(files) == parts and len(p.triggers("inc")) == 1, (
            f"{when}: {sorted(files)} {p.triggers('inc')}"
        )
    assert p.stored_watermark("inc") == str(max(p.source_ids())), when
    check_clean(p, when)


def test_a_partial_publish_whose_journal_was_lost_is_not_exported_again(tmp_path, local_platform) -> None:
    p = project(tmp_path, local_platform)
    p.add_rows(1, 10)
    killed = p.run_child("--execution-id", "lost", kill_at="after_rename_2@inc")
    assert killed.returncode == -9, killed.tail()
    published = p.data_files("inc")
    assert len(published) == 2, published  # two parts in place, no trigger
    journals = [f for f in p.staging_files() if f.split("/")[-1].startswith("journal.json")]
    assert journals, p.staging_files()
    staging_root = p.files_dir("_fabgen_staging")
    for name in journals:
        (staging_root / name).unlink()  # the journal is lost

    blocked = p.run_in_process(execution_id="next")
    entry = blocked["results"][0]
    assert (entry["status"], entry["error_type"]) == ("error", "RecoveryFailed"), summary(blocked)
    assert "journal is missing" in entry["error"] and "staging is kept" in entry["error"], entry["error"]
    assert p.data_files("inc") == published  # nothing exported again: no id twice
    assert p.stored_watermark("inc") in (None, "0")  # unmoved
    assert any(f.endswith("run.json") for f in p.staging_files())  # kept for whoever looks

    # Someone checks the two parts and takes over: the parts go (their rows will be exported again),
    # the staging folder goes, and the next run exports every row once.
    for name in published:
        (p.target("inc") / name).unlink()
    for path in sorted(staging_root.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    settled = p.run_in_process(execution_id="after")
    assert settled["success"], summary(settled)
    check_split_published_once(p, "after the lost journal was dealt with")


def test_a_run_whose_journal_was_lost_before_any_file_moved_is_swept(tmp_path, local_platform) -> None:
    """Killed right after its journal (nothing moved): without the journal it is safely unpublished."""
    p = project(tmp_path, local_platform)
    p.add_rows(1, 10)
    killed = p.run_child("--execution-id", "early", kill_at="after_journal@inc")
    assert killed.returncode == -9, killed.tail()
    staging_root = p.files_dir("_fabgen_staging")
    for path in staging_root.rglob("journal.json*"):
        path.unlink()
    settled = p.run_in_process(execution_id="next")
    assert settled["success"], summary(settled)
    check_split_published_once(p, f"after the sweep ({GROUP}/inc)")


def test_a_lost_watermark_commit_is_repaired_not_exported_again(tmp_path, local_platform) -> None:
    """The watermark table loses its newest commit (the one that stored run 2's watermark): the next
    run finds the log's latest success ahead of the stored value, stores it again with a warning
    naming both values, and exports only the new rows."""
    p = project(tmp_path, local_platform)
    p.add_rows(1, 10)
    assert p.run_in_process(execution_id="one")["success"]
    p.add_rows(11, 20)
    assert p.run_in_process(execution_id="two")["success"]
    assert p.stored_watermark("inc") == "20"
    log_dir = Path(p.state_path("log_resource_export_watermark")) / "_delta_log"
    newest = max(log_dir.glob("*.json"))
    newest.unlink()  # the commit that stored "20" (and released the lease) is lost
    assert p.stored_watermark("inc") == "10"

    p.add_rows(21, 25)
    third = p.run_in_process(execution_id="three")
    assert third["success"], summary(third)
    assert "the stored watermark '10'" in third["output"] and "behind '20'" in third["output"], third[
        "output"
    ]
    check_split_published_once(p, "after the repaired watermark", parts=None)
    assert p.stored_watermark("inc") == "25"
