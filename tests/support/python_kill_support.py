"""The kill project of ``kill_support`` on the Python engine: delta-rs for tables, child processes
without a JVM (``python_child.py``), so the same checks run against the same scenario."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml
from fabgen_runtime import platform
from kill_checks import CONFIG_LAKEHOUSE, GROUP, RUN_DATE, SOURCE, check_after_kill, check_settled, summary
from kill_support import (
    FABGEN,
    KILL_POINTS,
    KillProject,
    full_export,
    inc_export,
    kill_after_each_baseline,
    new_project,
)

CHILD = Path(__file__).with_name("python_child.py")


class PythonKillProject(KillProject):
    """A :class:`KillProject` whose tables are read and written with delta-rs and whose runs are
    Python-engine processes (``spark`` is None)."""

    def _write(self, first: int, last: int, mode: str) -> None:
        from deltalake import write_deltalake

        ids = list(range(first, max(first, last + 1)))
        table = pa.table({"id": pa.array(ids, pa.int64()), "name": [f"item {i}" for i in ids]})
        write_deltalake(self.source_path, table, mode=mode)  # type: ignore[arg-type]

    def source_ids(self) -> list[int]:
        from deltalake import DeltaTable

        return sorted(DeltaTable(self.source_path).to_pyarrow_table(columns=["id"]).column("id").to_pylist())

    def _table_rows(self, table: str) -> list[dict[str, Any]]:
        from deltalake import DeltaTable

        path = self.state_path(table)
        if not Path(path, "_delta_log").is_dir():
            return []
        rows: list[dict[str, Any]] = DeltaTable(path).to_pyarrow_table().to_pylist()
        return rows

    def child_args(self, run_date: str, execution_id: str | None, retry: bool) -> list[str]:
        args = [sys.executable, str(CHILD), str(self.root), str(self.local.onelake_root), run_date]
        if execution_id:
            args.append(execution_id)
            if retry:
                args.append("retry")
        return args

    def start_child(self, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """A Python-engine run in a child process (``extra``: ``--execution-id X`` / ``--retry``);
        ``run_child`` and the kill matrix start runs through it."""
        execution_id = extra[extra.index("--execution-id") + 1] if "--execution-id" in extra else None
        return subprocess.Popen(
            self.child_args(RUN_DATE, execution_id, "--retry" in extra),
            cwd=self.root,
            env=env or self.child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def run_in_process(
        self,
        execution_id: str | None = None,
        retry: bool = False,
        run_date: str = RUN_DATE,
        export: str | None = None,
        **env: str,
    ) -> dict[str, Any]:
        """A Python-engine run to its end (a child process: it must not import pyspark; ``env``
        adds to its environment)."""
        assert export is None, "python runs cover every export of the project"
        proc = subprocess.run(
            self.child_args(run_date, execution_id, retry),
            cwd=self.root,
            env=self.child_env(**env),
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, (
            f"python-engine run failed (exit {proc.returncode}):\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
        result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        result["output"] = proc.stderr
        assert result["jvm_modules"] == [], result["jvm_modules"]
        return result


def cli_project(root: Path, workspace: str, local: Any, exports: list[dict[str, Any]]) -> PythonKillProject:
    """A :class:`PythonKillProject` whose ``fabgen.yaml`` says ``engine: python`` (so the ``fabgen`` CLI
    runs it without a JVM; :func:`fabgen_cli`), one export at a time."""
    project = new_project(root / workspace, workspace, None, local, exports, 1, kind=PythonKillProject)
    assert isinstance(project, PythonKillProject)
    settings = yaml.safe_load((project.root / "fabgen.yaml").read_text())
    settings["defaults"]["engine"] = "python"
    (project.root / "fabgen.yaml").write_text(yaml.safe_dump(settings))
    return project


def fabgen_cli(
    p: PythonKillProject, command: str, *args: str, kill_at: str | None = None, before: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """``fabgen [before] <command> -p <project> -g kill [args]`` (``kill_at``: SIGKILL at that failpoint)."""
    env = p.child_env(**({"FABGEN_KILL_AT": kill_at} if kill_at else {}))
    line = [str(FABGEN), *before, command, "-p", str(p.root), "-g", GROUP, *args]
    return subprocess.run(line, env=env, capture_output=True, text=True, check=False, cwd=p.root, timeout=300)


STANDIN = Path(__file__).resolve().parent / "fabric_standin"


class FabricPythonKillProject(PythonKillProject):
    """The same project on the Python engine's Fabric branch: runs import the stand-in's
    ``notebookutils`` (so the runtime picks ``FabricPlatform`` and ``NotebookFileStore``), tables are
    OneLake ``abfss://`` URIs that delta-rs reaches in Azurite (``azurite.py``), and files are the
    stand-in's local OneLake folder, which is this project's ``local`` root (so the file checks are
    the local ones). Set :attr:`azurite` before use."""

    azurite: Any = None

    @property
    def fabric(self) -> Any:
        from fabgen_runtime.platform import FabricPlatform

        return FabricPlatform()

    @property
    def source_path(self) -> str:
        return platform.table_uri(self.fabric, self.workspace, *SOURCE)

    def state_path(self, table: str) -> str:
        return platform.table_uri(self.fabric, self.workspace, CONFIG_LAKEHOUSE, "dbo", table)

    def _write(self, first: int, last: int, mode: str) -> None:
        from deltalake import write_deltalake

        ids = list(range(first, max(first, last + 1)))
        table = pa.table({"id": pa.array(ids, pa.int64()), "name": [f"item {i}" for i in ids]})
        write_deltalake(self.source_path, table, mode=mode, storage_options=self.azurite.storage_options())  # type: ignore[arg-type]

    def source_ids(self) -> list[int]:
        from deltalake import DeltaTable

        table = DeltaTable(self.source_path, storage_options=self.azurite.storage_options())
        return sorted(table.to_pyarrow_table(columns=["id"]).column("id").to_pylist())

    def _table_rows(self, table: str) -> list[dict[str, Any]]:
        from deltalake import DeltaTable

        path, options = self.state_path(table), self.azurite.storage_options()
        if not DeltaTable.is_deltatable(path, storage_options=options):
            return []
        rows: list[dict[str, Any]] = DeltaTable(path, storage_options=options).to_pyarrow_table().to_pylist()
        return rows

    def child_env(self, **extra: str) -> dict[str, str]:
        env = super().child_env()
        env.pop("FABGEN_PLATFORM", None)
        env.update(self.azurite.env())
        env.update(
            PYTHONPATH=os.pathsep.join(p for p in (str(STANDIN), env.get("PYTHONPATH", "")) if p),
            FABRIC_STANDIN_ONELAKE=str(self.local.onelake_root),
            FABGEN_CHILD_PLATFORM="fabric",
        )
        env.update(extra)
        return env


def gz_export(workspace: str) -> dict[str, Any]:
    """An incremental export to one gzip csv per run date."""
    return inc_export(workspace, "gz", compression="gzip", target_filename_pattern="gz_{run_date:%Y%m%d}.csv")


def parquet_export(workspace: str) -> dict[str, Any]:
    """A full export to one snappy parquet file per run date."""
    return full_export(
        workspace,
        "pq",
        max_rows=None,
        file_format="parquet",
        compression="snappy",
        target_filename_pattern="pq_{run_date:%Y%m%d}.parquet",
        file_format_options={},
    )


def check_first_gz_run_logged(p: PythonKillProject) -> None:
    """After a first run of :func:`gz_export` over ids 1-10: its log row is final and names the read."""
    rows = {r["export_name"]: r for r in p.log_rows()}
    assert rows["gz"]["export_state"] == "success" and rows["gz"]["rows_exported"] == 10
    assert rows["gz"]["source_version"] == "dbo.items@0"


def check_next_day_exports_only_new_rows(p: PythonKillProject) -> None:
    """Ids 11-15 added, the next day's run of :func:`gz_export` writes just those; watermark 15."""
    p.add_rows(11, 15)
    second = p.run_in_process(run_date="2025-06-02")
    assert second["success"], summary(second)
    newest = gzip.decompress((p.target("gz") / "gz_20250602.csv.gz").read_bytes()).decode().splitlines()
    assert [int(x.split(",")[0]) for x in newest[1:]] == list(range(11, 16))  # only the new rows
    assert p.stored_watermark("gz") == "15"


