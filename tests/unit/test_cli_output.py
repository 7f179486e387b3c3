"""What the CLI shows, without a JVM: start-up line filter, progress lines, retry command, counts,
``--json`` documents, and ``status``/``history`` before anything ran."""

from __future__ import annotations

import io
import json
import logging
import os
import shlex
import threading
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from config_rows import base
from fabgen.cli import main
from fabgen.jvm_output import _forward, is_startup_line
from fabgen.progress import Progress
from fabgen.run_report import RepeatedByProgress, dumps, retry_command
from fabgen.state_view import StateReport, format_table, status_lines
from fabgen_runtime.engines.spark import local_spark
from fabgen_runtime.export import ExportEvent, ExportResult

STARTUP = [
    "WARNING: Using incubator modules: jdk.incubator.vector",
    "26/11/30 19:27:48 WARN NativeCodeLoader: Unable to load native-hadoop library for your platform... "
    "using builtin-java classes where applicable",
    "Using Spark's default log4j profile: org/apache/spark/log4j2-defaults.properties",
    'Setting default log level to "WARN".',
    "To adjust logging level use sc.setLogLevel(newLevel). For SparkR, use setLogLevel(newLevel).",
]
REAL = [
    "26/11/30 19:30:01 ERROR Executor: Exception in task 0.0 in stage 1.0 (TID 1)",
    "java.lang.OutOfMemoryError: Java heap space",
    "WARNING: An illegal reflective access operation has occurred",
]


def test_only_the_known_startup_lines_count_as_startup_lines() -> None:
    assert all(is_startup_line(line) for line in STARTUP)
    assert not any(is_startup_line(line) for line in REAL)


def test_the_forwarder_drops_startup_lines_and_passes_the_rest_through_a_real_pipe() -> None:
    source_r, source_w = os.pipe()
    sink_r, sink_w = os.pipe()
    forwarder = threading.Thread(target=_forward, args=(source_r, sink_w))
    forwarder.start()
    text = "\n".join([STARTUP[0], REAL[0], STARTUP[1], STARTUP[2], REAL[1]]) + "\npartial tail"
    for start in range(0, len(text), 17):  # in small pieces: lines cut across reads still match
        os.write(source_w, text[start : start + 17].encode())
    os.close(source_w)
    forwarder.join(timeout=10)
    os.close(sink_w)
    with os.fdopen(sink_r, "rb") as sink:
        assert sink.read().decode() == f"{REAL[0]}\n{REAL[1]}\npartial tail"


