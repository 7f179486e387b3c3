"""What the CLI shows on real runs: a ``fabgen run`` child process without the JVM's start-up lines
(and one with ``--debug``, with them), one line per event, a retry command that works from another
folder, then ``status``, ``history``, ``plan`` and ``run`` with ``--json`` read back."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import shop_export, write_project
from click.testing import CliRunner
from fabgen.cli import main
from fabgen.jvm_output import is_startup_line
from fabgen_runtime import platform

pytestmark = pytest.mark.jvm

WS = "WS_CLI_OUTPUT"
CHILD_TIMEOUT = 900


@pytest.fixture(scope="module")
def project(tmp_path_factory, spark, local_platform) -> Path:
    root = tmp_path_factory.mktemp("cli_output") / "shop project"
    exports = [
        shop_export(
            WS,
            export_name="items",
            source_table="items",
            extract_type="incremental",
            incremental_column="id",
            target_path="items",
            target_filename_pattern="items_{run_id}.csv",
        ),
        shop_export(
            WS,
            export_name="late",
            source_table="late_items",
            target_path="late",
            target_filename_pattern="late_{run_date:%Y%m%d}.csv",
        ),
        shop_export(
            WS,
            export_name="old",
            source_table="items",
            is_active=False,
            target_path="old",
            target_filename_pattern="old.csv",
        ),
    ]
    write_project(root, "shop", WS, exports)
    items = platform.table_uri(local_platform, WS, "lh_src", "dbo", "items")
    spark.sql("SELECT id, concat('item ', id) AS name FROM range(1, 6)").write.format("delta").save(items)
    return root


def fabgen_child(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """``fabgen ARGS`` as a child process (its own JVM), in ``cwd``."""
    command = [sys.executable, "-c", "from fabgen.cli import main; main()", *args]
    return subprocess.Popen(
        command, cwd=cwd, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(child: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out, err = child.communicate(timeout=CHILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        child.kill()
        out, err = child.communicate()
        pytest.fail(f"fabgen outlived {CHILD_TIMEOUT}s:\n{out}\n{err}")
    return child.returncode, out, err


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_a_run_shows_each_event_once_without_jvm_noise_and_its_retry_works_from_another_folder(
    project, spark, local_platform, tmp_path, monkeypatch
) -> None:
    # Two child processes at once: the plain run (one export fails: its table is missing), and a
    # --debug command whose JVM start-up lines must still show.
    run = fabgen_child("run", "-p", str(project), "-g", "shop", "--run-date", "2025-06-01", cwd=tmp_path)
    debug = fabgen_child("--debug", "config", "push", "-p", str(project), cwd=tmp_path)
    code, out, err = finish(run)
    debug_code, debug_out, debug_err = finish(debug)

    assert code == 1, out + err
    noise = [line for line in (out + err).splitlines() if is_startup_line(line)]
    assert noise == [], noise
    assert "Using Spark's default log4j profile" in debug_err and debug_code == 0, debug_out + debug_err
    assert any(is_startup_line(line) for line in debug_err.splitlines())

    assert "running 2 export(s) of shop (3 export(s), 2 active;" in out
    assert out.count("shop/items: finished success, 5 rows") == 1
    assert out.count("shop/late: finished error") == 1
    assert "shop/late failed" not in err and "late_items" not in err  # the error is shown once, in out
    assert "\x1b[" not in out  # not a terminal: plain lines, no live status line

    retry = next(line for line in out.splitlines() if line.startswith("retry: "))
    args = shlex.split(retry.removeprefix("retry: "))
    assert args[:2] == ["fabgen", "run"] and Path(args[args.index("-p") + 1]) == project.resolve()

    # The missing table appears; the printed command, run from an unrelated folder, finishes the job.
    late = platform.table_uri(local_platform, WS, "lh_src", "dbo", "late_items")
    spark.sql("SELECT id FROM range(3)").write.format("delta").save(late)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    retried = invoke(*args[1:])
    assert retried.exit_code == 0, retried.output
    assert "1 of 1 export(s) succeeded" in retried.output
    files = Path(platform.files_uri(local_platform, WS, "lh_out", "late"))
    header, *ids = (files / "late_20250601.csv").read_text().splitlines()
    assert header == "id" and sorted(ids) == ["0", "1", "2"]


def test_status_history_and_json_read_back_what_the_runs_logged(project) -> None:
    status = invoke("status", "-p", str(project), "-g", "shop", "--json")
    assert status.exit_code == 0, status.output
    document = json.loads(status.stdout)
    assert document["command"] == "status" and document["log_table_exists"] is True
    exports = {e["export_name"]: e for e in document["exports"]}
    assert sorted(exports) == ["items", "late", "old"]
    assert exports["items"]["export_state"] == "success" and exports["items"]["rows_exported"] == 5
    assert exports["items"]["files_created"] == 1 and exports["items"]["stored_watermark_value"] == "5"
    assert exports["late"]["export_state"] == "success" and exports["late"]["is_retry"] is True
    assert exports["old"]["export_state"] is None and exports["old"]["is_active"] is False

    text = invoke("status", "-p", str(project), "-g", "shop").stdout.splitlines()
    assert text[0].startswith("latest state of shop (log: ")
    assert text[4].split()[:5] == ["items", "success", "5", "1", "5"]
    assert text[6].split()[:4] == ["old", "never", "run", "(inactive)"]

    history = json.loads(invoke("history", "-p", str(project), "-x", "late", "--json").stdout)
    runs = [(r["export_state"], r["is_retry"]) for r in history["runs"]]
    assert runs == [("success", True), ("error", False)]
    assert "late_items" in history["runs"][1]["error_message"]
    newest = invoke("history", "-p", str(project), "-x", "late", "-n", "1", "--json")
    assert len(json.loads(newest.stdout)["runs"]) == 1
    lines = invoke("history", "-p", str(project), "-x", "late").stdout.splitlines()
    assert lines[0] == "last 2 run(s) of shop/late, newest first" and "success (retry)" in lines[4]

    planned = invoke("plan", "-p", str(project), "-g", "shop", "--run-date", "2025-06-02", "--json")
    plan = json.loads(planned.stdout)
    entries = {e["export"]: e for e in plan["exports"]}
    assert (
        entries["shop/items"]["filters"] == ["`id` > 5 OR `id` IS NULL"]
        and entries["shop/items"]["watermark"] == "5"
    )
    assert entries["shop/late"]["output"].endswith("lh_out.Lakehouse/Files/late/late_20250602.csv")


def test_run_json_is_one_document_on_stdout_with_progress_on_stderr(project) -> None:
    result = invoke(
        "run", "-p", str(project), "-g", "shop", "-x", "late", "--run-date", "2025-06-03", "--json"
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["command"] == "run" and document["success"] is True and document["retry_command"] is None
    (only,) = document["runs"]
    assert only["run_date"] == "2025-06-03" and only["total_exports"] == 1
    outcome = [(r["export_name"], r["status"], r["rows_exported"]) for r in only["results"]]
    assert outcome == [("late", "success", 3)]
    assert "shop/late: finished success, 3 rows" in result.stderr
