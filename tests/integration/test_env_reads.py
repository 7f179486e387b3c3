"""``--env E`` (issue #28): ``status``, ``history``, ``report`` and ``verify`` read a workspace's state
tables and files over OneLake with delta-rs, and ``local load --env E --limit N`` samples a workspace's
table into the local OneLake. No JVM.

The workspace is Azurite (tests/support/azurite.py): a python group's runs on the Fabric branch
(``FabricPythonKillProject``: the stand-in's ``notebookutils``) write the log and watermark tables
there through delta-rs, and the published files (the stand-in keeps them in a local folder) are
uploaded beside them. The CLI then reads it as a user would: a project whose rows use dev names, an
environment mapping them to the workspace, and deploy's OneLake settings (``FABGEN_ONELAKE_URL``,
``FABGEN_ONELAKE_TOKEN``); delta-rs takes ``AZURE_ALLOW_INVALID_CERTIFICATES`` for Azurite's
self-signed certificate. The CLI's children get ``JAVA_HOME`` pointing nowhere, so a JVM could not
start, and none of the emulator variables the runtime's own tests use.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import azurite
import pyarrow as pa
import pytest
import yaml
from kill_checks import GROUP, RUN_DATE
from kill_support import FABGEN, full_export, inc_export, new_project
from python_kill_support import FabricPythonKillProject

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not FABGEN.exists(), reason="needs the fabgen CLI (not in the Python-notebook venv)"),
]

DEV = "DEV_WS"
ENV = "test"
EMULATOR_ONLY = ("AZURE_STORAGE_USE_EMULATOR", "AZURITE_BLOB_STORAGE_URL", "FABRIC_STANDIN_TOKEN")


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[azurite.Azurite]:
    """Azurite, with this process's delta-rs pointed at it (the Fabric branch's source tables)."""
    with azurite.pointed_at(tmp_path_factory.mktemp("azurite")) as running:
        yield running


@dataclass
class Deployed:
    """The workspace in Azurite (container ``workspace``) and a CLI project whose env ``test`` maps to it."""

    runs: FabricPythonKillProject
    workspace: str
    cli: Path
    emulator: azurite.Azurite

    def fabgen(self, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in (*EMULATOR_ONLY, "FABGEN_ONELAKE_ROOT")}
        env.update(
            FABGEN_ONELAKE_URL=f"{self.emulator.url}/{azurite.ACCOUNT}",
            FABGEN_ONELAKE_TOKEN=self.emulator.token,
            AZURE_ALLOW_INVALID_CERTIFICATES="true",
            JAVA_HOME="/nonexistent-jvm",  # a JVM cannot start: --env reads with delta-rs only
        )
        env.update(extra_env or {})
        return subprocess.run(
            [str(FABGEN), *args], cwd=self.cli, env=env, capture_output=True, text=True, timeout=300
        )

    def files_prefix(self) -> str:
        return "lh_out.Lakehouse/Files"

    def upload_files(self) -> int:
        """The published files (the stand-in's local folder) into the workspace's ``lh_out``."""
        return self.emulator.upload_tree(self.runs.files_dir(), self.workspace, self.files_prefix())


def cli_project(root: Path, runs: FabricPythonKillProject, workspace: str) -> Path:
    """The runs' project with dev names (workspace ``DEV_WS``) and environment ``test`` mapping them."""
    root.mkdir(parents=True)
    settings = yaml.safe_load((runs.root / "fabgen.yaml").read_text())
    settings["config_lakehouse"]["workspace"] = DEV
    settings["defaults"]["engine"] = "spark"  # --env reads with delta-rs whatever the group's engine
    settings["environments"] = {ENV: {"workspaces": {DEV: {"name": workspace}}}}
    (root / "fabgen.yaml").write_text(yaml.safe_dump(settings))
    rows = yaml.safe_load((runs.root / "exports" / "kill.yaml").read_text())["exports"]
    for row in rows:
        row["source_workspace"] = row["target_workspace"] = DEV
    (root / "exports").mkdir()
    (root / "exports" / "kill.yaml").write_text(yaml.safe_dump({"exports": rows}))
    return root


@pytest.fixture(scope="module")
def deployed(tmp_path_factory, local_platform, emulator) -> Deployed:
    """Two runs of RUN_DATE on the Fabric branch (ids 1-10, then 1-20: the full export re-publishes,
    the incremental one adds a file), their files uploaded to the workspace."""
    workspace = f"envread-{uuid.uuid4().hex[:8]}"  # a container name: lowercase, digits, '-'
    emulator.create_container(workspace)
    base = tmp_path_factory.mktemp("env_reads")
    exports = [inc_export(workspace), full_export(workspace)]
    runs = new_project(
        base / "runs", workspace, None, local_platform, exports, 2, kind=FabricPythonKillProject
    )
    assert isinstance(runs, FabricPythonKillProject)
    runs.azurite = emulator
    runs.add_rows(1, 10)
    assert runs.run_in_process()["success"]
    runs.add_rows(11, 20)
    assert runs.run_in_process()["success"]
    done = Deployed(runs, workspace, cli_project(base / "cli", runs, workspace), emulator)
    assert done.upload_files() >= 8  # 4 data files, 3 triggers... and the manifests and owner records
    return done


def test_status_reads_the_workspace_log_over_onelake(deployed: Deployed) -> None:
    done = deployed.fabgen("status", "-g", GROUP, "--env", ENV, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads(done.stdout)
    assert document["env"] == ENV and document["log_table_exists"] is True
    host = "onelake.dfs.fabric.microsoft.com"
    assert document["log_table"] == (
        f"abfss://{deployed.workspace}@{host}/lh_config.Lakehouse/Tables/dbo/log_resource_export"
    )
    exports = {e["export_name"]: e for e in document["exports"]}
    assert exports["inc"]["export_state"] == "success" and exports["inc"]["rows_exported"] == 10
    assert exports["inc"]["stored_watermark_value"] == "20"
    assert exports["full"]["rows_exported"] == 20 and exports["full"]["files_created"] == 3
    assert exports["full"]["run_date"] == date.fromisoformat(RUN_DATE).isoformat()
    text = deployed.fabgen("status", "-g", GROUP, "-e", ENV)
    assert text.returncode == 0, text.stderr
    assert f"latest state of {GROUP} (log: abfss://{deployed.workspace}@" in text.stdout


def test_history_lists_the_workspace_runs_newest_first(deployed: Deployed) -> None:
    done = deployed.fabgen("history", "-x", "inc", "--env", ENV, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    runs = json.loads(done.stdout)["runs"]
    assert [r["rows_exported"] for r in runs] == [10, 10]  # ids 11-20, then 1-10
    assert [r["new_watermark_value"] for r in runs] == ["20", "10"]
    assert all(r["export_state"] == "success" for r in runs)


def test_report_draws_the_workspace_runs(deployed: Deployed, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    done = deployed.fabgen("report", "-g", GROUP, "--env", ENV, "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == str(out)
    assert f"report of {GROUP}: 4 export run(s) in 2 execution(s)" in done.stderr
    page = out.read_text()
    assert "<svg" in page and "inc" in page and "full" in page
    assert f"abfss://{deployed.workspace}@onelake.dfs.fabric.microsoft.com/lh_config.Lakehouse" in page


def test_an_unknown_environment_is_refused_naming_the_known_ones(deployed: Deployed) -> None:
    done = deployed.fabgen("status", "-g", GROUP, "--env", "prod")
    assert done.returncode == 2
    assert "no environment 'prod' (known: test)" in done.stderr


def test_verify_checks_the_workspace_files_then_finds_a_missing_a_changed_and_a_foreign_one(
    deployed: Deployed,
) -> None:
    done = deployed.fabgen("verify", "-g", GROUP, "--env", ENV, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads(done.stdout)
    assert document["ok"] and document["env"] == ENV and document["unknown"] == []
    by_export = {e["export"]: e for e in document["exports"]}
    assert by_export["kill/inc"]["files_ok"] == 4  # two runs: a file and a trigger each
    assert by_export["kill/full"]["manifests"] == 2 and by_export["kill/full"]["files_ok"] == 4

    runs, prefix = deployed.runs, deployed.files_prefix()
    missing = sorted(runs.data_files("inc"))[0]
    deployed.emulator.delete_file(deployed.workspace, f"{prefix}/kill/inc/{missing}")
    changed = sorted(runs.data_files("full"))[0]
    data = bytearray((runs.target("full") / changed).read_bytes())
    data[-2] = ord("9") if data[-2] != ord("9") else ord("8")  # same size, other bytes
    deployed.emulator.put_file(deployed.workspace, f"{prefix}/kill/full/{changed}", bytes(data))
    deployed.emulator.put_file(deployed.workspace, f"{prefix}/kill/full/someone_elses.csv", b"x\n")
    try:
        found = deployed.fabgen("verify", "-g", GROUP, "--env", ENV)
        assert found.returncode == 1, found.stdout + found.stderr
        assert f"MISSING kill/inc/{missing}: published by run" in found.stdout, found.stdout
        assert f"CHANGED kill/full/{changed}: SHA-256 differs from the manifest" in found.stdout
        assert "UNKNOWN kill/full/someone_elses.csv: no owner record" in found.stdout
        assert "3 problem(s)" in found.stdout
        local = deployed.fabgen("verify", "-g", GROUP)  # without --env: the (empty) local OneLake
        assert "kill/inc: never published, ok" in local.stdout, local.stdout
    finally:
        deployed.emulator.delete_file(deployed.workspace, f"{prefix}/kill/full/someone_elses.csv")
        deployed.upload_files()  # the originals back, for any test after this one


def sample_source() -> pa.Table:
    """Nine rows over three partitions; a column name only column mapping allows, a decimal, a
    timestamp."""
    ids = list(range(1, 10))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "re gion": [f"region {i % 3}" for i in ids],
            "amount": pa.array([Decimal(i * 125) / 100 for i in ids], pa.decimal128(12, 2)),
            "seen_at": pa.array(
                [datetime(2025, 6, 1, 12, i, tzinfo=UTC) for i in ids], pa.timestamp("us", tz="UTC")
            ),
            "day": [f"2025-06-0{1 + i % 3}" for i in ids],
        }
    )


def test_local_load_samples_a_workspace_table_keeping_its_types_partitions_and_column_mapping(
    deployed: Deployed, emulator: azurite.Azurite
) -> None:
    from deltalake import DeltaTable, write_deltalake
    from fabgen_runtime.engines.python.sample import sample

    source = sample_source()
    host = "onelake.dfs.fabric.microsoft.com"
    remote = f"abfss://{deployed.workspace}@{host}/lh_src.Lakehouse/Tables/dbo/sampled"
    write_deltalake(
        remote,
        source,
        partition_by=["day"],
        configuration={"delta.columnMapping.mode": "name"},
        storage_options=emulator.storage_options(),
    )
    done = deployed.fabgen(
        "local", "load", "--env", ENV, "--limit", "4", "--table", f"{DEV}/lh_src/dbo.sampled"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        f"loaded 4 row(s), 5 column(s) into {DEV}/lh_src/dbo.sampled, partitioned by day, "
        "column mapping name (from test's version 0 of 9)"
    ) in done.stdout

    local = deployed.cli / ".onelake" / DEV / "lh_src.Lakehouse" / "Tables" / "dbo" / "sampled"
    table = DeltaTable(str(local))
    assert table.metadata().partition_columns == ["day"]
    assert table.metadata().configuration["delta.columnMapping.mode"] == "name"
    copied = sample(str(local), 100)
    assert copied.rows.schema.names == source.schema.names
    assert {f.name: str(f.type) for f in copied.rows.schema} == {f.name: str(f.type) for f in source.schema}
    rows = copied.rows.to_pylist()
    assert len(rows) == 4
    originals = {row["id"]: row for row in source.to_pylist()}
    assert all(row == originals[row["id"]] for row in rows)  # every value as in the workspace

    again = deployed.fabgen("local", "load", "-e", ENV, "-n", "2", "--table", f"{DEV}/lh_src/dbo.sampled")
    assert again.returncode == 2 and "add --replace" in again.stderr
    no_limit = deployed.fabgen("local", "load", "--env", ENV, "--table", f"{DEV}/lh_src/dbo.sampled")
    assert no_limit.returncode == 2 and "--env needs --limit N" in no_limit.stderr


def test_local_load_names_a_table_missing_from_the_workspace(deployed: Deployed) -> None:
    done = deployed.fabgen("local", "load", "--env", ENV, "-n", "5", "--table", f"{DEV}/lh_src/dbo.nothing")
    assert done.returncode == 1
    assert f"cannot read lakehouse table {DEV}/lh_src/dbo.nothing ({ENV}): no Delta table at abfss://" in (
        " ".join(done.stderr.split())
    )


def test_a_token_onelake_refuses_fails_naming_the_table(deployed: Deployed) -> None:
    expired = azurite.storage_token(lifetime=-3600)
    env_token = {"FABGEN_ONELAKE_TOKEN": expired}
    done = deployed.fabgen("status", "-g", GROUP, "--env", ENV, extra_env=env_token)
    assert done.returncode == 1, done.stdout + done.stderr
    message = " ".join(done.stderr.split())
    assert "Error: cannot reach the state table abfss://" in message
    assert "lh_config.Lakehouse/Tables/dbo/log_resource_export" in message
    assert "The token is expired" in message