def test_the_quiet_log4j2_file_is_written_once_and_startup_logs_are_opt_in(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FABGEN_JAR_CACHE", str(tmp_path / "jars"))
    path = local_spark.log4j2_config()
    assert path.parent == tmp_path and "rootLogger.level = warn" in path.read_text()
    assert "org.apache.hadoop.util.NativeCodeLoader" in path.read_text()
    path.write_text("changed")
    assert local_spark.log4j2_config().read_text() == local_spark.LOG4J2_PROPERTIES
    monkeypatch.delenv("FABGEN_SPARK_STARTUP_LOGS", raising=False)
    assert not local_spark.startup_logs_wanted()
    monkeypatch.setenv("FABGEN_SPARK_STARTUP_LOGS", "1")
    assert local_spark.startup_logs_wanted()


def _events() -> list[ExportEvent]:
    ok = ExportResult("g", "a", "success", rows_exported=5)
    bad = ExportResult("g", "b", "error", error="g/b: no table")
    return [
        ExportEvent("group_started", "", 1, detail="2 export(s)"),
        ExportEvent("started", "g/a", 1),
        ExportEvent("planned", "g/a", 1, detail="SELECT 1"),
        ExportEvent("written", "g/a", 1, detail="5 rows"),
        ExportEvent("finished", "g/a", 1, detail="success", result=ok),
        ExportEvent("started", "g/b", 1),
        ExportEvent("finished", "g/b", 1, detail="error", result=bad),
        ExportEvent("group_finished", "", 1),
        ExportEvent("skipped", "g/c", 2, detail="not run: execution group 1 failed"),
    ]


def test_progress_prints_one_line_per_shown_event_and_counts_done_and_rows() -> None:
    lines: list[str] = []
    progress = Progress(lines.append, total=3)
    with progress:
        for event in _events():
            progress(event)
    assert lines[0] == "execution group 1: 2 export(s)"
    assert [line.split("] ", 1)[1] for line in lines[1:]] == [
        "g/a: started",
        "g/a: written 5 rows",
        "g/a: finished success, 5 rows",
        "g/b: started",
        "g/b: finished error, 0 rows: no table",  # the error's own "g/b: " prefix is not repeated
        "g/c: skipped not run: execution group 1 failed",
    ]
    assert progress.status().startswith("3/3 export(s) done, 5 rows written, 00:0")


def test_live_progress_keeps_a_status_line_below_the_lines_and_clears_it_at_the_end() -> None:
    terminal = io.StringIO()
    progress = Progress(lambda line: terminal.write(line + "\n"), live=terminal, total=3)
    assert progress.status() == "starting Spark, 00:00 elapsed"
    with progress:
        for event in _events()[:5]:
            progress(event)
        shown = terminal.getvalue()
    assert "1/3 export(s) done, 5 rows written" in shown
    lines = [part.split("\r\x1b[2K")[-1] for part in terminal.getvalue().split("\n")]
    assert "  [" in lines[1] and lines[3].endswith("g/a: finished success, 5 rows")
    assert terminal.getvalue().endswith("\r\x1b[2K")  # no status text left behind


def test_runtime_records_the_progress_lines_repeat_are_filtered_and_others_pass() -> None:
    keep = RepeatedByProgress().filter

    def record(name: str, level: int, msg: str) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, msg, ("g/a", "boom"), None)

    assert not keep(record("fabgen_runtime.publish", logging.INFO, "%s: published %s"))
    assert not keep(record("fabgen_runtime.export", logging.ERROR, "%s failed: %s"))
    assert keep(record("fabgen_runtime.export", logging.WARNING, "%s: could not drop views: %s"))
    assert keep(record("fabgen_runtime.engines.spark.leases", logging.ERROR, "%s: lease lost to %s"))
    assert keep(record("fabgen", logging.INFO, "%s %s"))


def test_the_retry_command_names_the_project_and_the_options_that_chose_what_ran(tmp_path) -> None:
    root = tmp_path / "my project"
    command = retry_command(root, "sales", "exec-1", "daily orders", "Australia/Sydney", 3)
    assert shlex.split(command) == [
        "fabgen",
        "run",
        "-p",
        str(root.resolve()),
        "-g",
        "sales",
        "-x",
        "daily orders",
        "--timezone",
        "Australia/Sydney",
        "--max-concurrency",
        "3",
        "--retry",
        "--execution-id",
        "exec-1",
    ]
    assert shlex.split(retry_command(root, "g", "e"))[2:6] == ["-p", str(root.resolve()), "-g", "g"]


def test_json_documents_carry_a_version_and_plain_values() -> None:
    from datetime import UTC, date, datetime
    from decimal import Decimal

    text = dumps(
        {
            "command": "status",
            "at": datetime(2025, 1, 2, 3, 4, tzinfo=UTC),
            "day": date(2025, 1, 2),
            "n": Decimal("1.50"),
            "rows": [{"x": (1, 2)}],
        }
    )
    assert json.loads(text) == {
        "fabgen_json": 1,
        "command": "status",
        "at": "2025-01-02T03:04:00+00:00",
        "day": "2025-01-02",
        "n": "1.50",
        "rows": [{"x": [1, 2]}],
    }


