"""Shared pieces of the run-protocol tests: a tiny project and a killable child run (checks: kill_checks).

The tests build one small fabgen project per case in a tmp dir (its own workspace in the test
session's OneLake folder, so cases never see each other's tables or files), run ``fabgen run`` as a
child process (optionally with ``FABGEN_KILL_AT`` so it SIGKILLs itself at a named point), retry and
run again in-process on the session's warm Spark, and check what a consumer would see against the
source table: which ids are in which published file, triggers, staging, log rows and watermark.

Files are read back with the csv module; state tables with Spark's Delta reader.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from fabgen_runtime import platform
from kill_checks import (
    CONFIG_LAKEHOUSE,
    GROUP,
    RUN_DATE,
    SOURCE,
    STAGING,
    TARGET_LAKEHOUSE,
    csv_ids,
)
from run_support import csv_export_row

log = logging.getLogger(__name__)

#: (point, export it is armed for), for the kill matrix of either engine. The incremental export has
#: one file per run (named by run id); the full export is split into 2-4 files named per run date,
#: so a re-run replaces its own set.
KILL_POINTS = [
    ("after_read", "inc"),
    ("after_staging", "inc"),
    ("after_journal", "inc"),
    ("after_aside", "full"),
    ("after_rename_1", "full"),
    ("after_rename_2", "full"),
    ("after_trigger", "inc"),
    ("after_success_log", "inc"),
    ("before_watermark", "inc"),
    ("after_watermark", "inc"),
]


def selected_points(request: Any) -> list[tuple[str, str]]:
    """The ``KILL_POINTS`` whose tests in ``request``'s module this session runs.

    ``-k`` may pick a few (scripts/compat-python-notebook.sh runs 3): a module fixture then kills a
    child only at the points a test checks.
    """
    wanted = set()
    for item in request.session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if getattr(item, "module", None) is request.module and "point" in params:
            wanted.add(params["point"])
    return [(point, export) for point, export in KILL_POINTS if point in wanted]


FABGEN = Path(sys.executable).with_name("fabgen")
CHILD_TIMEOUT = float(os.environ.get("FABGEN_CHILD_TIMEOUT", "900"))  # a loaded machine is slow


# --------------------------------------------------------------------------- the project


def inc_export(workspace: str, name: str = "inc", **overrides: Any) -> dict[str, Any]:
    """An incremental csv export on ``id`` whose file and trigger names carry ``{run_id}``."""
    row = csv_export_row(
        GROUP,
        name,
        lakehouse_source(workspace),
        (workspace, TARGET_LAKEHOUSE),
        extract_type="incremental",
        incremental_column="id",
        incremental_initial_watermark="0",
        target_path=f"{GROUP}/{name}",
        target_filename_pattern=name + "_{run_id}.csv",
        trigger_file_pattern=name + "_{run_id}.done",
    )
    row.update(overrides)
    return row


def full_export(
    workspace: str, name: str = "full", max_rows: int | None = 8, **overrides: Any
) -> dict[str, Any]:
    """A full csv export split at ``max_rows`` rows per file, named per run date (a re-run replaces it)."""
    row = csv_export_row(
        GROUP,
        name,
        lakehouse_source(workspace),
        (workspace, TARGET_LAKEHOUSE),
        target_path=f"{GROUP}/{name}",
        target_filename_pattern=name + "_{run_date:%Y%m%d}.csv",
        trigger_file_pattern=name + "_{run_date:%Y%m%d}.done",
    )
    if max_rows:
        row["max_rows_per_file"] = max_rows
    row.update(overrides)
    return row


def lakehouse_source(workspace: str) -> dict[str, Any]:
    """The source_* fields of the items table in ``workspace``."""
    return dict(
        source_type="lakehouse",
        source_workspace=workspace,
        source_datastore=SOURCE[0],
        source_schema=SOURCE[1],
        source_table=SOURCE[2],
    )


@dataclass
class KillProject:
    """One tmp project: its folder, workspace, source table and the readers of its outputs."""

    root: Path
    workspace: str
    spark: Any
    local: Any
    exports: list[dict[str, Any]] = field(default_factory=list)

    # ----------------------------------------------------------------- source

    @property
    def source_path(self) -> str:
        return platform.table_uri(self.local, self.workspace, *SOURCE)

    def add_rows(self, first: int, last: int) -> None:
        """Append ids first..last (inclusive) to the source table."""
        self._write(first, last, "append")

    def replace_rows(self, first: int, last: int) -> None:
        """Replace the source table's rows with ids first..last (none when last < first)."""
        self._write(first, last, "overwrite")

    def _write(self, first: int, last: int, mode: str) -> None:
        df = self.spark.range(first, max(first, last + 1)).selectExpr("id", "concat('item ', id) AS name")
        df.write.format("delta").mode(mode).save(self.source_path)

    def source_ids(self) -> list[int]:
        rows = self.spark.read.format("delta").load(self.source_path).select("id").collect()
        return sorted(int(r["id"]) for r in rows)

    # ----------------------------------------------------------------- outputs

    def files_dir(self, relative: str = "") -> Path:
        return Path(platform.files_uri(self.local, self.workspace, TARGET_LAKEHOUSE, relative))

    def target(self, export: str) -> Path:
        return self.files_dir(f"{GROUP}/{export}")

    def data_files(self, export: str) -> dict[str, list[int]]:
        """``{file name: sorted ids}`` of every csv data file in the export's target directory."""
        folder = self.target(export)
        if not folder.is_dir():
            return {}
        return {p.name: sorted(csv_ids(p)) for p in sorted(folder.glob("*.csv"))}

    def triggers(self, export: str) -> list[str]:
        folder = self.target(export)
        return sorted(p.name for p in folder.glob("*.done")) if folder.is_dir() else []

    def staging_files(self) -> list[str]:
        """Every file left under ``Files/_fabgen_staging`` (relative paths)."""
        root = self.files_dir(STAGING)
        if not root.exists():
            return []
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

    # ----------------------------------------------------------------- state tables

    def state_path(self, table: str) -> str:
        return platform.table_uri(self.local, self.workspace, CONFIG_LAKEHOUSE, "dbo", table)

    def log_rows(self) -> list[dict[str, Any]]:
        return self._table_rows("log_resource_export")

    def watermark_rows(self) -> list[dict[str, Any]]:
        return self._table_rows("log_resource_export_watermark")

    def _table_rows(self, table: str) -> list[dict[str, Any]]:
        path = self.state_path(table)
        if not Path(path, "_delta_log").is_dir():
            return []
        return [r.asDict() for r in self.spark.read.format("delta").load(path).collect()]

    def stored_watermark(self, export: str) -> str | None:
        rows = [r for r in self.watermark_rows() if r["export_name"] == export]
        assert len(rows) <= 1, f"{len(rows)} watermark rows for {export}: {rows}"
        return rows[0]["watermark_value"] if rows else None

    def sql_update_watermark_row(self, export: str, assignments: str) -> None:
        """``UPDATE`` the export's watermark-table row by hand (``assignments``: trusted test SQL)."""
        path = self.state_path("log_resource_export_watermark")
        self.spark.sql(
            f"UPDATE delta.`{path}` SET {assignments} "
            f"WHERE export_group_name = '{GROUP}' AND export_name = '{export}'"
        )

    # ----------------------------------------------------------------- runs

    def child_env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "FABGEN_KILL_AT"}
        env.update(
            FABGEN_SPARK_DRIVER_MEMORY=os.environ.get("FABGEN_CHILD_DRIVER_MEMORY", "1g"),
            FABGEN_SHUFFLE_PARTITIONS="2",
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env

    def run_args(self, *extra: str, run_date: str = RUN_DATE) -> list[str]:
        return [str(FABGEN), "run", "-p", str(self.root), "-g", GROUP, "--run-date", run_date, *extra]

    def start_child(self, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start ``fabgen run`` on this project in a child process (its own JVM)."""
        return subprocess.Popen(
            self.run_args(*extra),
            cwd=self.root,
            env=env or self.child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def run_child(self, *extra: str, kill_at: str | None = None, **env: str) -> ChildRun:
        """Run ``fabgen run`` in a child process to its end (or its SIGKILL at ``kill_at``)."""
        child_env = self.child_env(**env)
        if kill_at:
            child_env["FABGEN_KILL_AT"] = kill_at
        started = time.monotonic()
        proc = self.start_child(*extra, env=child_env)
        output = finish(proc)
        done = ChildRun(proc.returncode, output, time.monotonic() - started)
        log.info("child fabgen run (kill at %s): rc %s in %.1fs", kill_at, done.returncode, done.seconds)
        return done

    def run_in_process(
        self,
        execution_id: str | None = None,
        retry: bool = False,
        run_date: str = RUN_DATE,
        export: str | None = None,
    ) -> dict[str, Any]:
        """``fabgen run`` (or ``--retry``) on the test session's warm Spark, as the CLI runs it."""
        from fabgen.local_run import run_project
        from fabgen.project import load_project

        lines: list[str] = []
        outcomes = run_project(
            load_project(self.root),
            GROUP,
            export=export,
            run_date=run_date,
            execution_id=execution_id,
            retry=retry,
            echo=lines.append,
        )
        result = dict(outcomes[-1].result)
        result["output"] = "\n".join(lines)
        return result


def finish(proc: subprocess.Popen[str], timeout: float = CHILD_TIMEOUT) -> str:
    """Wait for a child run and return its output; kill it (and fail) when it outlives ``timeout``."""
    try:
        return proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        output = proc.communicate()[0]
        raise AssertionError(
            f"child fabgen run still running after {timeout:.0f}s:\n{output[-3000:]}"
        ) from None


@dataclass(frozen=True)
class ChildRun:
    """The end of one child ``fabgen run``."""

    returncode: int
    output: str
    seconds: float

    def tail(self, chars: int = 3000) -> str:
        return self.output[-chars:]


P = TypeVar("P", bound="KillProject")


def kill_after_each_baseline(
    points: list[tuple[str, str]], baseline: Callable[[str], P], at_once: int | None = None
) -> dict[str, tuple[P, ChildRun]]:
    """The kill matrix's runs, for either engine: for each ``(point, export)``, ``baseline(point)``
    (in this process: a project whose baseline run is done and checked, rows 11-20 added), then its
    child run of execution ``kill-<point>`` armed to SIGKILL itself at ``point@export``. Each child
    starts as soon as its baseline is done and runs while the next baselines do (a thread reads it),
    at most ``at_once`` at a time (default: no limit)."""
    slots = threading.BoundedSemaphore(at_once or max(1, len(points)))

    def wait(child: subprocess.Popen[str], started: float) -> ChildRun:
        try:
            output = finish(child)
        finally:
            slots.release()
        return ChildRun(child.returncode, output, time.monotonic() - started)

    projects: dict[str, P] = {}
    waiting: dict[str, Future[ChildRun]] = {}
    with ThreadPoolExecutor(max_workers=max(1, len(points))) as pool:
        for point, export in points:
            projects[point] = project = baseline(point)
            slots.acquire()
            env = project.child_env(FABGEN_KILL_AT=f"{point}@{export}")
            child = project.start_child("--execution-id", f"kill-{point}", env=env)
            waiting[point] = pool.submit(wait, child, time.monotonic())
        return {point: (projects[point], future.result()) for point, future in waiting.items()}


def new_project(
    root: Path,
    workspace: str,
    spark: Any,
    local: Any,
    exports: list[dict[str, Any]],
    concurrency: int = 2,
    kind: type[KillProject] = KillProject,
) -> KillProject:
    """Write fabgen.yaml and ``exports/kill.yaml`` under ``root`` for ``exports``."""
    root.mkdir(parents=True, exist_ok=True)
    settings = {
        "name": "kill",
        "config_lakehouse": {"workspace": workspace, "lakehouse": CONFIG_LAKEHOUSE},
        "defaults": {"timezone": "UTC", "max_concurrency": concurrency},
    }
    (root / "fabgen.yaml").write_text(yaml.safe_dump(settings))
    (root / "exports").mkdir(exist_ok=True)
    (root / "exports" / "kill.yaml").write_text(yaml.safe_dump({"exports": exports}))
    return kind(root, workspace, spark, local, exports)