Killed = tuple[PythonKillProject, str, int, str]  # project, execution id, child's exit code, its output


def kill_at_each_point(
    make: Callable[[str], PythonKillProject], points: list[tuple[str, str]] = KILL_POINTS
) -> dict[str, Killed]:
    """For each of ``points`` (default ``KILL_POINTS``): a project (``make(point)``) with ids 1-10
    exported by a baseline run, ids 11-20 added, and a Python-engine run of both exports SIGKILLed
    at the point (``kill_support.kill_after_each_baseline``: each child starts as soon as its
    baseline is done)."""

    def baseline(point: str) -> PythonKillProject:
        p = make(point)
        p.add_rows(1, 10)
        first = p.run_in_process()
        assert first["success"], summary(first)
        p.add_rows(11, 20)
        return p

    runs = kill_after_each_baseline(points, baseline)
    return {
        point: (project, f"kill-{point}", child.returncode, child.tail())
        for point, (project, child) in runs.items()
    }


def check_killed_run_recovers(killed: Killed, point: str, export: str) -> None:
    """The killed run left nothing half-published; its retry, then a next run, settle every row once."""
    p, execution_id, returncode, tail = killed
    assert returncode == -9, f"not SIGKILLed at {point}@{export} (exit {returncode}):\n{tail}"
    check_after_kill(p, f"after the kill at {point}")

    retry = p.run_in_process(execution_id=execution_id, retry=True)
    assert retry["success"], f"retry failed: {summary(retry)}\n{retry['output'][-3000:]}"
    check_settled(p, p.source_ids(), f"after the retry of the kill at {point}")

    p.add_rows(21, 30)
    after = p.run_in_process()
    assert after["success"], f"next run failed: {summary(after)}"
    check_settled(p, p.source_ids(), f"after the next run (kill at {point})")
    assert p.stored_watermark("inc") == "30"
    assert {r["export_group_name"] for r in p.log_rows()} == {GROUP}