# --------------------------------------------------------------------------- on a project


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "exports").mkdir(parents=True)
    (root / "fabgen.yaml").write_text(
        yaml.safe_dump({"name": "p", "config_lakehouse": {"workspace": "WS", "lakehouse": "lh_config"}})
    )
    common = base(
        export_group_name="g",
        source_workspace="WS",
        source_datastore="lh_src",
        source_table="items",
        target_workspace="WS",
        target_lakehouse="lh_out",
        target_path="g",
    )
    rows = [
        dict(common, export_name="a", target_filename_pattern="a.csv"),
        dict(common, export_name="b", target_filename_pattern="b.csv", is_active=False),
        dict(common, export_name="a", export_group_name="h", target_filename_pattern="ha.csv"),
    ]
    (root / "exports" / "e.yaml").write_text(yaml.safe_dump({"exports": rows}))
    return root


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_validate_says_how_many_exports_are_active(project) -> None:
    result = invoke("validate", "-p", str(project))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "OK: 3 export(s), 2 active, in 2 group(s): g, h"


def test_status_before_any_run_says_so_without_starting_spark(project, monkeypatch) -> None:
    from fabgen.jvm_output import QuietLocalPlatform

    def no_spark(_self: object) -> None:
        raise AssertionError("status started Spark although no log table exists")

    monkeypatch.delenv("FABGEN_ONELAKE_ROOT", raising=False)
    monkeypatch.setattr(QuietLocalPlatform, "spark", no_spark)
    result = invoke("status", "-p", str(project), "-g", "g")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("no runs logged yet: ")
    assert "log_resource_export does not exist" in result.stdout
    assert [line.split()[:4] for line in result.stdout.splitlines()[4:]] == [
        ["a", "never", "run", "-"],
        ["b", "never", "run", "(inactive)"],
    ]
    document = json.loads(invoke("status", "-p", str(project), "-g", "g", "--json").stdout)
    assert document["log_table_exists"] is False and document["command"] == "status"
    assert [(e["export_name"], e["export_state"], e["is_active"]) for e in document["exports"]] == [
        ("a", None, True),
        ("b", None, False),
    ]
    history = json.loads(invoke("history", "-p", str(project), "-g", "g", "-x", "a", "--json").stdout)
    assert history["runs"] == [] and history["export"] == "a"


def test_history_needs_a_group_when_the_export_name_is_ambiguous_or_unknown(project) -> None:
    ambiguous = invoke("history", "-p", str(project), "-x", "a")
    assert ambiguous.exit_code == 2 and "export 'a' is in groups g, h: choose one with -g" in ambiguous.stderr
    unknown = invoke("history", "-p", str(project), "-x", "zz")
    assert unknown.exit_code == 2 and "no export 'zz' in the project" in unknown.stderr
    assert invoke("status", "-p", str(project), "-g", "nope").exit_code == 2


def test_status_table_shows_state_rows_files_watermark_and_a_shortened_error() -> None:
    from datetime import datetime

    row = dict.fromkeys(("rows_exported", "files_created", "run_date", "completed_at"))
    rows = [
        dict(
            row,
            export_name="a",
            export_state="success",
            rows_exported=5,
            files_created=1,
            stored_watermark_value="42",
            completed_at=datetime(2025, 1, 2, 3, 4, 5),
            error_message=None,
        ),
        dict(
            row, export_name="b", export_state="error", stored_watermark_value=None, error_message="x " * 80
        ),
    ]
    lines = status_lines(StateReport("g", "/lh/log", True, rows))
    assert lines[2].split() == [
        "export",
        "state",
        "rows",
        "files",
        "watermark",
        "run",
        "date",
        "finished",
        "at",
        "error",
    ]
    assert lines[4].split()[:5] == ["a", "success", "5", "1", "42"] and "2025-01-02 03:04:05" in lines[4]
    assert lines[5].endswith("...") and len(lines[5].split("  ")[-1]) <= 60


def test_format_table_aligns_columns() -> None:
    assert format_table(("a", "n"), [("xyz", "1"), ("b", "100")], {1}) == [
        "a      n",
        "---  ---",
        "xyz    1",
        "b    100",
    ]


@pytest.mark.parametrize("command", ["run", "plan", "status", "history"])
def test_json_is_documented_in_the_help_of(command: str) -> None:
    result = invoke(command, "--help")
    assert result.exit_code == 0 and "--json" in result.stdout and "stdout" in result.stdout
